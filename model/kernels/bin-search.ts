/**
 * How the SIMD kernel finds a value's bin (the number of a column's cuts it passes, x >= cut)
 * without a binary search over every cut: a bucket table.
 *
 * bucket(x) = clamp(trunc((x - lo) * scale), 0, buckets - 1), in the input precision's arithmetic
 * (float32 subtraction and multiplication for float32 inputs), is non-decreasing in x. So every cut
 * in a lower bucket than x's is below x (passed), every cut in a higher one above it (not passed),
 * and bin(x) = start[bucket(x)] + the cuts passed among those in x's own bucket — at most `window`
 * of them, found with `steps` branchless halvings. Exact whatever the cuts' spacing: an unlucky
 * column costs more steps, never a wrong bin. The table is built with the same arithmetic the
 * kernel uses (Math.fround reproduces float32 subtraction and multiplication exactly).
 */
import type { Precision } from "../forest/forest.js";

export interface BinSearch {
  /** Subtracted from x before scaling. */
  readonly lo: number;
  readonly scale: number;
  readonly buckets: number;
  /** Per bucket: the cuts in lower buckets (all passed). */
  readonly start: Uint16Array;
  /** Halvings after the table: ceil(log2(window + 1)). */
  readonly steps: number;
}

/** Largest table a column gets (entries). */
const MAX_BUCKETS = 2048;

/** WebAssembly's i32.trunc_sat_f32_s / _f64_s: toward zero, saturating, NaN → 0. */
function truncSat(u: number): number {
  if (Number.isNaN(u)) return 0;
  if (u >= 2147483647) return 2147483647;
  if (u <= -2147483648) return -2147483648;
  return Math.trunc(u);
}

export function bucketOf(search: BinSearch, x: number, input: Precision): number {
  const u =
    input === "f32" ? Math.fround(Math.fround(x - search.lo) * search.scale) : (x - search.lo) * search.scale;
  const b = truncSat(u);
  return b < 0 ? 0 : b >= search.buckets ? search.buckets - 1 : b;
}

/** The reference: how many cuts x passes (x >= cut; NaN cuts are passed by nothing). */
export function binOf(cuts: Float64Array, x: number): number {
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x >= cuts[mid]) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The bin by the table, as the kernel computes it (for tests). */
export function binBySearch(search: BinSearch, cuts: Float64Array, x: number, input: Precision): number {
  let bin = search.start[bucketOf(search, x, input)];
  for (let h = 1 << (search.steps - 1); h >= 1; h >>= 1) {
    const i = bin + h - 1;
    if (i < cuts.length && x >= cuts[i]) bin += h;
  }
  return bin;
}

function tableFor(
  cuts: Float64Array,
  lo: number,
  scale: number,
  buckets: number,
  input: Precision,
): BinSearch {
  const counts = new Uint32Array(buckets);
  const probe: BinSearch = { lo, scale, buckets, start: new Uint16Array(0), steps: 0 };
  for (const c of cuts) {
    if (Number.isNaN(c)) continue;
    counts[bucketOf(probe, c, input)]++;
  }
  const start = new Uint16Array(buckets);
  let window = 0;
  let below = 0;
  for (let b = 0; b < buckets; b++) {
    start[b] = below;
    below += counts[b];
    if (counts[b] > window) window = counts[b];
  }
  return { lo, scale, buckets, start, steps: Math.ceil(Math.log2(window + 1)) };
}

/**
 * The table for a column's cuts (ascending, NaN last): the smallest with the fewest steps, trying
 * bucket counts up to MAX_BUCKETS over the finite cuts' range.
 */
export function binSearchFor(cuts: Float64Array, input: Precision): BinSearch {
  const round = input === "f32" ? Math.fround : (x: number) => x;
  const finite = cuts.filter((c) => Number.isFinite(c));
  if (finite.length < 2) return tableFor(cuts, 0, 0, 1, input);
  const lo = finite[0];
  const span = round(finite[finite.length - 1] - lo);
  let best: BinSearch | null = null;
  for (let buckets = 16; buckets <= MAX_BUCKETS; buckets *= 2) {
    const scale = round(buckets / span);
    const search = Number.isFinite(scale) && scale > 0 ? tableFor(cuts, lo, scale, buckets, input) : null;
    if (search && (!best || search.steps < best.steps)) best = search;
    if (best && best.steps <= 1) break;
  }
  return best ?? tableFor(cuts, 0, 0, 1, input);
}
