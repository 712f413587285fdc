/**
 * LightGBM's `pred_contrib`: TreeSHAP in float64 as LightGBM computes it (src/io/tree.cpp:
 * ExtendPath, UnwindPath, UnwoundPathSum, TreeSHAP, ExpectedValue; include/LightGBM/tree.h:
 * PredictContrib; src/boosting/gbdt.cpp: GBDT::PredictContrib), over a Forest read from a LightGBM
 * file (covers are LightGBM's data counts: internal_count and leaf_count).
 *
 * It differs from XGBoost's (explain/tree-shap.ts) in more than precision: the bias is
 * ExpectedValue, the leaves' values weighted by leaf_count / internal_count[0] and summed in leaf
 * order (XGBoost recurses over node means); UnwoundPathSum groups `tmp * zero_fraction * ((d - i) /
 * (d + 1))`; there are no tree weights and no averaging (a random forest's contributions are its
 * trees' sums, as its raw score is). Every operation here is the C++'s, in its order, so the
 * values are LightGBM's double for double.
 *
 * A walk of the Forest's trees (recursive, one row at a time), as LightGBM's own is: Model.predictContribs
 * calls it for a head whose `treeShap` is "lightgbm", and its float64 values are served as they are
 * (docs/lightgbm.md).
 */
import { childOf } from "../forest/evaluate.js";
import type { Forest, ForestTree } from "../forest/forest.js";
import { MAX_SHAP_DEPTH } from "./tree-shap.js";

/** Why contributions cannot be computed for this forest, or null. */
export function lightgbmShapUnsupported(forest: Forest): string | null {
  if (forest.head.family !== "lightgbm") return `not a LightGBM model (${forest.head.family})`;
  const t = forest.trees.findIndex((tree) => tree.cover === null || tree.leafId === null);
  if (t !== -1) return `tree ${t} has no leaf_count / internal_count, which LightGBM's TreeSHAP weighs by`;
  const deepest = deepestOf(forest);
  if (deepest > MAX_SHAP_DEPTH)
    return `its deepest tree has ${deepest} levels; SHAP values are computed for trees up to ${MAX_SHAP_DEPTH} deep`;
  return null;
}

const deepestCache = new WeakMap<Forest, number>();

/**
 * The forest's deepest tree's depth (LightGBM's max_depth_, from RecomputeMaxDepth), walked with a
 * stack of its own: a file may hold a chain of a million nodes, which recursion could not follow.
 */
function deepestOf(forest: Forest): number {
  let deepest = deepestCache.get(forest);
  if (deepest === undefined) {
    deepest = 0;
    for (const tree of forest.trees) {
      const nodes: number[] = [0];
      const depths: number[] = [0];
      while (nodes.length > 0) {
        const node = nodes.pop() as number;
        const depth = depths.pop() as number;
        if (tree.left[node] === -1) deepest = Math.max(deepest, depth);
        else {
          nodes.push(tree.left[node], tree.right[node]);
          depths.push(depth + 1, depth + 1);
        }
      }
    }
    deepestCache.set(forest, deepest);
  }
  return deepest;
}

/** Tree::ExpectedValue: sum over leaves, in LightGBM's leaf order, of leaf_count / total * value. */
function expectedValue(tree: ForestTree): number {
  if (tree.numNodes === 1) return tree.leafValue[0];
  const total = tree.cover![0];
  const numLeaves = (tree.numNodes + 1) / 2;
  const nodeOfLeaf = new Int32Array(numLeaves);
  for (let n = 0; n < tree.numNodes; n++) if (tree.left[n] === -1) nodeOfLeaf[tree.leafId![n]] = n;
  let value = 0.0;
  for (let j = 0; j < numLeaves; j++) {
    const n = nodeOfLeaf[j];
    value += (tree.cover![n] / total) * tree.leafValue[n];
  }
  return value;
}

/** LightGBM's PathElement array, as four columns; a frame of depth d starts where its parent's ends. */
class Path {
  readonly feature: Int32Array;
  readonly zero: Float64Array;
  readonly one: Float64Array;
  readonly weight: Float64Array;

  constructor(size: number) {
    this.feature = new Int32Array(size);
    this.zero = new Float64Array(size);
    this.one = new Float64Array(size);
    this.weight = new Float64Array(size);
  }

  /** std::copy of a parent's frame into its child's: a plain loop (copyWithin's call costs more for a few elements). */
  copy(from: number, to: number, count: number): void {
    const { feature, zero, one, weight } = this;
    for (let i = 0; i < count; i++) {
      feature[to + i] = feature[from + i];
      zero[to + i] = zero[from + i];
      one[to + i] = one[from + i];
      weight[to + i] = weight[from + i];
    }
  }
}

/** Tree::ExtendPath on the frame at `p`. */
function extend(path: Path, p: number, depth: number, zero: number, one: number, feature: number): void {
  const w = path.weight;
  path.feature[p + depth] = feature;
  path.zero[p + depth] = zero;
  path.one[p + depth] = one;
  w[p + depth] = depth === 0 ? 1 : 0;
  for (let i = depth - 1; i >= 0; i--) {
    w[p + i + 1] += (one * w[p + i] * (i + 1)) / (depth + 1);
    w[p + i] = (zero * w[p + i] * (depth - i)) / (depth + 1);
  }
}

/** Tree::UnwindPath. */
function unwind(path: Path, p: number, depth: number, index: number): void {
  const w = path.weight;
  const one = path.one[p + index];
  const zero = path.zero[p + index];
  let nextOnePortion = w[p + depth];
  for (let i = depth - 1; i >= 0; --i) {
    if (one !== 0) {
      const tmp = w[p + i];
      w[p + i] = (nextOnePortion * (depth + 1)) / ((i + 1) * one);
      nextOnePortion = tmp - (w[p + i] * zero * (depth - i)) / (depth + 1);
    } else {
      w[p + i] = (w[p + i] * (depth + 1)) / (zero * (depth - i));
    }
  }
  for (let i = index; i < depth; ++i) {
    path.feature[p + i] = path.feature[p + i + 1];
    path.zero[p + i] = path.zero[p + i + 1];
    path.one[p + i] = path.one[p + i + 1];
  }
}

/** Tree::UnwoundPathSum. */
function unwoundSum(path: Path, p: number, depth: number, index: number): number {
  const w = path.weight;
  const one = path.one[p + index];
  const zero = path.zero[p + index];
  const d1 = depth + 1;
  let total = 0;
  // The C++ tests `one != 0` in each iteration; it does not change inside the loop.
  if (one !== 0) {
    let nextOnePortion = w[p + depth];
    for (let i = depth - 1; i >= 0; --i) {
      const tmp = (nextOnePortion * d1) / ((i + 1) * one);
      total += tmp;
      nextOnePortion = w[p + i] - tmp * zero * ((depth - i) / d1);
    }
  } else {
    for (let i = depth - 1; i >= 0; --i) total += w[p + i] / zero / ((depth - i) / d1);
  }
  return total;
}

/**
 * Tree::TreeSHAP: adds this tree's contributions for `row` to phi[at .. at + F). `p` is where the
 * parent's frame starts; this frame starts at p + depth.
 */
function treeShap(
  tree: ForestTree,
  row: Float64Array,
  phi: Float64Array,
  at: number,
  node: number,
  depth: number,
  path: Path,
  p: number,
  parentZero: number,
  parentOne: number,
  parentFeature: number,
): void {
  const frame = p + depth;
  if (depth > 0) path.copy(p, frame, depth);
  extend(path, frame, depth, parentZero, parentOne, parentFeature);
  if (tree.left[node] === -1) {
    const value = tree.leafValue[node];
    for (let i = 1; i <= depth; ++i) {
      const w = unwoundSum(path, frame, depth, i);
      phi[at + path.feature[frame + i]] += w * (path.one[frame + i] - path.zero[frame + i]) * value;
    }
    return;
  }
  const feature = tree.feature[node];
  const hot = childOf(tree, node, row[feature]);
  const cold = hot === tree.left[node] ? tree.right[node] : tree.left[node];
  const cover = tree.cover!;
  const w = cover[node];
  const hotZero = cover[hot] / w;
  const coldZero = cover[cold] / w;
  let incomingZero = 1;
  let incomingOne = 1;
  let index = 0;
  for (; index <= depth; ++index) if (path.feature[frame + index] === feature) break;
  if (index !== depth + 1) {
    incomingZero = path.zero[frame + index];
    incomingOne = path.one[frame + index];
    unwind(path, frame, depth, index);
    depth -= 1;
  }
  treeShap(tree, row, phi, at, hot, depth + 1, path, frame, hotZero * incomingZero, incomingOne, feature);
  treeShap(tree, row, phi, at, cold, depth + 1, path, frame, coldZero * incomingZero, 0, feature);
}

/** What every row's walk needs of a forest, worked out once per forest: its trees' ExpectedValue and a path buffer. */
interface Prepared {
  readonly trees: readonly ForestTree[];
  readonly expected: Float64Array;
  readonly path: Path;
}

const prepared = new WeakMap<Forest, Prepared>();

function prepare(forest: Forest): Prepared {
  let p = prepared.get(forest);
  if (p === undefined) {
    const trees = forest.trees;
    const expected = Float64Array.from(trees, (tree) => expectedValue(tree));
    const longest = deepestOf(forest) + 1;
    // unique_path_data(max_path_len * (max_path_len + 1) / 2), as Tree::PredictContrib sizes it.
    p = { trees, expected, path: new Path((longest * (longest + 1)) / 2) };
    prepared.set(forest, p);
  }
  return p;
}

/**
 * LightGBM's predict(pred_contrib=True) for `rows` rows of the forest's features (row-major,
 * float64, NaN = missing): per row and class, F + 1 values (the bias last), row-major:
 * rows × numGroups × (F + 1).
 */
export function lightgbmContribs(forest: Forest, inputs: Float64Array, rows: number): Float64Array {
  const reason = lightgbmShapUnsupported(forest);
  if (reason) throw new Error(reason);
  const numFeatures = forest.features.length;
  const groups = forest.numGroups;
  const width = numFeatures + 1;
  const out = new Float64Array(rows * groups * width);
  const { trees, expected, path } = prepare(forest);
  for (let r = 0; r < rows; r++) {
    const row = inputs.subarray(r * numFeatures, (r + 1) * numFeatures);
    for (let t = 0; t < trees.length; t++) {
      const tree = trees[t];
      const at = (r * groups + forest.treeGroup[t]) * width;
      out[at + numFeatures] += expected[t];
      if (tree.numNodes > 1) treeShap(tree, row, out, at, 0, 0, path, 0, 1, 1, -1);
    }
  }
  return out;
}
