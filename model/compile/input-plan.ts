/**
 * How a row's features become the kernel's row: one float32 column per (feature, way of reading
 * it). The kernels compare float32 values with `>=` and test category bitsets; everything else a
 * format compares is mapped onto that here, exactly:
 *
 * - direct: float32(x). Exact for every float32 format (XGBoost, ONNX float) and for float32
 *   inputs against float64 thresholds (scikit-learn: float32(x) <= t64 ⇔ float32(x) < the smallest
 *   float32 above t64), once the compiler has moved each threshold.
 * - bins: the number of the feature's cut points x passes, where a cut is (t, ">=") or (t, ">") for
 *   a threshold t the model compares this feature with. Any comparison with any of those thresholds,
 *   in any precision, is then a comparison of two small integers: x <= t ⇔ bin(x) < index((t, ">"))
 *   + 1, x == t ⇔ bin(x) == index((t, ">=")) + 1. This is the exact plan for float64 formats
 *   (LightGBM, HistGradientBoosting, ONNX double) and for equality and member tests; integers up
 *   to 2^24 are exact in float32. Missing rules that are not "NaN goes its default way"
 *   (LightGBM's zero-as-missing and NaN-as-zero) are applied here too, per column.
 * - category: x truncated to an integer category as the set tests read it (or -1 for none), so a
 *   float64 input's category is its own (float32 rounding could move 2.9999999999 to 3).
 *
 * An "identity" plan (every column direct, in feature order, float32 input, no preprocessing) is
 * the XGBoost case: the row is the kernel row, and nothing is copied.
 */
import type { Precision } from "../forest/forest.js";
import { ZERO_THRESHOLD } from "../forest/forest.js";

export type PlanColumn =
  | { readonly mode: "direct"; readonly source: number }
  | {
      readonly mode: "bins";
      readonly source: number;
      /** Cut thresholds, ascending; at equal thresholds ">=" before ">". */
      readonly cuts: Float64Array;
      /** Per cut: 1 for ">" (strict), 0 for ">=". */
      readonly strict: Uint8Array;
      readonly nanAsZero: boolean;
      readonly zeroIsMissing: boolean;
    }
  | {
      readonly mode: "category";
      readonly source: number;
      readonly truncates: boolean;
      readonly nanAsZero: boolean;
    };

export interface InputPlan {
  /** The kernel row is the (float32) feature row itself. */
  readonly identity: boolean;
  /** What a feature value is rounded to before anything reads it. */
  readonly input: Precision;
  readonly columns: readonly PlanColumn[];
}

/** The number of cuts in `column` that x passes (x not NaN). */
export function binOf(cuts: Float64Array, strict: Uint8Array, x: number): number {
  let lo = 0;
  let hi = cuts.length;
  // Cuts passed form a prefix: find its length.
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const passes = strict[mid] ? x > cuts[mid] : x >= cuts[mid];
    if (passes) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The category a value names for a set test, or -1 for none (the kernel sends -1 left). */
function categoryValue(x: number, truncates: boolean): number {
  if (!truncates && x < 0) return -1;
  const c = Math.trunc(x);
  return c < 0 || c >= 2 ** 24 ? -1 : c;
}

/** One kernel column's value for a feature value x (already rounded to the plan's input precision). */
export function columnValue(column: PlanColumn, x: number): number {
  switch (column.mode) {
    case "direct":
      return x;
    case "category":
      if (Number.isNaN(x)) return column.nanAsZero ? 0 : Number.NaN;
      return categoryValue(x, column.truncates);
    case "bins": {
      if (Number.isNaN(x)) {
        if (!column.nanAsZero) return Number.NaN;
        x = 0;
      }
      if (column.zeroIsMissing && x >= -ZERO_THRESHOLD && x <= ZERO_THRESHOLD) return Number.NaN;
      return binOf(column.cuts, column.strict, x);
    }
  }
}

/**
 * Feature rows (rows × numFeature, row-major) → kernel rows (rows × plan.columns.length), float32.
 * Identity plans return a Float32Array input as it is.
 */
export function kernelRows(
  plan: InputPlan,
  features: Float32Array | Float64Array,
  numFeature: number,
  rows: number,
): Float32Array {
  if (plan.identity) return features instanceof Float32Array ? features : Float32Array.from(features);
  const columns = plan.columns;
  const width = columns.length;
  const out = new Float32Array(rows * width);
  const round = plan.input === "f32";
  for (let c = 0; c < width; c++) {
    const column = columns[c];
    const source = column.source;
    for (let r = 0; r < rows; r++) {
      const raw = features[r * numFeature + source];
      out[r * width + c] = columnValue(column, round ? Math.fround(raw) : raw);
    }
  }
  return out;
}
