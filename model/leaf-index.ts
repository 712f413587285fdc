/**
 * XGBoost's `pred_leaf`: per row, the leaf each tree sends it to, as the node's id in the model
 * file (XGBoost's numbering, not the compiler's breadth-first order).
 */
import type { CompiledForest } from "./compile.js";
import { categoricalStep } from "./score.js";

/** Writes rows × numTrees leaf ids into `out`, row-major, trees in model order. */
export function leafIndices(
  forest: CompiledForest,
  values: Float32Array,
  numFeature: number,
  rows: number,
  out: Float32Array,
): void {
  const { feature, value, left, missingRight, roots, nodeId } = forest;
  const numTrees = roots.length;
  for (let t = 0; t < numTrees; t++) {
    for (let r = 0; r < rows; r++) {
      const base = r * numFeature;
      let n = roots[t];
      for (;;) {
        const f = feature[n];
        if (f >= 0) {
          const x = values[base + f];
          n = x < value[n] ? left[n] : Number.isNaN(x) ? left[n] + missingRight[n] : left[n] + 1;
        } else if (f === -1) {
          break;
        } else {
          n = categoricalStep(forest, -2 - f, n, values[base + forest.catFeature[-2 - f]]);
        }
      }
      out[r * numTrees + t] = nodeId[n];
    }
  }
}
