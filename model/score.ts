/**
 * The JavaScript scoring kernel: margins for a block of rows, tree by tree, in float32 as XGBoost
 * adds them. It serves trees with categorical splits, which the WebAssembly kernel leaves to it.
 *
 * Rows are taken in blocks (as XGBoost's CPU predictor does) so one tree's nodes stay in cache while
 * every row of the block walks it; margins accumulate in a Float32Array, so each `+=` is one
 * float32 addition, in model order, exactly as XGBoost's. Nothing is allocated per row.
 */
import { MAX_CATEGORY } from "./categories.js";
import type { CompiledForest } from "./compile.js";

/**
 * Adds the leaf values of trees [treeStart, treeEnd) to `margins` (rows × groups) for `rows` rows of
 * `values` (row-major, `numFeature` per row, NaN = missing), all rows per tree before the next tree.
 */
export function accumulateMargins(
  forest: CompiledForest,
  values: Float32Array,
  numFeature: number,
  rows: number,
  margins: Float32Array,
  groupsPerRow: number,
  treeStart: number,
  treeEnd: number,
): void {
  const { feature, value, left, missingRight, roots, groups } = forest;
  for (let t = treeStart; t < treeEnd; t++) {
    const root = roots[t];
    const group = groups[t];
    for (let r = 0; r < rows; r++) {
      const base = r * numFeature;
      let n = root;
      for (;;) {
        const f = feature[n];
        if (f >= 0) {
          const x = values[base + f];
          // x < threshold: left. NaN compares false, so it needs its own default direction.
          n = x < value[n] ? left[n] : Number.isNaN(x) ? left[n] + missingRight[n] : left[n] + 1;
        } else if (f === -1) {
          break;
        } else {
          n = categoricalStep(forest, -2 - f, n, values[base + forest.catFeature[-2 - f]]);
        }
      }
      margins[r * groupsPerRow + group] += value[n];
    }
  }
}

/** XGBoost's categorical Decision: a category in the node's set goes right, anything else left. */
export function categoricalStep(forest: CompiledForest, c: number, n: number, x: number): number {
  const l = forest.left[n];
  if (Number.isNaN(x)) return l + forest.missingRight[n];
  if (x < 0 || x >= MAX_CATEGORY) return l;
  const category = x | 0; // XGBoost casts to int32: truncation
  const word = category >>> 5;
  if (word >= forest.catWords[c]) return l;
  return (forest.catBits[forest.catOffset[c] + word] >>> (category & 31)) & 1 ? l + 1 : l;
}
