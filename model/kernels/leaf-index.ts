/**
 * `pred_leaf`: per row, the leaf each of the model's trees sends it to, as the format numbers its
 * leaves (XGBoost: the node's id in the model file; not the compiler's breadth-first order).
 */
import type { CompiledForest } from "./layout.js";
import { categoricalStep } from "./score.js";

/**
 * Writes rows × (model trees) leaf ids into `out`, row-major, trees in model order: for each of the
 * model's trees its first compiled copy, mapped through `leafIdOf(tree, node)`.
 */
export function leafIndices(
  forest: CompiledForest,
  values: Float32Array,
  numColumns: number,
  rows: number,
  out: Float32Array,
  leafIdOf: (tree: number, node: number) => number,
): void {
  const { feature, threshold, left, missingRight, roots, nodeId, treeOf } = forest;
  const firstCopies: number[] = [];
  for (let c = 0; c < roots.length; c++) if (c === 0 || treeOf[c] !== treeOf[c - 1]) firstCopies.push(c);
  const numTrees = firstCopies.length;
  for (let i = 0; i < numTrees; i++) {
    const t = firstCopies[i];
    for (let r = 0; r < rows; r++) {
      const base = r * numColumns;
      let n = roots[t];
      for (;;) {
        const f = feature[n];
        if (f >= 0) {
          const x = values[base + f];
          n = x < threshold[n] ? left[n] : Number.isNaN(x) ? left[n] + missingRight[n] : left[n] + 1;
        } else if (f === -1) {
          break;
        } else {
          n = categoricalStep(forest, -2 - f, n, values[base + forest.catFeature[-2 - f]]);
        }
      }
      out[r * numTrees + i] = leafIdOf(treeOf[t], nodeId[n]);
    }
  }
}
