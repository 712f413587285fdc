/**
 * The compiled layout the kernels walk: every tree's reachable nodes flattened into a few typed
 * arrays, in kernel space. The compiler (model/compile/) lowers a Forest into it; the kernels and
 * the explanations read it and never see a format.
 *
 * Per node n (all trees in one array; each tree's nodes breadth-first):
 * - `feature[n]`: the kernel column a numeric split reads; -1 for a leaf; -2 - c for set split c
 *   (its column and bitset live in the `cat*` arrays).
 * - `threshold[n]`: a numeric split sends a row right when its column value >= threshold; NaN
 *   goes right when `missingRight[n]` is 1. (Every comparison a format writes is lowered to this.)
 * - `leaf[n]`: a leaf's value times its tree's weight, in the forest's accumulate precision.
 * - `left[n]`: the left child; the right child is always `left[n] + 1`.
 * A set split sends a row right when its column's value, truncated, is in the set; a negative
 * value, one at or past MAX_CATEGORY, or one the set lacks goes left; NaN goes by missingRight.
 *
 * `imageOnly`: feature, threshold, leaf, left and missingRight are empty, their nodes held only
 * in the WebAssembly kernel's image (kernels/wasm-scorer.ts), which the kernel, the leaf index
 * and the scorer's copies read instead. A model whose trees the WebAssembly kernel scores all and
 * that explains nothing keeps them so (model.ts): its nodes are then held once, not twice.
 */
import type { Precision } from "../forest/forest.js";

export interface CompiledForest {
  readonly feature: Int32Array;
  readonly threshold: Float32Array;
  readonly leaf: Float32Array | Float64Array;
  readonly left: Int32Array;
  readonly missingRight: Uint8Array;
  readonly catFeature: Int32Array;
  readonly catOffset: Int32Array;
  readonly catWords: Int32Array;
  readonly catBits: Uint32Array;
  /** Per compiled tree: its root node. */
  readonly roots: Int32Array;
  /** Per compiled tree: the margin column it adds to. */
  readonly groups: Int32Array;
  /** Per compiled tree: the depth of its deepest leaf (0 for a lone leaf). */
  readonly depths: Int32Array;
  /**
   * Per compiled tree: 1 where it has a set split (the WebAssembly kernel walks such a tree with a
   * step that tests each node's kind; trees without one take its numeric-only loops).
   */
  readonly categorical: Uint8Array;
  /** Per compiled tree: the Forest tree it was made from (a tree with vector leaves makes several). */
  readonly treeOf: Int32Array;
  /** Per node: its index in its Forest tree. */
  readonly nodeId: Int32Array;
  /** The node arrays above are empty: the nodes are in the kernel image only (see above). */
  readonly imageOnly: boolean;
  readonly maxDepth: number;
  readonly numNodes: number;
  readonly numLeaves: number;
  /** Values per kernel row (the columns the input plan makes). */
  readonly numColumns: number;
  /** Margin columns per row. */
  readonly numGroups: number;
  /** What leaves are added in. */
  readonly precision: Precision;
  /** How trees combine: added in order, or their smallest / largest per column. */
  readonly reduce: "sum" | "min" | "max";
}

export const LEAF = -1;

/** The bound on a category value: 2^24, the largest integer a float32 holds exactly. */
export const MAX_CATEGORY = 2 ** 24;
