/**
 * exp(x) as glibc 2.28+ computes it on x86-64 with FMA (sysdeps/ieee754/dbl-64/e_exp.c, from Arm's
 * optimized-routines, built as __exp_fma and chosen by its ifunc on every CPU with FMA and AVX2),
 * bit for bit, in JavaScript.
 *
 * Why: LightGBM, like most C++ on Linux, calls glibc's exp, which is within 0.51 ulp
 * but not correctly rounded, and V8's Math.exp (an fdlibm port) rounds differently on 7-8% of
 * inputs; through 1 / (1 + exp(-x)) one ulp of exp becomes up to three of the probability. With
 * this port LightGBM's sigmoid, softmax and exp links are reproduced exactly.
 *
 * The algorithm: x = k ln2/128 + r, |r| <= ln2/256; exp(x) = 2^(k/128) exp(r), the first from a
 * 128-entry table (H_j, T_j with 2^(j/128) ~ H_j (1 + T_j)), the second a degree-5 polynomial.
 * GCC contracted seven of its multiply-adds into fused ones (vfmadd, read from libm.so.6's
 * __exp_fma in Debian's glibc 2.36); they are emulated here exactly (fma() below), each with one
 * rounding, which is what makes the result the same double.
 *
 * On a CPU without FMA glibc runs its SSE2 build of the same code, whose unfused roundings may
 * differ in the last place on rare inputs: there forestd matches LightGBM to an ulp of exp.
 */

// __exp_data (EXP_TABLE_BITS = 7, N = 128): the constants glibc's build holds, bit for bit.
// (JavaScript has no hex float literals: each is the shortest decimal that reads back to glibc's double.)
const INV_LN2_N = 184.6649652337873; // 0x1.71547652b82fep7 = N / ln 2
const NEG_LN2_HI_N = -0.005415212348111709; // -0x1.62e42fefa0000p-8: -(ln 2 / N), high part
const NEG_LN2_LO_N = -1.2864023111638346e-14; // -0x1.cf79abc9e3b3ap-47: and low part
const C2 = 0.49999999999996786; // 0x1.ffffffffffdbdp-2
const C3 = 0.16666666666665886; // 0x1.555555555543cp-3
const C4 = 0.0416666808410674; // 0x1.55555cf172b91p-5
const C5 = 0.008333335853059549; // 0x1.1111167a4d017p-7
const SHIFT = 6755399441055744; // 0x1.8p52: adding it rounds to an integer
const TWO_1009 = 2 ** 1009;
const TWO_M1022 = 2 ** -1022;

function bitsOf(x: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  return view.getBigUint64(0);
}

/** num / den (num >= 0, den > 0), rounded to the nearest double, ties to even. */
function quotientToDouble(num: bigint, den: bigint): number {
  if (num === 0n) return 0;
  const bitLength = (v: bigint) => BigInt(v.toString(2).length);
  let shift = 53n - (bitLength(num) - bitLength(den));
  for (;;) {
    const n = shift >= 0n ? num << shift : num;
    const d = shift >= 0n ? den : den << -shift;
    let q = n / d;
    if (q < 1n << 52n) shift += 1n;
    else if (q >= 1n << 53n) shift -= 1n;
    else {
      const twice = 2n * (n % d);
      if (twice > d || (twice === d && (q & 1n) === 1n)) q += 1n;
      return Number(q) * 2 ** -Number(shift);
    }
  }
}

/**
 * glibc's table, computed rather than copied: H_j = RN(2^(j/128)) and T_j = RN((2^(j/128) - H_j) /
 * H_j), from 2^(j/128) to 256 bits (an integer 128th root of 2, then powers). Stored as glibc stores
 * it, tail[j] = T_j and scale[j] = bits(H_j) - (j << 45) (here as high and low 32-bit words), to
 * which k's exponent is added. Built once, when the module loads.
 */
function buildTable(): { tail: Float64Array; scaleHi: Uint32Array; scaleLo: Uint32Array } {
  const P = 256n;
  const two = 1n << (128n * P + 1n); // 2 in P-bit fixed point, to the 128th power
  let root = BigInt(Math.round(2 ** (1 / 128) * 2 ** 52)) << (P - 52n);
  for (let i = 0; i < 8; i++) root = (127n * root + two / root ** 127n) / 128n; // Newton: root^128 = 2
  const tail = new Float64Array(128);
  const scaleHi = new Uint32Array(128);
  const scaleLo = new Uint32Array(128);
  let power = 1n << P;
  for (let j = 0; j < 128; j++) {
    if (j > 0) power = (power * root) >> P;
    const h = quotientToDouble(power, 1n << P);
    const hFixed = BigInt(h * 2 ** 52) << (P - 52n);
    const diff = power - hFixed;
    tail[j] = diff < 0n ? -quotientToDouble(-diff, hFixed) : quotientToDouble(diff, hFixed);
    const bits = bitsOf(h) - (BigInt(j) << 45n);
    scaleHi[j] = Number(bits >> 32n);
    scaleLo[j] = Number(bits & 0xffffffffn);
  }
  return { tail, scaleHi, scaleLo };
}

const TABLE = buildTable();
const TAIL = TABLE.tail;
const SCALE_HI = TABLE.scaleHi;
const SCALE_LO = TABLE.scaleLo;

// fma(a, b, c) = RN(a * b + c), emulated exactly. Dekker's TwoProduct (Veltkamp's split) gives
// a * b = p + e exactly, Knuth's TwoSum c + p = s + r exactly; the result is RN(s + (r + e)).
// Adding u = RN(r + e) instead of r + e rounds once more, and that can only matter when s + u is
// exactly halfway between two doubles while r + e was not exactly u: s + u and every halfway point
// near it are multiples of ulp(u) (|u| is at most about 1.5 ulp(s)), so a tiny error in u cannot
// carry the sum past one. That tie is detected and broken by the error's sign. Exact while nothing
// overflows or goes subnormal, which holds for every product exp() makes on its main path.
const SPLITTER = 134217729; // 2^27 + 1
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1; // the low word's index

export function fma(a: number, b: number, c: number): number {
  const p = a * b;
  // Dekker's TwoProduct: a * b = p + e exactly.
  let t = SPLITTER * a;
  const aHi = t - (t - a);
  const aLo = a - aHi;
  t = SPLITTER * b;
  const bHi = t - (t - b);
  const bLo = b - bHi;
  const e = aHi * bHi - p + aHi * bLo + aLo * bHi + aLo * bLo;
  // TwoSum: c + p = s + r exactly.
  const s = c + p;
  let v = s - c;
  const r = c - (s - v) + (p - v);
  const u = r + e;
  v = u - r;
  const uErr = r - (u - v) + (e - v);
  const z = s + u;
  if (uErr === 0) return z; // u is r + e exactly: z is the one rounding of the exact sum
  v = z - s;
  const zErr = s - (z - v) + (u - v);
  if (zErr === 0 || z + 2 * zErr - z !== 2 * zErr) return z; // s + u was no tie
  // s + u is halfway between z and z + 2 zErr: the exact sum lies on uErr's side of it.
  return uErr > 0 === zErr > 0 ? z + 2 * zErr : z;
}

/** A double from its high and low 32-bit words. */
function fromWords(hi: number, lo: number): number {
  u32[1 - LOW] = hi >>> 0;
  u32[LOW] = lo >>> 0;
  return f64[0];
}

/** glibc's exp, bit for bit (its __exp_fma). */
export function glibcExp(x: number): number {
  f64[0] = x;
  let abstop = (u32[1 - LOW] >>> 20) & 0x7ff;
  if (abstop < 0x3c9 || abstop >= 0x408) {
    if (abstop < 0x3c9) return 1.0 + x; // |x| < 2^-54, and 0: avoids a spurious underflow
    if (abstop >= 0x409) {
      // |x| >= 1024
      if (x === -Infinity) return 0.0;
      if (abstop >= 0x7ff) return 1.0 + x; // +inf, NaN
      return x < 0 ? 0 : Infinity; // __math_uflow (0), __math_oflow (0)
    }
    abstop = 0; // 512 <= |x| < 1024: scaled in specialCase
  }
  const shifted = fma(x, INV_LN2_N, SHIFT);
  f64[0] = shifted;
  const k = u32[LOW] | 0; // shifted = SHIFT + k: k is the low word, two's complement (|k| < 2^18)
  const kd = shifted - SHIFT;
  // kd * NEG_LN2_HI_N is exact (|kd| < 2^18, the constant has 32 significant bits): that fma is a sum.
  const r = fma(kd, NEG_LN2_LO_N, kd * NEG_LN2_HI_N + x);
  const j = k & 127;
  const tail = TAIL[j];
  // sbits = tab[2j+1] + (ki << 45): k's bits above the 7 table bits land in the exponent.
  const sHi = (SCALE_HI[j] + (k << 13)) >>> 0;
  const sLo = SCALE_LO[j];
  const r2 = r * r;
  const p23 = fma(r, C3, C2);
  const p45 = fma(r, C5, C4);
  const tmp = fma(r2 * r2, p45, fma(p23, r2, r + tail));
  if (abstop === 0) return specialCase(tmp, sHi, sLo, k);
  const scale = fromWords(sHi, sLo);
  return fma(scale, tmp, scale);
}

/** e_exp.c's specialcase: the scale's exponent out of range, 512 <= |x| < 1024. */
function specialCase(tmp: number, sHi: number, sLo: number, k: number): number {
  if (k >= 0) {
    // k > 0: the exponent may have overflowed by up to 460.
    const scale = fromWords(sHi - (1009 << 20), sLo);
    return TWO_1009 * fma(scale, tmp, scale);
  }
  // k < 0: care in the subnormal range (GCC left these unfused).
  const scale = fromWords(sHi + (1022 << 20), sLo);
  const product = scale * tmp;
  let y = scale + product;
  if (y < 1.0) {
    let lo = scale - y + product;
    const hi = 1.0 + y;
    lo = 1.0 - hi + y + lo;
    y = hi + lo - 1.0;
    if (y === 0) y = 0; // no -0.0
  }
  return TWO_M1022 * y;
}
