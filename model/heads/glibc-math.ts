/**
 * The C library's expf and logf as onnxruntime calls them (std::exp and std::log on a float, in
 * ComputeLogistic, ComputeSoftmax and ErfInv), for bit-identical transforms. glibc's
 * (sysdeps/ieee754/flt-32/e_expf.c and e_logf.c, since 2.27) are not correctly rounded: expf's
 * error is up to 0.502 ulp (about one input in 1 500 rounds the other way from the exact exp),
 * logf's up to 0.818 ulp. These are their algorithms and tables, evaluated in double and rounded to
 * float once. On x86-64 with FMA glibc runs variants compiled with fused multiply-adds; those are
 * done exactly here whenever the plain double evaluation lands close enough to a float32 rounding
 * boundary for the difference to matter.
 */

const N = 32;
const SHIFT = 6755399441055744; // 0x1.8p+52
const INV_LN2_N = Math.LOG2E * N; // 0x1.71547652b82fep+0 * N
const C0 = 0.05550361559341535 / N / N / N; // 0x1.c6af84b912394p-5
const C1 = 0.2402284522445722 / N / N; // 0x1.ebfce50fac4f3p-3
const C2 = 0.6931471806916203 / N; // 0x1.62e42ff0c52d6p-1

/** 2^(j/32) for j = 0..31: the double glibc's table entry j makes (tab[j] + (j << 47)). */
const TWO_POW = (() => {
  const tab = [
    0x3ff0000000000000n,
    0x3fefd9b0d3158574n,
    0x3fefb5586cf9890fn,
    0x3fef9301d0125b51n,
    0x3fef72b83c7d517bn,
    0x3fef54873168b9aan,
    0x3fef387a6e756238n,
    0x3fef1e9df51fdee1n,
    0x3fef06fe0a31b715n,
    0x3feef1a7373aa9cbn,
    0x3feedea64c123422n,
    0x3feece086061892dn,
    0x3feebfdad5362a27n,
    0x3feeb42b569d4f82n,
    0x3feeab07dd485429n,
    0x3feea47eb03a5585n,
    0x3feea09e667f3bcdn,
    0x3fee9f75e8ec5f74n,
    0x3feea11473eb0187n,
    0x3feea589994cce13n,
    0x3feeace5422aa0dbn,
    0x3feeb737b0cdc5e5n,
    0x3feec49182a3f090n,
    0x3feed503b23e255dn,
    0x3feee89f995ad3adn,
    0x3feeff76f2fb5e47n,
    0x3fef199bdd85529cn,
    0x3fef3720dcef9069n,
    0x3fef5818dcfba487n,
    0x3fef7c97337b9b5fn,
    0x3fefa4afa2a490dan,
    0x3fefd0765b6e4540n,
  ];
  const view = new DataView(new ArrayBuffer(8));
  return tab.map((bits, j) => {
    view.setBigUint64(0, bits + (BigInt(j) << 47n));
    return view.getFloat64(0);
  });
})();

const view = new DataView(new ArrayBuffer(8));

/** x = m · 2^e with m an integer (x finite). */
function parts(x: number): [bigint, number] {
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const exponent = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (exponent !== 0) mantissa |= 1n << 52n;
  const m = hi >>> 31 ? -mantissa : mantissa;
  return [m, (exponent === 0 ? 1 : exponent) - 1075];
}

/** fma(a, b, c) in double, exactly rounded: a·b + c computed as an integer times a power of two. */
export function fma64(a: number, b: number, c: number): number {
  const [ma, ea] = parts(a);
  const [mb, eb] = parts(b);
  const [mc, ec] = parts(c);
  const ep = ea + eb;
  const e = Math.min(ep, ec);
  const sum = ma * mb * (1n << BigInt(ep - e)) + mc * (1n << BigInt(ec - e));
  // Number(bigint) rounds to nearest, ties to even; the power of two is then exact (no underflow here).
  return Number(sum) * 2 ** e;
}

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/**
 * Whether the float32 rounding of values within `slack` of y (default: a few double ulps of y)
 * could differ from fround(y).
 */
function nearBoundary(y: number, slack = Math.abs(y) * 2 ** -48): boolean {
  const r = Math.fround(y);
  if (r === 0 || !Number.isFinite(r)) return true;
  f32[0] = r;
  const bits = i32[0];
  i32[0] = bits + 1;
  const up = f32[0];
  i32[0] = bits - 1;
  const down = f32[0];
  return Math.abs(y - (r + up) / 2) <= slack || Math.abs(y - (r + down) / 2) <= slack;
}

/** glibc's expf(x) for a float32 x, as a float32 value. */
export function expf(x: number): number {
  const abs = Math.abs(x);
  if (!(abs < 88)) {
    if (x === Number.NEGATIVE_INFINITY) return 0;
    if (Number.isNaN(x) || x === Number.POSITIVE_INFINITY) return x + x;
    if (x > 88.72283172607422) return Number.POSITIVE_INFINITY; // 0x1.62e42ep6f
    if (x < -103.97207641601562) return 0; // -0x1.9fe368p6f
  }
  const z = INV_LN2_N * x;
  const k = z + SHIFT - SHIFT;
  const r = z - k;
  const j = k - Math.floor(k / N) * N;
  const s = TWO_POW[j] * 2 ** ((k - j) / N);
  const r2 = r * r;
  const y = ((C0 * r + C1) * r2 + (C2 * r + 1)) * s;
  if (!nearBoundary(y)) return Math.fround(y);
  const exact = fma64(fma64(C0, r, C1), r2, fma64(C2, r, 1)) * s;
  return Math.fround(exact);
}

// logf: x = 2^k·z, z near c_i (16 subintervals), log(x) = log1p(z/c − 1) + log(c) + k·ln 2.
const INV_C = [
  1.398907162146528, 1.3403141896637998, 1.286432210124115, 1.2367150214269895, 1.1906977166711752,
  1.1479821020556429, 1.1082251448272158, 1.0711297413057381, 1.036437278977283, 1, 0.9492859795739057,
  0.8951049428609004, 0.8476821620351103, 0.8050314851692001, 0.7664671008843108, 0.731428603316328,
];
const LOG_C = [
  -0.33569133332882284, -0.2929040563774074, -0.2518726580937369, -0.21245868807117255, -0.17453945183745634,
  -0.1380057072319758, -0.10275976698545139, -0.06871392447020525, -0.0357891387398228, 0,
  0.05204517742929496, 0.11081431298787942, 0.1652495223695143, 0.21687389031699977, 0.2659635028121397,
  0.3127556664073557,
];
const LN2 = Math.LN2; // 0x1.62e42fefa39efp-1
const A0 = -0.25089342214237154; // -0x1.00ea348b88334p-2
const A1 = 0.333456765744066; // 0x1.5575b0be00b6ap-2
const A2 = -0.4999997485802103; // -0x1.ffffef20a4123p-2
const OFF = 0x3f330000;

/** glibc's logf(x) for a float32 x, as a float32 value. */
export function logf(x: number): number {
  f32[0] = x;
  let ix = i32[0] >>> 0;
  if (ix === 0x3f800000) return 0;
  if ((ix - 0x00800000) >>> 0 >= 0x7f800000 - 0x00800000) {
    if ((ix & 0x7fffffff) === 0) return Number.NEGATIVE_INFINITY;
    if (ix === 0x7f800000) return x;
    if (ix & 0x80000000 || (ix & 0x7fffffff) >= 0x7f800000) return Number.NaN;
    // A subnormal: normalized.
    f32[0] = x * 2 ** 23;
    ix = (i32[0] >>> 0) - (23 << 23);
  }
  const tmp = (ix - OFF) >>> 0;
  const i = (tmp >>> 19) % 16;
  const k = (tmp | 0) >> 23;
  i32[0] = (ix - (tmp & (0x1ff << 23))) | 0;
  const z = f32[0];
  const invc = INV_C[i];
  const logc = LOG_C[i];
  let r = z * invc - 1;
  let y0 = logc + k * LN2;
  let r2 = r * r;
  let y = (A0 * r2 + (A1 * r + A2)) * r2 + (y0 + r);
  if (!nearBoundary(y, 2 ** -46 * (Math.abs(y0) + 1))) return Math.fround(y);
  r = fma64(z, invc, -1);
  y0 = fma64(k, LN2, logc);
  r2 = r * r;
  y = fma64(fma64(A0, r2, fma64(A1, r, A2)), r2, y0 + r);
  return Math.fround(y);
}
