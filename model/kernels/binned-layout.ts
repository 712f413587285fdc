/**
 * The binned layout: the compiled forest (layout.ts) with every comparison made on small integers.
 * The compiler's quantizer (model/compile/quantize.ts) makes it; the SIMD kernel (simd-scorer.ts)
 * walks it.
 *
 * A kernel column is a feature read one way (the input plan's column) with one missing-value side.
 * A row's value in it is its **bin**: the number of the column's cut points it passes, where a cut
 * is "x >= c" in the forest's input precision. Every split of the compiled layout is "x >= t goes
 * right", and its column's cuts are exactly the thresholds its splits use, so "x >= t" is "bin > k"
 * for the k-th cut t: one integer comparison, exact by construction. A missing value gets the bin
 * that sends it to its side at every split reading the column: 0 (passes no cut: left) in a
 * NaN-goes-left column, `cuts.length` (passes every cut: right) in a NaN-goes-right one. That is
 * why a feature read with both missing sides is two columns.
 *
 * Bins are bytes when every column has at most 255 cuts and there are at most 256 columns (XGBoost
 * hist/approx, LightGBM and HistGradientBoosting models have ≤ 255 thresholds a feature), 16-bit
 * otherwise. In memory each is stored minus 128 (or 32 768) so the kernel compares them signed:
 * WebAssembly's unsigned byte comparison costs V8 four x86 instructions, the signed one one.
 *
 * Trees: the top `topLevels` levels of every tree are a complete binary tree in breadth-first order
 * (node j's children are 2j+1 and 2j+2; a leaf above the last top level is padded down with splits
 * that send everything left, both children being the leaf), evaluated for 16 rows at once. Below
 * them each row walks `steps` steps, one node at a time:
 * - a **complete** tree (at most 10 levels) goes on the same way: its deep nodes are every position
 *   of the levels below the top (padded as above), a step goes from position j to 2j + 1 or
 *   2j + 2, and its 2^depth leaves are the last level's positions;
 * - a deeper tree keeps its own nodes: the 2^topLevels positions under the top first, then their
 *   descendants breadth first, each split with its left child (right = left + 1), each leaf
 *   looping to itself; its leaves' values sit beside its nodes, one per node. A walk that reaches
 *   leaves in every lane before its last step stops there (the steps left would not move it).
 *
 * The leaf slots of a vector leaf are one tree each (the compiler's), laid out alike: where a slot
 * follows its tree's first slot (`sharesWalk`), a block's walk is not repeated.
 */
import type { Precision } from "../forest/forest.js";

/** How one feature (after the input plan's missing rules) becomes one or two kernel columns. */
export interface BinColumn {
  /** The feature read (an index into the features a row brings, after preprocessing). */
  readonly source: number;
  /**
   * Cut points, ascending, in the input precision: a value passes cut c when x >= c. -Infinity may
   * be one (every value passes it); NaN, last, is a cut no value passes (for splits that send only
   * missing values right).
   */
  readonly cuts: Float64Array;
  /** NaN is read as 0 (LightGBM's missing type None). */
  readonly nanAsZero: boolean;
  /** |x| <= 1e-35 is missing (LightGBM's missing type Zero). */
  readonly zeroIsMissing: boolean;
  /** The kernel column whose missing values go left (bin 0), or -1. */
  readonly left: number;
  /** The kernel column whose missing values go right (bin cuts.length), or -1. */
  readonly right: number;
}

export interface BinnedForest {
  /** Bits per bin: 8 or 16. */
  readonly width: 8 | 16;
  /** What feature values are rounded to before they are binned (the forest's input precision). */
  readonly input: Precision;
  /** What leaves are added in. */
  readonly precision: Precision;
  readonly numGroups: number;
  /** Kernel columns per row. */
  readonly numColumns: number;
  readonly binColumns: readonly BinColumn[];
  /** Levels every tree's top has (1 ≤ topLevels; trees shallower than it are padded). */
  readonly topLevels: number;
  /** Per tree × (2^topLevels - 1) top nodes: the column read. */
  readonly topColumn: Int32Array;
  /** Per top node: right when bin > this; NEVER_RIGHT for padding. */
  readonly topThreshold: Int32Array;
  /** Per tree: 1 when it is stored complete. */
  readonly complete: Uint8Array;
  /** Per tree: its depth (a complete tree's padded to at least topLevels). */
  readonly depth: Int32Array;
  /** Per tree: deep steps every row takes (depth - topLevels, 0 when it has none below the top). */
  readonly steps: Int32Array;
  /** Per tree: where its deep nodes start (numTrees + 1 entries). */
  readonly deepStart: Int32Array;
  readonly deepColumn: Int32Array;
  /** Right when bin > this; NEVER_RIGHT for padding and leaves. */
  readonly deepThreshold: Int32Array;
  /** A deeper tree's nodes: the left child, counted from the tree's first deep node; a leaf's is itself. */
  readonly deepLeft: Int32Array;
  /** Per tree: where its leaf values start (numTrees + 1 entries). */
  readonly leafStart: Int32Array;
  /**
   * Leaf values times their tree's weight (the compiled layout's), in `precision`: a complete
   * tree's last level's positions, or one per deep node of a deeper tree (0 where not a leaf).
   */
  readonly leafValue: Float32Array | Float64Array;
  /** Per tree: the output group it adds to. */
  readonly group: Int32Array;
  /**
   * Per tree: 1 when it walks exactly as the tree before it — another leaf slot of the same Forest
   * tree (the compiler makes one tree per slot of a vector leaf), with the same nodes and its own
   * leaves — so the kernel may end where that walk ended and add this tree's leaf there.
   */
  readonly sharesWalk: Uint8Array;
}

/** The threshold no bin exceeds, in the unbiased domain: 2^width - 1. */
export function neverRight(width: 8 | 16): number {
  return width === 8 ? 255 : 65535;
}
