/**
 * One `Tree=` block → a Forest tree, as LightGBM's Tree(const char*, size_t*) reads it and
 * Tree::GetLeaf walks it (src/io/tree.cpp, include/LightGBM/tree.h).
 *
 * LightGBM numbers a tree's L - 1 splits 0..L-2 (the root is 0) and its L leaves 0..L-1 apart: a
 * child c >= 0 is split c, a child c < 0 is leaf ~c. Here split i is node i and leaf j is node
 * L - 1 + j, and leafId[node] = j, the index pred_leaf reports.
 *
 * A split's test, from its decision_type bits (kCategoricalMask 1, kDefaultLeftMask 2, missing type
 * in bits 2-3: None 0, Zero 1, NaN 2):
 * - numerical (NumericalDecision): x <= threshold goes left (Test.LE). Missing type None: NaN is
 *   compared as 0.0 (NAN_AS_ZERO). Zero: NaN becomes 0.0, then |x| <= kZeroThreshold goes the
 *   default way (NAN_AS_ZERO | ZERO_IS_MISSING). NaN: NaN goes the default way. DEFAULT_LEFT is set
 *   only where a default way exists (Zero, NaN); under None LightGBM never reads the bit.
 * - categorical (CategoricalDecision): the category is static_cast<int>(x), truncated toward zero
 *   (CATEGORY_TRUNCATES: -0.5 is category 0); a negative one goes right; the bitset
 *   cat_threshold[cat_boundaries[k] .. cat_boundaries[k+1]) with k = (int)threshold holds the
 *   categories that go left (Test.IN_SET), a category past its last word goes right. NaN goes
 *   right whatever the missing type and default_left say (no DEFAULT_LEFT, no NAN_AS_ZERO):
 *   explicitly since v3.3.0 (0012fc287, #4468); before it (v2.3.0-v3.2.1, which also wrote v3
 *   files) static_cast<int>(NaN) was undefined behaviour that x86-64 (cvttsd2si) turns into
 *   INT_MIN, which is negative, so those builds sent NaN right too, as #4468's example shows. The
 *   same holds for x >= 2^31 and -inf. A build that made NaN category 0 (ARM's fcvtzs) is not
 *   followed.
 *
 * One more rule is LightGBM's C API rather than its trees: predict() keeps a row's value only when
 * |x| > kZeroThreshold or x is NaN (c_api.cpp, RowPairFunctionFromDenseMatrix); anything nearer
 * zero reaches the trees as 0.0. That changes x <= t only when -kZeroThreshold <= t <
 * kZeroThreshold, and LightGBM writes such thresholds (its bins put a bound at -kZeroThreshold).
 * There "0.0 <= t" is rewritten exactly: for t >= 0 the test is x <= kZeroThreshold, for t < 0 it
 * is x < -kZeroThreshold, i.e. x <= the double below -kZeroThreshold. Missing type Zero is
 * unaffected (it sends every such x the default way already), as are categorical splits (such an
 * x truncates to 0 either way).
 */
import {
  invalidModel as invalid,
  modelTooLarge as tooLarge,
  unsupportedModel as unsupported,
} from "../../errors.js";
import { allocateTree, type MutableTree } from "../../forest/build.js";
import { LIMITS } from "../../forest/check.js";
import { NodeFlag, Test, ZERO_THRESHOLD } from "../../forest/forest.js";
import { doubles, integers, parseInteger } from "./numbers.js";
import type { TreeBlock } from "./text.js";

/** Most leaves a tree may have: its 2L - 1 nodes within the Forest's per-tree limit. */
export const MAX_LEAVES = (LIMITS.maxNodesPerTree + 1) / 2;
const INT32_MAX = 2 ** 31 - 1;
const CATEGORICAL = 1;
const DEFAULT_LEFT = 2;
const MISSING_NONE = 0;
const MISSING_ZERO = 1;
const MISSING_NAN = 2;

/** What a tree tells the model about its features. */
export interface FeatureUse {
  /** Per feature: 1 once a categorical split reads it. */
  readonly categorical: Uint8Array;
}

export interface ReadTree {
  readonly tree: MutableTree;
  /** Leaves (LightGBM's num_leaves). */
  readonly numLeaves: number;
}

/** The largest double below `x` (x finite and negative here). */
function nextDown(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  view.setBigUint64(0, x > 0 ? bits - 1n : bits + 1n);
  return view.getFloat64(0);
}

/** The threshold that gives LightGBM's answer once values within kZeroThreshold of 0 read as 0.0. */
export function zeroedThreshold(t: number): number {
  if (t < -ZERO_THRESHOLD || t >= ZERO_THRESHOLD) return t;
  return t >= 0 ? ZERO_THRESHOLD : nextDown(-ZERO_THRESHOLD);
}

export function readTree(block: TreeBlock, numFeatures: number, use: FeatureUse): ReadTree {
  const t = block.index;
  const where = (field: string) => `tree ${t} field ${field}`;
  const field = (key: string): string => {
    const value = block.fields.get(key);
    if (value === undefined) invalid(`tree ${t} (line ${block.line}) has no ${key} line`);
    return value;
  };
  const optional = (key: string): string | null => block.fields.get(key) ?? null;

  const numLeaves = parseInteger(field("num_leaves"), 1, INT32_MAX);
  if (numLeaves === undefined)
    invalid(
      `tree ${t}: num_leaves is ${JSON.stringify(field("num_leaves").slice(0, 20))}, not a positive integer`,
    );
  if (numLeaves > MAX_LEAVES) tooLarge(`tree ${t} has ${numLeaves} leaves; the limit is ${MAX_LEAVES}`);
  const numSplits = numLeaves - 1;
  const numCat = parseInteger(field("num_cat"), 0, numSplits);
  if (numCat === undefined)
    invalid(
      `tree ${t}: num_cat is ${JSON.stringify(field("num_cat").slice(0, 20))}, not an integer in [0, ${numSplits}]`,
    );
  const linear = optional("is_linear");
  if (linear !== null && linear !== "0") {
    if (linear === "1")
      unsupported(
        `tree ${t} is a linear tree (is_linear=1: the model was trained with linear_tree=true, a linear model in each leaf); forestd does not serve linear trees`,
      );
    invalid(`tree ${t}: is_linear is ${JSON.stringify(linear.slice(0, 20))}, not 0 or 1`);
  }

  const leafValue = doubles(field("leaf_value"), numLeaves, where("leaf_value"));
  for (let j = 0; j < numLeaves; j++)
    if (!Number.isFinite(leafValue[j])) invalid(`${where("leaf_value")}[${j}] is ${leafValue[j]}`);
  const leafCountText = optional("leaf_count");
  const leafCount =
    leafCountText === null ? null : integers(leafCountText, numLeaves, where("leaf_count"), 0, INT32_MAX);
  if (numLeaves === 1) {
    // LightGBM reads nothing more of a one-leaf tree (its split fields are empty lines).
    const tree = allocateTree(1, { cover: leafCount !== null, leafId: true });
    tree.leafValue[0] = leafValue[0];
    tree.leafId![0] = 0;
    if (leafCount) tree.cover![0] = leafCount[0];
    return { tree, numLeaves };
  }

  const left = integers(field("left_child"), numSplits, where("left_child"), -numLeaves, numSplits - 1);
  const right = integers(field("right_child"), numSplits, where("right_child"), -numLeaves, numSplits - 1);
  const feature = integers(field("split_feature"), numSplits, where("split_feature"), 0, INT32_MAX);
  for (let i = 0; i < numSplits; i++)
    if (feature[i] >= numFeatures)
      invalid(
        `${where("split_feature")}[${i}] = ${feature[i]}, but the model has ${numFeatures} features (max_feature_idx=${numFeatures - 1})`,
      );
  const threshold = doubles(field("threshold"), numSplits, where("threshold"));
  const decisionText = optional("decision_type");
  const decision =
    decisionText === null
      ? new Float64Array(numSplits)
      : integers(decisionText, numSplits, where("decision_type"), 0, 127);
  for (let i = 0; i < numSplits; i++) {
    const d = decision[i];
    if (d > 15)
      invalid(`${where("decision_type")}[${i}] = ${d}: LightGBM's decision types use bits 0-3 only`);
    if (((d >> 2) & 3) > MISSING_NAN)
      invalid(
        `${where("decision_type")}[${i}] = ${d}: missing type ${(d >> 2) & 3} is not None, Zero or NaN`,
      );
  }
  const internalCountText = optional("internal_count");
  const internalCount =
    internalCountText === null
      ? null
      : integers(internalCountText, numSplits, where("internal_count"), 0, INT32_MAX);
  for (const key of ["split_gain", "internal_value", "internal_weight"]) checkCount(block, key, numSplits);
  checkCount(block, "leaf_weight", numLeaves);

  const sets = numCat > 0 ? readBitsets(block, numCat) : null;

  const numNodes = 2 * numLeaves - 1;
  const cover = leafCount !== null && internalCount !== null;
  const tree = allocateTree(numNodes, { cover, leafId: true });
  const leafNode = (j: number) => numSplits + j;
  const nodeOf = (child: number) => (child >= 0 ? child : leafNode(~child));
  for (let j = 0; j < numLeaves; j++) {
    tree.leafValue[leafNode(j)] = leafValue[j];
    tree.leafId![leafNode(j)] = j;
    if (cover) tree.cover![leafNode(j)] = leafCount![j];
  }
  for (let i = 0; i < numSplits; i++) {
    tree.leafId![i] = -1;
    tree.left[i] = nodeOf(left[i]);
    tree.right[i] = nodeOf(right[i]);
    tree.feature[i] = feature[i];
    if (cover) tree.cover![i] = internalCount![i];
    const d = decision[i];
    const th = threshold[i];
    if (d & CATEGORICAL) {
      if (!sets) invalid(`${where("decision_type")}[${i}] is categorical, but num_cat is 0`);
      if (!Number.isInteger(th) || th < 0 || th >= numCat)
        invalid(
          `${where("threshold")}[${i}] = ${th} names bitset ${th}, but the tree has num_cat=${numCat} bitsets`,
        );
      tree.test[i] = Test.IN_SET;
      tree.flags[i] = NodeFlag.CATEGORY_TRUNCATES;
      tree.threshold[i] = th;
      tree.sets.set(i, sets[th]);
      use.categorical[feature[i]] = 1;
    } else {
      // inf is a threshold LightGBM writes (missing type NaN: every number left, NaN right).
      if (Number.isNaN(th)) invalid(`${where("threshold")}[${i}] is NaN`);
      const missing = (d >> 2) & 3;
      tree.test[i] = Test.LE;
      tree.threshold[i] = missing === MISSING_ZERO ? th : zeroedThreshold(th);
      tree.flags[i] =
        missing === MISSING_NONE
          ? NodeFlag.NAN_AS_ZERO
          : (d & DEFAULT_LEFT ? NodeFlag.DEFAULT_LEFT : 0) |
            (missing === MISSING_ZERO ? NodeFlag.NAN_AS_ZERO | NodeFlag.ZERO_IS_MISSING : 0);
    }
  }
  checkShape(t, left, right, numLeaves);
  return { tree, numLeaves };
}

/** A field forestd does not use must still hold as many values as LightGBM reads. */
function checkCount(block: TreeBlock, key: string, count: number): void {
  const text = block.fields.get(key);
  if (text !== undefined) doubles(text, count, `tree ${block.index} field ${key}`);
}

/** Each bitset's categories: bit b of word w is category 32 w + b. */
function readBitsets(block: TreeBlock, numCat: number): Float64Array[] {
  const t = block.index;
  const text = (key: string) => {
    const v = block.fields.get(key);
    if (v === undefined) invalid(`tree ${t} has num_cat=${numCat} but no ${key} line`);
    return v;
  };
  const bounds = integers(text("cat_boundaries"), numCat + 1, `tree ${t} field cat_boundaries`, 0, INT32_MAX);
  if (bounds[0] !== 0)
    invalid(`tree ${t} field cat_boundaries[0] = ${bounds[0]}; the first bitset starts at 0`);
  for (let k = 1; k <= numCat; k++)
    if (bounds[k] < bounds[k - 1])
      invalid(
        `tree ${t} field cat_boundaries[${k}] = ${bounds[k]} is before cat_boundaries[${k - 1}] = ${bounds[k - 1]}`,
      );
  const words = integers(
    text("cat_threshold"),
    bounds[numCat],
    `tree ${t} field cat_threshold`,
    0,
    2 ** 32 - 1,
  );
  const sets: Float64Array[] = [];
  for (let k = 0; k < numCat; k++) {
    const categories: number[] = [];
    for (let w = bounds[k]; w < bounds[k + 1]; w++) {
      const word = words[w];
      if (word === 0) continue;
      const base = 32 * (w - bounds[k]);
      if (base >= LIMITS.maxCategory)
        tooLarge(
          `tree ${t} field cat_threshold[${w}] (bitset ${k}, word ${w - bounds[k]}) names categories from ${base}; forestd's largest is 2^24 - 1`,
        );
      for (let b = 0; b < 32; b++) if ((word >>> b) & 1) categories.push(base + b);
    }
    sets.push(Float64Array.from(categories));
  }
  return sets;
}

/** Every split and leaf reached exactly once from the root: no cycle, no shared or orphan node. */
function checkShape(t: number, left: Float64Array, right: Float64Array, numLeaves: number): void {
  const numSplits = numLeaves - 1;
  const seenSplit = new Uint8Array(numSplits);
  const seenLeaf = new Uint8Array(numLeaves);
  const stack = new Int32Array(numSplits);
  let top = 0;
  stack[top++] = 0;
  seenSplit[0] = 1;
  while (top > 0) {
    const i = stack[--top];
    for (const [name, children] of [
      ["left_child", left],
      ["right_child", right],
    ] as const) {
      const c = children[i];
      if (c >= 0) {
        if (seenSplit[c])
          invalid(
            `tree ${t} field ${name}[${i}] = ${c} leads to split ${c} again (a cycle or a shared child)`,
          );
        seenSplit[c] = 1;
        stack[top++] = c;
      } else {
        if (seenLeaf[~c])
          invalid(`tree ${t} field ${name}[${i}] = ${c} leads to leaf ${~c} again (a shared leaf)`);
        seenLeaf[~c] = 1;
      }
    }
  }
  const orphanSplit = seenSplit.indexOf(0);
  if (orphanSplit !== -1) invalid(`tree ${t}: split ${orphanSplit} is never reached from the root`);
  const orphanLeaf = seenLeaf.indexOf(0);
  if (orphanLeaf !== -1) invalid(`tree ${t}: leaf ${orphanLeaf} is never reached from the root`);
}
