/**
 * `pred_leaf`: per row, the leaf each of the model's trees sends it to, as the format numbers its
 * leaves (XGBoost: the node's id in the model file; not the compiler's breadth-first order).
 */
import type { CompiledForest } from "./layout.js";
import { categoricalStep } from "./score.js";
import type { KernelImage } from "./wasm-scorer.js";

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
  image?: KernelImage,
): void {
  if (forest.imageOnly) {
    if (!image) throw new Error("the forest's nodes are in its kernel image only: pass the image");
    imageLeafIndices(forest, image, values, numColumns, rows, out, leafIdOf);
    return;
  }
  const { feature, threshold, left, missingRight, roots, nodeId, treeOf } = forest;
  const firstCopies = firstCopiesOf(treeOf);
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

/** The first compiled copy of each of the model's trees. */
function firstCopiesOf(treeOf: Int32Array): number[] {
  const first: number[] = [];
  for (let c = 0; c < treeOf.length; c++) if (c === 0 || treeOf[c] !== treeOf[c - 1]) first.push(c);
  return first;
}

/**
 * leafIndices over the kernel image's nodes (a forest whose nodes are there only, and which has
 * no set splits): per node four 32-bit words, column, float32 threshold, left child, missing-right;
 * a leaf is its own left child (buildKernelImage). The same walk, the same comparisons.
 */
function imageLeafIndices(
  forest: CompiledForest,
  image: KernelImage,
  values: Float32Array,
  numColumns: number,
  rows: number,
  out: Float32Array,
  leafIdOf: (tree: number, node: number) => number,
): void {
  const { roots, nodeId, treeOf } = forest;
  const i32 = new Int32Array(image.memory.buffer, image.nodesAt, nodeId.length * 4);
  const f32 = new Float32Array(image.memory.buffer, image.nodesAt, nodeId.length * 4);
  const firstCopies = firstCopiesOf(treeOf);
  const numTrees = firstCopies.length;
  for (let i = 0; i < numTrees; i++) {
    const t = firstCopies[i];
    for (let r = 0; r < rows; r++) {
      const base = r * numColumns;
      let n = roots[t];
      for (;;) {
        const k = n * 4;
        const left = i32[k + 2];
        if (left === n) break;
        const x = values[base + i32[k]];
        n = x < f32[k + 1] ? left : Number.isNaN(x) ? left + i32[k + 3] : left + 1;
      }
      out[r * numTrees + i] = leafIdOf(treeOf[t], nodeId[n]);
    }
  }
}
