/**
 * onnxruntime's Softmax operator on float rows, bit for bit: MLAS's MlasComputeSoftmax as it runs
 * on x86-64 with AVX2 and FMA3 (core/mlas/lib/compute.cpp, x86_64/TransKernelFma3.S,
 * MlasComputeSumExpF32KernelFma3). Per row: the maximum; exp(x − max) by MLAS's polynomial (not
 * libm's exp) with fused multiply-adds; the sum kept in eight lanes (element i in lane i mod 8),
 * folded pairwise at the end; then every exp multiplied by 1 / sum.
 *
 * A machine with AVX-512 runs another kernel (sixteen lanes) whose sums can differ in the last bit;
 * forestd answers as the AVX2 kernel does.
 */

const f = Math.fround;
const scratch = new Float32Array(1);
const scratchBits = new Int32Array(scratch.buffer);

function bitsOf(x: number): number {
  scratch[0] = x;
  return scratchBits[0];
}

function fromBits(b: number): number {
  scratchBits[0] = b;
  return scratch[0];
}

/** The float32 next to `x` (a float32) towards +Infinity (up) or −Infinity. */
function step(x: number, up: boolean): number {
  if (x === 0) return up ? 1.401298464324817e-45 : -1.401298464324817e-45;
  scratch[0] = x;
  scratchBits[0] += x > 0 === up ? 1 : -1;
  return scratch[0];
}

/**
 * fmaf(a, b, c) for float32 a, b, c: a·b is exact in float64, and the sum's float64 rounding error
 * (TwoSum) decides the one case float64 then float32 rounding gets wrong, a float32 midpoint.
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const bv = s - p;
  const e = p - (s - bv) + (c - bv);
  const r = f(s);
  if (e === 0 || r === s || !Number.isFinite(s)) return r;
  const lo = r < s ? r : step(r, false);
  const hi = r < s ? step(r, true) : r;
  return s === (lo + hi) / 2 ? (e > 0 ? hi : lo) : r;
}

// MlasExpConstants (compute.cpp).
const LOWER_RANGE_SUM_EXP = f(-88.3762626647949);
const ROUNDING_BIAS = f(12582912);
const LOG2_RECIPROCAL = f(Math.LOG2E);
const LOG2_HIGH = f(-6.93145752e-1);
const LOG2_LOW = f(-1.42860677e-6);
/** poly_0..poly_4 and poly_56: 0x1.694000p-10, 0x1.125edcp-7, 0x1.555b5ap-5, 0x1.555450p-3, 0x1.fffff6p-2, 1. */
const POLY = [
  0.0013780593872070312, 0.008373124524950981, 0.041669536381959915, 0.166664719581604, 0.49999985098838806,
  1,
];
const MAXIMUM_EXPONENT = 0x3f800000;

/** One lane of MlasComputeSumExpF32KernelFma3: exp(x + negativeMaximum). */
function sumExpLane(x: number, negativeMaximum: number): number {
  let v = f(x + negativeMaximum);
  v = LOWER_RANGE_SUM_EXP > v ? LOWER_RANGE_SUM_EXP : v; // vmaxps keeps v when v is NaN
  const biased = fma32(LOG2_RECIPROCAL, v, ROUNDING_BIAS);
  const m = f(biased - ROUNDING_BIAS);
  v = fma32(m, LOG2_HIGH, v);
  v = fma32(m, LOG2_LOW, v);
  let p = POLY[0];
  for (let k = 1; k < POLY.length; k++) p = fma32(p, v, POLY[k]);
  p = fma32(p, v, POLY[5]);
  const scale = fromBits(((bitsOf(biased) << 23) + MAXIMUM_EXPONENT) | 0);
  return f(p * scale);
}

/** Softmax of `n` float32 values at `at` in `v`, in place. */
export function mlasSoftmax(v: { [i: number]: number }, at: number, n: number): void {
  let max = -3.4028234663852886e38;
  for (let k = 0; k < n; k++) if (v[at + k] > max) max = v[at + k];
  const negativeMaximum = f(-max);
  const lanes = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let k = 0; k < n; k++) {
    const e = sumExpLane(v[at + k], negativeMaximum);
    v[at + k] = e;
    lanes[k & 7] = f(lanes[k & 7] + e);
  }
  // vhaddps twice, then the upper half added to the lower.
  const low = f(f(lanes[0] + lanes[1]) + f(lanes[2] + lanes[3]));
  const high = f(f(lanes[4] + lanes[5]) + f(lanes[6] + lanes[7]));
  const scale = f(1 / f(high + low));
  for (let k = 0; k < n; k++) v[at + k] = f(v[at + k] * scale);
}
