/**
 * Flattens checked trees into a few typed arrays that the scorer walks without allocating.
 *
 * Layout, per node n (all trees in one array; each tree's nodes laid out breadth-first):
 * - `feature[n]`: the feature a numerical split reads; -1 for a leaf; -2 - c for categorical
 *   split c (its feature and category bitset live in the `cat*` arrays).
 * - `value[n]`: the float32 threshold of a split, or the leaf value (for dart, leaf × weight
 *   rounded to float32, exactly the term XGBoost adds).
 * - `left[n]`: the left child; the right child is always `left[n] + 1`, so one index serves both.
 * - `missingRight[n]`: 1 where a missing value goes right (XGBoost's default_left = 0).
 *
 * The walk from each root also proves the tree is a tree: every child index in range, no node
 * reached twice (which rules out cycles and shared subtrees).
 */
import { invalidModel, ModelError } from "./errors.js";
import type { ModelSpec, TreeSpec } from "./read-document.js";

export interface CompiledForest {
  readonly feature: Int32Array;
  readonly value: Float32Array;
  readonly left: Int32Array;
  readonly missingRight: Uint8Array;
  readonly catFeature: Int32Array;
  readonly catOffset: Int32Array;
  readonly catWords: Int32Array;
  readonly catBits: Uint32Array;
  readonly roots: Int32Array;
  readonly groups: Int32Array;
  /** Per tree: the depth of its deepest leaf (0 for a lone leaf). */
  readonly depths: Int32Array;
  /** Per tree: 1 where it has a categorical split (scored by the JavaScript kernel). */
  readonly categorical: Uint8Array;
  /** Per node: its index in the model file's tree (XGBoost's node id, what pred_leaf reports). */
  readonly nodeId: Int32Array;
  readonly maxDepth: number;
  readonly numNodes: number;
  readonly numLeaves: number;
}

export const LEAF = -1;
/** Category bitsets are 1 bit per category up to the largest one: cap them at 64 MiB in all. */
const MAX_CATEGORY_WORDS = 1 << 24;

/** Nodes reachable from the root, checked; returns them in breadth-first order with their depth. */
function walk(tree: TreeSpec, t: number): { order: Int32Array; depth: number } {
  const n = tree.numNodes;
  const seen = new Uint8Array(n);
  const order = new Int32Array(n);
  const depthOf = new Int32Array(n);
  let head = 0;
  let tail = 0;
  let maxDepth = 0;
  order[tail++] = 0;
  seen[0] = 1;
  while (head < tail) {
    const node = order[head++];
    const l = tree.left[node];
    if (l === -1) continue;
    const r = tree.right[node];
    for (const child of [l, r]) {
      if (child <= 0 || child >= n)
        invalidModel(`tree ${t} node ${node} has child ${child}, outside 1..${n - 1}`);
      if (seen[child]) invalidModel(`tree ${t} node ${child} is reached twice (a cycle or a shared child)`);
      seen[child] = 1;
      depthOf[child] = depthOf[node] + 1;
      if (depthOf[child] > maxDepth) maxDepth = depthOf[child];
      order[tail++] = child;
    }
  }
  return { order: order.subarray(0, tail), depth: maxDepth };
}

export function compileForest(spec: ModelSpec): CompiledForest {
  const walks = spec.trees.map((tree, t) => walk(tree, t));
  const numNodes = walks.reduce((sum, w) => sum + w.order.length, 0);
  let numCats = 0;
  let numCatWords = 0;
  spec.trees.forEach((tree, t) => {
    if (!tree.splitType) return;
    for (const node of walks[t].order) {
      if (tree.left[node] !== -1 && tree.splitType[node] === 1) {
        numCats++;
        numCatWords += wordsFor(tree.categories.get(node) ?? []);
      }
    }
  });

  if (numCatWords > MAX_CATEGORY_WORDS) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_TOO_LARGE",
      `categorical splits need ${numCatWords * 4} bytes of category sets; the limit is ${MAX_CATEGORY_WORDS * 4}`,
    );
  }
  const feature = new Int32Array(numNodes);
  const value = new Float32Array(numNodes);
  const left = new Int32Array(numNodes);
  const missingRight = new Uint8Array(numNodes);
  const catFeature = new Int32Array(numCats);
  const catOffset = new Int32Array(numCats);
  const catWords = new Int32Array(numCats);
  const catBits = new Uint32Array(numCatWords);
  const roots = new Int32Array(spec.trees.length);
  const groups = Int32Array.from(spec.treeGroup);
  const depths = new Int32Array(spec.trees.length);
  const categorical = new Uint8Array(spec.trees.length);
  const nodeId = new Int32Array(numNodes);
  let maxDepth = 0;
  let numLeaves = 0;
  let next = 0;
  let cat = 0;
  let catWord = 0;

  spec.trees.forEach((tree, t) => {
    const { order, depth } = walks[t];
    maxDepth = Math.max(maxDepth, depth);
    depths[t] = depth;
    const weight = spec.weightDrop ? spec.weightDrop[t] : 1;
    // Breadth-first order already puts siblings side by side; map old index → new index.
    const newIndex = new Map<number, number>();
    roots[t] = next;
    for (let i = 0; i < order.length; i++) newIndex.set(order[i], next + i);
    for (let i = 0; i < order.length; i++) {
      const old = order[i];
      const at = next + i;
      nodeId[at] = old;
      const l = tree.left[old];
      if (l === -1) {
        feature[at] = LEAF;
        const leaf = tree.splitCondition[old];
        value[at] = spec.weightDrop ? Math.fround(leaf) * Math.fround(weight) : leaf;
        numLeaves++;
        continue;
      }
      const li = newIndex.get(l)!;
      if (newIndex.get(tree.right[old]) !== li + 1)
        invalidModel(`tree ${t} node ${old}: children are not siblings`);
      left[at] = li;
      missingRight[at] = tree.defaultLeft[old] ? 0 : 1;
      if (tree.splitType && tree.splitType[old] === 1) {
        const set = tree.categories.get(old) ?? [];
        const words = wordsFor(set);
        catFeature[cat] = tree.splitIndex[old];
        catOffset[cat] = catWord;
        catWords[cat] = words;
        for (const c of set) catBits[catWord + (c >>> 5)] |= 1 << (c & 31);
        catWord += words;
        feature[at] = -2 - cat;
        categorical[t] = 1;
        cat++;
      } else {
        feature[at] = tree.splitIndex[old];
        value[at] = tree.splitCondition[old];
      }
    }
    next += order.length;
  });

  return {
    feature,
    value,
    left,
    missingRight,
    catFeature,
    catOffset,
    catWords,
    catBits,
    roots,
    groups,
    depths,
    categorical,
    nodeId,
    maxDepth,
    numNodes,
    numLeaves,
  };
}

function wordsFor(set: readonly number[]): number {
  let max = -1;
  for (const c of set) if (c > max) max = c;
  return max < 0 ? 0 : (max >>> 5) + 1;
}
