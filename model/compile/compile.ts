/**
 * The compiler: a checked Forest → the layout the kernels walk (kernels/layout.ts) and the input
 * plan that makes kernel rows from feature rows (input-plan.ts). Readers keep each split's own
 * comparison; here, and only here, it is lowered to the kernels' one test, "column >= threshold
 * goes right", or to a bitset:
 *
 * - float32 columns (direct): x < t → threshold = the smallest float32 >= t; x <= t → the smallest
 *   float32 > t; x > t and x >= t the same with the children swapped. Exact for float32 x whatever
 *   the threshold's precision.
 * - float64 inputs, equality and member tests, zero-as-missing: the column is the feature's bin
 *   (input-plan.ts), and each threshold becomes the index of its cut point.
 * - set tests: a bitset of categories (or of bins, for member tests), the set's side on the right.
 *
 * A tree with vector leaves becomes one compiled tree per leaf slot, each adding one group's
 * value, in tree order, so each group's sum is added in the model's own order. Leaves carry their
 * tree's weight, multiplied in the accumulate precision.
 */
import { arraysIn } from "../arrays.js";
import { ModelError } from "../errors.js";
import type { Forest, ForestTree } from "../forest/forest.js";
import { NodeFlag, Test } from "../forest/forest.js";
import { type CompiledForest, LEAF, MAX_CATEGORY } from "../kernels/layout.js";
import type { InputPlan, PlanColumn } from "./input-plan.js";

export interface CompiledModel {
  readonly forest: CompiledForest;
  readonly plan: InputPlan;
}

/** Category bitsets are 1 bit per category up to the largest one: cap them at 64 MiB in all. */
const MAX_CATEGORY_WORDS = 1 << 24;
/** Bins are float32 integers: at most 2^24 per column. */
const MAX_CUTS = (1 << 24) - 1;

const scratch32 = new Float32Array(1);
const bits32 = new Int32Array(scratch32.buffer);

/** The float32 right after a finite float32 `t` (towards +Infinity). */
export function nextUp32(t: number): number {
  if (t === 0) return 1.401298464324817e-45;
  scratch32[0] = t;
  bits32[0] += t > 0 ? 1 : -1;
  return scratch32[0];
}

/** The smallest float32 >= t (t not NaN): float32 x >= t ⇔ x >= this. */
function atLeast32(t: number): number {
  const r = Math.fround(t);
  return r < t ? nextUp32(r) : r;
}

/** The smallest float32 > t, or NaN when none is (t = +Infinity): float32 x > t ⇔ x >= this. */
function above32(t: number): number {
  const r = atLeast32(t);
  if (r > t) return r;
  return r === Number.POSITIVE_INFINITY ? Number.NaN : nextUp32(r);
}

const NUMERIC_MISSING = NodeFlag.ZERO_IS_MISSING | NodeFlag.NAN_AS_ZERO;
const SET_READING = NodeFlag.NAN_AS_ZERO | NodeFlag.CATEGORY_TRUNCATES;

function isSetTest(test: number): boolean {
  return test === Test.IN_SET || test === Test.NOT_IN_SET;
}

function isCompareTest(test: number): boolean {
  return test === Test.LT || test === Test.LE || test === Test.GT || test === Test.GE;
}

/** Which kernel column a split reads: its mode and the flags that change how the value is read. */
function columnKey(forest: Forest, tree: ForestTree, n: number): string {
  const feature = tree.feature[n];
  const test = tree.test[n];
  const flags = tree.flags[n];
  if (isSetTest(test)) {
    if (forest.input === "f32" && (flags & SET_READING) === 0) return `d${feature}`;
    return `c${feature}:${flags & SET_READING}`;
  }
  if (isCompareTest(test) && forest.input === "f32" && (flags & NUMERIC_MISSING) === 0) return `d${feature}`;
  return `b${feature}:${flags & NUMERIC_MISSING}`;
}

/** Reachable nodes of a tree, breadth first (readers may leave unreachable ones: XGBoost does). */
function reachable(tree: ForestTree): Int32Array {
  const order = new Int32Array(tree.numNodes);
  let head = 0;
  let tail = 0;
  order[tail++] = 0;
  while (head < tail) {
    const n = order[head++];
    if (tree.left[n] === -1) continue;
    order[tail++] = tree.left[n];
    order[tail++] = tree.right[n];
  }
  return order.subarray(0, tail);
}

/** Cut points per bins column: threshold → (">=" seen, ">" seen). */
type Cuts = Map<number, { ge: boolean; gt: boolean }>;

function addCut(cuts: Cuts, t: number, strict: boolean): void {
  if (Number.isNaN(t)) return;
  let cut = cuts.get(t);
  if (!cut) {
    cut = { ge: false, gt: false };
    cuts.set(t, cut);
  }
  if (strict) cut.gt = true;
  else cut.ge = true;
}

/** The plan's columns, and for each bins column a lookup from (threshold, strictness) to cut index. */
function planColumns(
  forest: Forest,
  orders: readonly Int32Array[],
): { plan: InputPlan; columnOf: Map<string, number>; cutIndex: Map<number, Map<number, [number, number]>> } {
  const keys = new Map<string, { feature: number; flags: number }>();
  const cutsOf = new Map<string, Cuts>();
  forest.trees.forEach((tree, t) => {
    for (const n of orders[t]) {
      if (tree.left[n] === -1) continue;
      const key = columnKey(forest, tree, n);
      if (!keys.has(key)) keys.set(key, { feature: tree.feature[n], flags: tree.flags[n] });
      if (key[0] !== "b") continue;
      let cuts = cutsOf.get(key);
      if (!cuts) {
        cuts = new Map();
        cutsOf.set(key, cuts);
      }
      const test = tree.test[n];
      const th = tree.threshold[n];
      if (test === Test.LT || test === Test.GE) addCut(cuts, th, false);
      else if (test === Test.LE || test === Test.GT) addCut(cuts, th, true);
      else if (test === Test.EQ || test === Test.NE) {
        addCut(cuts, th, false);
        addCut(cuts, th, true);
      } else if (test === Test.MEMBER) {
        for (const v of tree.sets.get(n)!) {
          addCut(cuts, v, false);
          addCut(cuts, v, true);
        }
      }
    }
  });

  const numFeature = forest.features.length;
  const allDirect = [...keys.keys()].every((k) => k[0] === "d");
  const columnOf = new Map<string, number>();
  const cutIndex = new Map<number, Map<number, [number, number]>>();
  if (forest.input === "f32" && allDirect) {
    // The row is the kernel row: column = feature.
    for (const key of keys.keys()) columnOf.set(key, Number(key.slice(1)));
    const columns = Array.from({ length: numFeature }, (_, f): PlanColumn => ({ mode: "direct", source: f }));
    return { plan: { identity: true, input: "f32", columns }, columnOf, cutIndex };
  }
  const columns: PlanColumn[] = [];
  for (const [key, { feature, flags }] of keys) {
    const c = columns.length;
    columnOf.set(key, c);
    if (key[0] === "d") columns.push({ mode: "direct", source: feature });
    else if (key[0] === "c")
      columns.push({
        mode: "category",
        source: feature,
        truncates: (flags & NodeFlag.CATEGORY_TRUNCATES) !== 0,
        nanAsZero: (flags & NodeFlag.NAN_AS_ZERO) !== 0,
      });
    else {
      const cuts = cutsOf.get(key) ?? new Map();
      const sorted = [...cuts.keys()].sort((a, b) => a - b);
      const values: number[] = [];
      const strict: number[] = [];
      const index = new Map<number, [number, number]>();
      for (const v of sorted) {
        const cut = cuts.get(v)!;
        const ge = cut.ge ? values.length : -1;
        if (cut.ge) {
          values.push(v);
          strict.push(0);
        }
        const gt = cut.gt ? values.length : -1;
        if (cut.gt) {
          values.push(v);
          strict.push(1);
        }
        index.set(v, [ge, gt]);
      }
      if (values.length > MAX_CUTS)
        throw new ModelError(
          "FORESTD_ERR_MODEL_TOO_LARGE",
          `feature ${feature} is compared with ${values.length} distinct cut points; the limit is ${MAX_CUTS}`,
        );
      cutIndex.set(c, index);
      columns.push({
        mode: "bins",
        source: feature,
        cuts: Float64Array.from(values),
        strict: Uint8Array.from(strict),
        nanAsZero: (flags & NodeFlag.NAN_AS_ZERO) !== 0,
        zeroIsMissing: (flags & NodeFlag.ZERO_IS_MISSING) !== 0,
      });
    }
  }
  return { plan: { identity: false, input: forest.input, columns }, columnOf, cutIndex };
}

/** A split lowered: swap the children? and a threshold, or a set (sorted integers). */
interface Lowered {
  swap: boolean;
  threshold: number;
  set: number[] | null;
}

function lowerDirect(test: number, t: number, set: Float64Array | undefined): Lowered {
  if (isSetTest(test)) return { swap: test === Test.IN_SET, threshold: 0, set: Array.from(set!) };
  // A NaN threshold answers every comparison false: the false child always (-Infinity: all go right).
  if (Number.isNaN(t)) return { swap: false, threshold: Number.NEGATIVE_INFINITY, set: null };
  switch (test) {
    case Test.LT:
      return { swap: false, threshold: atLeast32(t), set: null };
    case Test.LE:
      return { swap: false, threshold: above32(t), set: null };
    case Test.GT:
      return { swap: true, threshold: above32(t), set: null };
    default:
      return { swap: true, threshold: atLeast32(t), set: null };
  }
}

function lowerBins(
  test: number,
  t: number,
  set: Float64Array | undefined,
  index: Map<number, [number, number]>,
): Lowered {
  /** The bin of x == v: one past its ">=" cut. */
  const equalBin = (v: number) => index.get(v)![0] + 1;
  switch (test) {
    case Test.EQ:
      return { swap: true, threshold: 0, set: Number.isNaN(t) ? [] : [equalBin(t)] };
    case Test.NE:
      return { swap: false, threshold: 0, set: Number.isNaN(t) ? [] : [equalBin(t)] };
    case Test.MEMBER:
      return { swap: true, threshold: 0, set: Array.from(set!, equalBin).sort((a, b) => a - b) };
  }
  if (Number.isNaN(t)) return { swap: false, threshold: Number.NEGATIVE_INFINITY, set: null };
  const [ge, gt] = index.get(t)!;
  switch (test) {
    case Test.LT:
      return { swap: false, threshold: ge + 1, set: null };
    case Test.LE:
      return { swap: false, threshold: gt + 1, set: null };
    case Test.GT:
      return { swap: true, threshold: gt + 1, set: null };
    default:
      return { swap: true, threshold: ge + 1, set: null };
  }
}

/**
 * A tree's splits lowered, by node index (typed arrays rather than an object per split: a fully
 * grown forest has millions of them, and the compiler's scratch is alive beside its output).
 */
interface LoweredTree {
  /** 1 where the children swap. */
  readonly swap: Uint8Array;
  /** The kernel column the split reads. */
  readonly column: Int32Array;
  /** The lowered threshold (a float32 value, or a bin index) of a threshold split. */
  readonly threshold: Float64Array;
  /** The set of a split lowered to one (sorted integers), by node. */
  readonly sets: Map<number, number[]>;
}

function lowerTree(
  forest: Forest,
  tree: ForestTree,
  order: Int32Array,
  columnOf: Map<string, number>,
  cutIndex: Map<number, Map<number, [number, number]>>,
): LoweredTree {
  const out: LoweredTree = {
    swap: new Uint8Array(tree.numNodes),
    column: new Int32Array(tree.numNodes),
    threshold: new Float64Array(tree.numNodes),
    sets: new Map(),
  };
  for (const n of order) {
    if (tree.left[n] === -1) continue;
    const key = columnKey(forest, tree, n);
    const column = columnOf.get(key)!;
    const set = tree.sets.get(n);
    const l =
      key[0] === "b"
        ? lowerBins(tree.test[n], tree.threshold[n], set, cutIndex.get(column)!)
        : lowerDirect(tree.test[n], tree.threshold[n], set);
    out.swap[n] = l.swap ? 1 : 0;
    out.column[n] = column;
    out.threshold[n] = l.threshold;
    if (l.set) out.sets.set(n, l.set);
  }
  return out;
}

function wordsFor(set: readonly number[]): number {
  let max = -1;
  for (const c of set) if (c > max) max = c;
  return max < 0 ? 0 : (max >>> 5) + 1;
}

/**
 * Lowers a checked Forest. `options.shared`: the layout's arrays in SharedArrayBuffers, so a model
 * compiled into them is shared with other threads (model/shared.ts) as they are, without a copy;
 * `options.transientNodes`: but the node arrays (feature, threshold, leaf, left, missingRight) in
 * a plain buffer, for a caller that frees them once the kernel image holds them.
 */
export function compileForest(
  forest: Forest,
  options: { shared?: boolean; transientNodes?: boolean } = {},
): CompiledModel {
  const orders = forest.trees.map(reachable);
  const { plan, columnOf, cutIndex } = planColumns(forest, orders);
  const precision = forest.accumulate;

  // Compiled trees: one per (tree, leaf slot), in tree order.
  let numCompiled = 0;
  let numNodes = 0;
  forest.trees.forEach((tree, t) => {
    numCompiled += tree.leafWidth;
    numNodes += orders[t].length * tree.leafWidth;
  });

  // Lower every split once per Forest tree (copies share it).
  const lowered = forest.trees.map((tree, t) => lowerTree(forest, tree, orders[t], columnOf, cutIndex));
  let numSets = 0;
  let numSetWords = 0;
  forest.trees.forEach((tree, t) => {
    for (const set of lowered[t].sets.values()) {
      numSets += tree.leafWidth;
      numSetWords += wordsFor(set) * tree.leafWidth;
    }
  });
  if (numSetWords > MAX_CATEGORY_WORDS) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_TOO_LARGE",
      `categorical splits need ${numSetWords * 4} bytes of category sets; the limit is ${MAX_CATEGORY_WORDS * 4}`,
    );
  }

  // The node arrays in a buffer of their own: a model that keeps its nodes in the kernel image
  // only (model.ts) frees it once the image is laid out.
  const { feature, threshold, leaf, left, missingRight } = arraysIn(
    {
      feature: [Int32Array, numNodes],
      threshold: [Float32Array, numNodes],
      leaf: [precision === "f32" ? Float32Array : Float64Array, numNodes],
      left: [Int32Array, numNodes],
      missingRight: [Uint8Array, numNodes],
    },
    (options.shared ?? false) && !options.transientNodes,
  );
  const { nodeId, catFeature, catOffset, catWords, catBits, roots, groups, depths, categorical, treeOf } =
    arraysIn(
      {
        nodeId: [Int32Array, numNodes],
        catFeature: [Int32Array, numSets],
        catOffset: [Int32Array, numSets],
        catWords: [Int32Array, numSets],
        catBits: [Uint32Array, numSetWords],
        roots: [Int32Array, numCompiled],
        groups: [Int32Array, numCompiled],
        depths: [Int32Array, numCompiled],
        categorical: [Uint8Array, numCompiled],
        treeOf: [Int32Array, numCompiled],
      },
      options.shared ?? false,
    );
  let maxDepth = 0;
  let numLeaves = 0;
  let next = 0;
  let cat = 0;
  let catWord = 0;
  let compiled = 0;
  const round = precision === "f32" ? Math.fround : (x: number) => x;

  forest.trees.forEach((tree, t) => {
    const lowerOf = lowered[t];
    const weight = forest.treeWeight ? round(forest.treeWeight[t]) : 1;
    for (let slot = 0; slot < tree.leafWidth; slot++) {
      // Breadth first with each node's compiled-left child first, so the right is left + 1.
      const root = next;
      roots[compiled] = root;
      groups[compiled] = forest.treeGroup[t] + slot;
      treeOf[compiled] = t;
      const queue: number[] = [0];
      const depthOf: number[] = [0];
      let depth = 0;
      let tail = next + 1;
      for (let q = 0; q < queue.length; q++) {
        const n = queue[q];
        const at = next + q;
        nodeId[at] = n;
        if (tree.left[n] === -1) {
          feature[at] = LEAF;
          let v = round(tree.leafValue[n * tree.leafWidth + slot]);
          if (forest.treeWeight) v = round(v * weight);
          leaf[at] = v;
          numLeaves++;
          continue;
        }
        const swap = lowerOf.swap[n] === 1;
        const first = swap ? tree.right[n] : tree.left[n];
        const second = swap ? tree.left[n] : tree.right[n];
        left[at] = tail;
        tail += 2;
        queue.push(first, second);
        depthOf.push(depthOf[q] + 1, depthOf[q] + 1);
        if (depthOf[q] + 1 > depth) depth = depthOf[q] + 1;
        // NaN's side: the default child, wherever the swap put it.
        const defaultIsLeft = (tree.flags[n] & NodeFlag.DEFAULT_LEFT) !== 0;
        missingRight[at] = defaultIsLeft === swap ? 1 : 0;
        const column = lowerOf.column[n];
        const set = lowerOf.sets.get(n);
        if (set) {
          const words = wordsFor(set);
          catFeature[cat] = column;
          catOffset[cat] = catWord;
          catWords[cat] = words;
          for (const c of set) if (c < MAX_CATEGORY) catBits[catWord + (c >>> 5)] |= 1 << (c & 31);
          catWord += words;
          feature[at] = -2 - cat;
          categorical[compiled] = 1;
          cat++;
        } else {
          feature[at] = column;
          threshold[at] = lowerOf.threshold[n];
        }
      }
      depths[compiled] = depth;
      if (depth > maxDepth) maxDepth = depth;
      next += queue.length;
      compiled++;
    }
  });

  return {
    plan,
    forest: {
      feature,
      threshold,
      leaf,
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
      treeOf,
      nodeId,
      imageOnly: false,
      maxDepth,
      numNodes,
      numLeaves,
      numColumns: plan.columns.length,
      numGroups: forest.numGroups,
      precision,
      reduce: forest.aggregate.reduce,
    },
  };
}
