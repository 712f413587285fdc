/**
 * The JavaScript scoring kernel: margins for a block of rows, tree by tree, in the forest's
 * precision. It scores forests that combine trees by min or max (the WebAssembly kernel only adds),
 * and it is the reference the WebAssembly kernel is tested against: `categoricalStep` is the set
 * split's meaning, which kernel.wat's `$setStep` repeats (test/unit/wasm-sets.test.ts holds the two
 * equal bit for bit); leaf-index.ts walks with it too.
 *
 * Rows are taken in blocks (as XGBoost's CPU predictor does) so one tree's nodes stay in cache while
 * every row of the block walks it; margins accumulate in a Float32Array (float32 forests: each `+=`
 * is one float32 addition) or a Float64Array, in model order. Nothing is allocated per row.
 */
import { type CompiledForest, MAX_CATEGORY } from "./layout.js";

/**
 * Adds the leaf values of trees [treeStart, treeEnd) to `margins` (rows × groups) for `rows` rows of
 * `values` (row-major, `numFeature` per row, NaN = missing), all rows per tree before the next tree.
 */
export function accumulateMargins(
  forest: CompiledForest,
  values: Float32Array,
  numFeature: number,
  rows: number,
  margins: Float32Array | Float64Array,
  groupsPerRow: number,
  treeStart: number,
  treeEnd: number,
): void {
  const { feature, threshold, leaf, left, missingRight, roots, groups, reduce } = forest;
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
          n = x < threshold[n] ? left[n] : Number.isNaN(x) ? left[n] + missingRight[n] : left[n] + 1;
        } else if (f === -1) {
          break;
        } else {
          n = categoricalStep(forest, -2 - f, n, values[base + forest.catFeature[-2 - f]]);
        }
      }
      const at = r * groupsPerRow + group;
      if (reduce === "sum") margins[at] += leaf[n];
      else {
        // Min / max: the first tree's value starts the column (margins start as NaN).
        const m = margins[at];
        margins[at] = Number.isNaN(m)
          ? leaf[n]
          : reduce === "min"
            ? Math.min(m, leaf[n])
            : Math.max(m, leaf[n]);
      }
    }
  }
}

/** A set split: a category in the node's set goes right, anything else left (XGBoost's Decision). */
export function categoricalStep(forest: CompiledForest, c: number, n: number, x: number): number {
  const l = forest.left[n];
  if (Number.isNaN(x)) return l + forest.missingRight[n];
  if (x < 0 || x >= MAX_CATEGORY) return l;
  const category = x | 0; // XGBoost casts to int32: truncation
  const word = category >>> 5;
  if (word >= forest.catWords[c]) return l;
  return (forest.catBits[forest.catOffset[c] + word] >>> (category & 31)) & 1 ? l + 1 : l;
}
