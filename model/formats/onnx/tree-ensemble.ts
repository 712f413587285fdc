/**
 * An ONNX-ML tree-ensemble node (TreeEnsembleClassifier / TreeEnsembleRegressor, ai.onnx.ml opsets
 * 1 and 3; TreeEnsemble, opset 5) → Forest trees, plus what the output head needs (base values,
 * post_transform, class labels).
 *
 * How onnxruntime scores (tree_ensemble_common.h, tree_ensemble_aggregator.h,
 * tree_ensemble_attribute.h), and how each rule lands here:
 * - A tree is a run of nodes with the same tree id; its root is the run's first node. Children are
 *   found by (tree id, node id).
 * - BRANCH_LEQ sends x to the true child when x <= t (or when x is NaN and the node's
 *   missing_value_tracks_true is set): the Forest's own Test.LE with the true child on the left
 *   (and NodeFlag.DEFAULT_LEFT for missing_value_tracks_true); LT, GTE, GT, EQ likewise. NEQ sends
 *   NaN to its true child whatever the flag says (NaN != t is true), so it is always DEFAULT_LEFT.
 * - onnxmltools writes a LightGBM categorical split "x in {a, b, c}" as a chain of BRANCH_EQ nodes,
 *   each one's false child the next, all sharing one true child (so the "tree" is a graph).
 *   onnxruntime walks that graph; here each such chain becomes one Test.MEMBER node with the
 *   chain's values (exactly equivalent: the chain reaches the shared child iff x equals one of
 *   them; NaN goes the way every node of the chain sends it). Any other shared child is copied.
 * - opset 5's BRANCH_MEMBER: a set of fewer than 31 values, all within [0, 30], is unrolled by
 *   onnxruntime into such a chain (exact equality: Test.MEMBER). A larger set is a "big set": x is
 *   truncated to an int32 and looked up, and every member must be an integer. That is Test.IN_SET
 *   with CATEGORY_TRUNCATES when the members are in [0, 2^24): for x in (-1, 2^24) both truncate
 *   and look up; x <= -1 truncates to a negative number no such set holds; x >= 2^24 (or past
 *   int32, which onnxruntime's conversion turns into INT_MIN) to one it cannot hold either; NaN
 *   follows the node's flag in both. Sets with members outside [0, 2^24) are refused.
 * - Leaves add each of their weights to its class's score, in the threshold type (float32 for
 *   float inputs, float64 for double inputs), tree after tree, starting from 0; base values come
 *   after. A leaf with weights for several classes (a random forest's probabilities) becomes one
 *   copy of its tree per class, each copy adding that class's weight: each class's sum keeps
 *   onnxruntime's order, so it is bit-identical. MIN / MAX take each leaf's weight instead.
 * - With one output (a single-target regressor) onnxruntime adds a leaf's first weight only.
 */
import {
  invalidModel as invalid,
  modelTooLarge as tooLarge,
  unsupportedModel as unsupported,
} from "../../errors.js";
import { allocateTree, type MutableTree } from "../../forest/build.js";
import { LIMITS } from "../../forest/check.js";
import { NodeFlag, type Precision, Test } from "../../forest/forest.js";
import type { Aggregate, PostTransform } from "../../heads/onnx.js";
import type { OnnxAttribute, OnnxNode, OnnxTensor } from "./onnx-proto.js";
import { AttributeType, DATA_TYPE_NAMES, DataType } from "./onnx-proto.js";

const MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ", "LEAF"];
const EQ_MODE = 4;
const NEQ_MODE = 5;
const LEAF_MODE = 6;
/** opset 5's BRANCH_MEMBER, carried through the opset-3 form with its set (never an opset-3 mode). */
const MEMBER_MODE = 7;
/** Each branch mode's Forest test ("true → left"). */
const MODE_TESTS: readonly number[] = [Test.LE, Test.LT, Test.GE, Test.GT, Test.EQ, Test.NE];
/** onnxruntime unrolls member sets smaller than this, of values within [0, 30], into BRANCH_EQ chains. */
const SMALL_SET = 31;
/** A tree whose shared subtrees would copy into more nodes than this many times its own is refused. */
const SHARING_GROWTH = 16;

export interface EnsembleSpec {
  readonly kind: "classifier" | "regressor";
  /** Trees as forestd scores them: one per (ONNX tree, class, weight slot). */
  readonly trees: MutableTree[];
  readonly treeGroup: number[];
  /** Trees in the ONNX node (onnxruntime's n_trees, which AVERAGE divides by). */
  readonly numOnnxTrees: number;
  /** Scores per row: classes (classifier) or n_targets (regressor). */
  readonly numScores: number;
  readonly postTransform: PostTransform;
  readonly aggregate: Aggregate;
  /** base_values in the threshold type, as onnxruntime holds them. */
  readonly baseValues: readonly number[];
  /** Classifier labels: strings or int64s; null for regressors. */
  readonly classLabels: readonly string[] | readonly number[] | null;
  /** Per score column: whether some leaf weight ever feeds it on every row (onnxruntime's has_score). */
  readonly hasScore: readonly boolean[];
  /** onnxruntime's binary_case_: two classes, weights for one class id only. */
  readonly binaryCase: boolean;
  readonly weightsAllPositive: boolean;
  /** Largest feature index read by a split, or -1. */
  readonly maxFeature: number;
  readonly numNodes: number;
  /** Features some split compares for equality or membership (categorical features). */
  readonly categorical: ReadonlySet<number>;
}

/** Reads a node's attributes with errors that name the node and the attribute. */
class Attributes {
  constructor(
    readonly node: OnnxNode,
    readonly where: string,
    /** The threshold type: float attributes for float inputs; float or double ones for double inputs. */
    readonly precision: Precision,
  ) {}

  #get(name: string, type: number): OnnxAttribute | undefined {
    const a = this.node.attributes.get(name);
    if (a === undefined) return undefined;
    // Writers may leave `type` unset (0); trust the payload then.
    if (a.type !== 0 && a.type !== type)
      invalid(`${this.where}: attribute ${name} has type ${a.type}, expected ${type}`);
    return a;
  }

  ints(name: string): readonly number[] {
    return this.#get(name, AttributeType.INTS)?.ints ?? [];
  }

  floats(name: string): readonly number[] {
    return this.#get(name, AttributeType.FLOATS)?.floats ?? [];
  }

  strings(name: string): readonly string[] {
    return this.#get(name, AttributeType.STRINGS)?.strings ?? [];
  }

  string(name: string, dflt: string): string {
    return this.#get(name, AttributeType.STRING)?.s ?? dflt;
  }

  int(name: string, dflt: number): number {
    return this.#get(name, AttributeType.INT)?.i ?? dflt;
  }

  tensorOf(name: string): OnnxTensor | undefined {
    return this.#get(name, AttributeType.TENSOR)?.t;
  }

  /** An integer tensor attribute's values (opset 5's nodes_modes), or [] when absent. */
  integers(name: string): readonly number[] {
    const t = this.tensorOf(name);
    if (t === undefined) return [];
    if (t.dataType === DataType.FLOAT || t.dataType === DataType.DOUBLE)
      invalid(`${this.where}: ${name} holds ${DATA_TYPE_NAMES[t.dataType]}s; it takes integers`);
    return t.values;
  }

  /**
   * A number tensor attribute (opset 5's splits, weights, members), in the threshold type: float
   * tensors for float inputs, double tensors for double inputs (onnxruntime's own pairing).
   */
  numbers(name: string): readonly number[] {
    const t = this.tensorOf(name);
    if (t === undefined) return [];
    const want = this.precision === "f64" ? DataType.DOUBLE : DataType.FLOAT;
    if (t.dataType !== want)
      unsupported(
        `${this.where}: ${name} holds ${DATA_TYPE_NAMES[t.dataType] ?? t.dataType} values but the ensemble reads ${this.precision === "f64" ? "double" : "float"} inputs; onnxruntime pairs float with float and double with double`,
      );
    return t.values;
  }

  /** A float list given either as `name` (floats) or `name_as_tensor` (a double tensor, for double inputs). */
  floatsOrTensor(name: string): readonly number[] {
    const plain = this.floats(name);
    const tensor = this.tensorOf(`${name}_as_tensor`);
    if (tensor === undefined) return plain;
    if (plain.length > 0) invalid(`${this.where}: both ${name} and ${name}_as_tensor are set`);
    if (tensor.dataType !== DataType.DOUBLE && tensor.dataType !== DataType.FLOAT)
      invalid(
        `${this.where}: ${name}_as_tensor has type ${DATA_TYPE_NAMES[tensor.dataType] ?? tensor.dataType}`,
      );
    if (this.precision === "f32")
      unsupported(
        `${this.where}: ${name}_as_tensor holds ${tensor.dataType === DataType.DOUBLE ? "doubles" : "floats"} but the ensemble reads float inputs; onnxruntime reads *_as_tensor attributes with double inputs only`,
      );
    return tensor.values;
  }
}

function sameLength(
  a: Attributes,
  names: string[],
  arrays: (readonly unknown[])[],
  required: boolean[],
): void {
  const n = arrays[0].length;
  arrays.forEach((arr, k) => {
    if (arr.length === n || (!required[k] && arr.length === 0)) return;
    invalid(`${a.where}: ${names[k]} has ${arr.length} entries but ${names[0]} has ${n}`);
  });
}

/** Rounds a threshold-type value as onnxruntime holds it. */
function rounder(precision: Precision): (x: number) => number {
  return precision === "f32" ? Math.fround : (x) => x;
}

/**
 * TreeEnsembleClassifier / TreeEnsembleRegressor. `precision` is the threshold type: f32 for a
 * float input, f64 for a double one (onnxruntime widens float attributes then).
 */
export function readTreeEnsemble(node: OnnxNode, where: string, precision: Precision = "f32"): EnsembleSpec {
  const a = new Attributes(node, where, precision);
  const kind = node.opType === "TreeEnsembleClassifier" ? "classifier" : "regressor";
  const treeIds = a.ints("nodes_treeids");
  const nodeIds = a.ints("nodes_nodeids");
  const featureIds = a.ints("nodes_featureids");
  const modeNames = a.strings("nodes_modes");
  const values = a.floatsOrTensor("nodes_values");
  const trueIds = a.ints("nodes_truenodeids");
  const falseIds = a.ints("nodes_falsenodeids");
  const missingTrue = a.ints("nodes_missing_value_tracks_true");
  sameLength(
    a,
    [
      "nodes_treeids",
      "nodes_nodeids",
      "nodes_featureids",
      "nodes_modes",
      "nodes_values",
      "nodes_truenodeids",
      "nodes_falsenodeids",
      "nodes_missing_value_tracks_true",
    ],
    [treeIds, nodeIds, featureIds, modeNames, values, trueIds, falseIds, missingTrue],
    [true, true, true, true, true, true, true, false],
  );
  const n = treeIds.length;
  if (n === 0) invalid(`${where}: the ensemble has no nodes`);
  if (n > LIMITS.maxTotalNodes) tooLarge(`${where}: ${n} nodes; the limit is ${LIMITS.maxTotalNodes}`);

  const prefix = kind === "classifier" ? "class" : "target";
  const wTrees = a.ints(`${prefix}_treeids`);
  const wNodes = a.ints(`${prefix}_nodeids`);
  const wIds = a.ints(`${prefix}_ids`);
  const wValues = a.floatsOrTensor(`${prefix}_weights`);
  sameLength(
    a,
    [`${prefix}_treeids`, `${prefix}_nodeids`, `${prefix}_ids`, `${prefix}_weights`],
    [wTrees, wNodes, wIds, wValues],
    [true, true, true, true],
  );

  let classLabels: readonly string[] | readonly number[] | null = null;
  let numScores: number;
  if (kind === "classifier") {
    const strings = a.strings("classlabels_strings");
    const ints = a.ints("classlabels_int64s");
    if (strings.length > 0 && ints.length > 0)
      invalid(`${where}: both classlabels_strings and classlabels_int64s are set`);
    classLabels = strings.length > 0 ? strings : ints;
    numScores = classLabels.length;
    if (numScores < 2) unsupported(`${where}: a classifier with ${numScores} class label(s)`);
  } else {
    numScores = a.int("n_targets", 0);
    if (numScores < 1) invalid(`${where}: n_targets is ${numScores}; it must be at least 1`);
  }
  if (numScores > LIMITS.maxOutputs)
    tooLarge(`${where}: ${numScores} outputs; the limit is ${LIMITS.maxOutputs}`);

  const postTransform = a.string("post_transform", "NONE") as PostTransform;
  if (!["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"].includes(postTransform))
    invalid(`${where}: post_transform "${String(postTransform).slice(0, 40)}" is not an ONNX transform`);
  const aggregate = a.string("aggregate_function", "SUM") as Aggregate;
  if (!["SUM", "AVERAGE", "MIN", "MAX"].includes(aggregate))
    invalid(`${where}: aggregate_function "${String(aggregate).slice(0, 40)}" is not an ONNX aggregate`);
  const baseValues = a.floatsOrTensor("base_values").map(rounder(precision));
  // onnxruntime's own rule (tree_ensemble_attribute.h): 0 or one per output; binary classifiers 0 to 2.
  const binaryClassifier = kind === "classifier" && numScores <= 2;
  if (binaryClassifier ? baseValues.length > 2 : baseValues.length !== 0 && baseValues.length !== numScores) {
    invalid(
      `${where}: base_values has ${baseValues.length} values; it must have ${binaryClassifier ? "0, 1 or 2" : `0 or ${numScores}`}`,
    );
  }
  const modes = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const m = MODES.indexOf(modeNames[i]);
    if (m < 0)
      invalid(`${where}: nodes_modes[${i}] is "${modeNames[i].slice(0, 40)}", not an ONNX node mode`);
    modes[i] = m;
  }
  return assemble(
    {
      kind,
      prefix,
      precision,
      treeIds,
      nodeIds,
      featureIds,
      modes,
      values,
      members: new Map(),
      trueIds,
      falseIds,
      missingTrue,
      wTrees,
      wNodes,
      wIds,
      wValues,
      classLabels,
      numScores,
      postTransform,
      aggregate,
      baseValues,
    },
    where,
  );
}

/** The ensemble as opset 1/3 attributes spell it (opset 5's TreeEnsemble is converted to this). */
interface V3Attributes {
  kind: "classifier" | "regressor";
  /** "class" or "target": how the weight attributes are named, for messages. */
  prefix: string;
  precision: Precision;
  treeIds: readonly number[];
  nodeIds: readonly number[];
  featureIds: readonly number[];
  /** Per node, an index into MODES (or MEMBER_MODE). */
  modes: Uint8Array;
  values: readonly number[];
  /** MEMBER_MODE nodes' sets. */
  members: ReadonlyMap<number, readonly number[]>;
  trueIds: readonly number[];
  falseIds: readonly number[];
  missingTrue: readonly number[];
  wTrees: readonly number[];
  wNodes: readonly number[];
  wIds: readonly number[];
  wValues: readonly number[];
  classLabels: readonly string[] | readonly number[] | null;
  numScores: number;
  postTransform: PostTransform;
  aggregate: Aggregate;
  baseValues: readonly number[];
}

/** A split as the Forest will hold it, before the tree is laid out. */
interface Split {
  test: number;
  threshold: number;
  flags: number;
  set: Float64Array | null;
  /** Attribute indices of the true and false children. */
  yes: number;
  no: number;
}

function assemble(v: V3Attributes, where: string): EnsembleSpec {
  const {
    kind,
    prefix,
    precision,
    treeIds,
    nodeIds,
    featureIds,
    modes,
    values,
    trueIds,
    falseIds,
    missingTrue,
  } = v;
  const { wTrees, wNodes, wIds, wValues, classLabels, numScores, postTransform, aggregate, baseValues } = v;
  const n = treeIds.length;
  const round = rounder(precision);
  const tracksTrue = (i: number) => missingTrue.length > 0 && missingTrue[i] === 1;

  // Each tree's nodes by node id (a tree's nodes are contiguous, so one small map per tree).
  const treeIndex = new Map<number, number>();
  const nodesOf: Map<number, number>[] = [];
  const treeStarts: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i === 0 || treeIds[i] !== treeIds[i - 1]) {
      if (treeIndex.has(treeIds[i]))
        invalid(`${where}: nodes_treeids[${i}]: the nodes of tree ${treeIds[i]} are not contiguous`);
      treeIndex.set(treeIds[i], treeStarts.length);
      treeStarts.push(i);
      nodesOf.push(new Map());
    }
    const nodes = nodesOf[nodesOf.length - 1];
    if (nodes.has(nodeIds[i]))
      invalid(`${where}: nodes_nodeids[${i}]: node ${nodeIds[i]} of tree ${treeIds[i]} appears twice`);
    nodes.set(nodeIds[i], i);
  }
  /** The attribute index of node `node` of tree `tree`, or undefined. */
  const position = (tree: number, node: number): number | undefined => {
    const t = treeIndex.get(tree);
    return t === undefined ? undefined : nodesOf[t].get(node);
  };
  if (treeStarts.length > LIMITS.maxTrees)
    tooLarge(`${where}: ${treeStarts.length} trees; the limit is ${LIMITS.maxTrees}`);

  // Leaf weights, in attribute order per leaf (onnxruntime sorts by (tree, node, index)).
  const leafWeights = new Map<number, { id: number; value: number }[]>();
  const classesWithWeights = new Set<number>();
  let weightsAllPositive = true;
  for (let w = 0; w < wTrees.length; w++) {
    const at = position(wTrees[w], wNodes[w]);
    if (at === undefined)
      invalid(`${where}: ${prefix}_nodeids[${w}]: tree ${wTrees[w]} has no node ${wNodes[w]}`);
    if (!Number.isInteger(wIds[w]) || wIds[w] < 0 || wIds[w] >= numScores)
      invalid(
        `${where}: ${prefix}_ids[${w}] is ${wIds[w]}; the model has ${numScores} ${kind === "classifier" ? "classes" : "targets"}`,
      );
    if (wValues[w] < 0) weightsAllPositive = false;
    classesWithWeights.add(wIds[w]);
    if (modes[at] !== LEAF_MODE) continue; // onnxruntime ignores weights on split nodes
    let list = leafWeights.get(at);
    if (!list) {
      list = [];
      leafWeights.set(at, list);
    }
    list.push({ id: wIds[w], value: round(wValues[w]) });
  }

  const trees: MutableTree[] = [];
  const treeGroup: number[] = [];
  // Per column: 0 never fed, 1 fed on some rows, 2 fed on every row.
  const fed = new Uint8Array(numScores);
  let maxFeature = -1;
  const categorical = new Set<number>();
  const singleOutput = kind === "regressor" && numScores === 1;
  const extremes = aggregate === "MIN" || aggregate === "MAX";
  let totalNodes = 0;

  treeStarts.forEach((start, t) => {
    const tree = treeIds[start];
    const end = t + 1 < treeStarts.length ? treeStarts[t + 1] : n;
    const child = (i: number, name: string, id: number): number => {
      const c = position(tree, id);
      if (c === undefined) invalid(`${where}: ${name}[${i}]: tree ${tree} has no node ${id}`);
      if (c === i) invalid(`${where}: ${name}[${i}]: node ${id} of tree ${tree} is its own child (a cycle)`);
      return c;
    };

    // 1. The tree's graph from its root: every node reached, no cycle, how many parents each has.
    const parents = new Map<number, number>();
    const state = new Map<number, 1 | 2>(); // 1 on the current path, 2 done
    const stack: { i: number; next: number }[] = [{ i: start, next: 0 }];
    state.set(start, 1);
    parents.set(start, 0);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const i = top.i;
      if (modes[i] === LEAF_MODE || top.next === 2) {
        state.set(i, 2);
        stack.pop();
        continue;
      }
      const side = top.next++;
      const c =
        side === 0 ? child(i, "nodes_truenodeids", trueIds[i]) : child(i, "nodes_falsenodeids", falseIds[i]);
      parents.set(c, (parents.get(c) ?? 0) + 1);
      const s = state.get(c);
      if (s === 1)
        invalid(
          `${where}: ${side === 0 ? "nodes_truenodeids" : "nodes_falsenodeids"}[${i}]: node ${nodeIds[c]} of tree ${tree} leads back to node ${nodeIds[i]} (a cycle)`,
        );
      if (s === undefined) {
        state.set(c, 1);
        stack.push({ i: c, next: 0 });
      }
    }
    if (state.size !== end - start) {
      const stray = Array.from({ length: end - start }, (_, k) => start + k).find((i) => !state.has(i));
      invalid(
        `${where}: nodes_nodeids[${stray}]: node ${nodeIds[stray ?? start]} of tree ${tree} is not reachable from its root`,
      );
    }

    // 2. Each split as the Forest holds it; BRANCH_EQ chains sharing their true child become one
    //    member test (the chain's later nodes are then skipped).
    const splits = new Map<number, Split>();
    for (const [i] of state) {
      const mode = modes[i];
      if (mode === LEAF_MODE || splits.has(i)) continue;
      const feature = featureIds[i];
      if (!Number.isInteger(feature) || feature < 0 || feature >= LIMITS.maxFeatures)
        invalid(`${where}: nodes_featureids[${i}] is ${feature}`);
      if (feature > maxFeature) maxFeature = feature;
      const yes = position(tree, trueIds[i])!;
      let no = position(tree, falseIds[i])!;
      let flags = tracksTrue(i) ? NodeFlag.DEFAULT_LEFT : 0;
      if (mode === MEMBER_MODE) {
        categorical.add(feature);
        splits.set(i, memberSplit(v.members.get(i)!, flags, yes, no, i, where, round));
        continue;
      }
      if (mode === EQ_MODE) {
        categorical.add(feature);
        const set = [round(values[i])];
        for (;;) {
          const j = no;
          if (
            modes[j] !== EQ_MODE ||
            featureIds[j] !== feature ||
            tracksTrue(j) !== tracksTrue(i) ||
            position(tree, trueIds[j]) !== yes ||
            parents.get(j) !== 1
          )
            break;
          set.push(round(values[j]));
          splits.set(j, { test: -1, threshold: 0, flags: 0, set: null, yes: -1, no: -1 }); // folded
          parents.set(yes, parents.get(yes)! - 1);
          no = position(tree, falseIds[j])!;
        }
        if (set.length > 1) {
          splits.set(i, { test: Test.MEMBER, threshold: 0, flags, set: sortedSet(set), yes, no });
          continue;
        }
      }
      if (mode === NEQ_MODE) {
        categorical.add(feature);
        flags = NodeFlag.DEFAULT_LEFT; // NaN != t: onnxruntime's NEQ sends NaN to its true child
      }
      splits.set(i, { test: MODE_TESTS[mode], threshold: round(values[i]), flags, set: null, yes, no });
    }

    // 3. Laid out from the root, a node with several parents copied under each.
    const order: number[] = []; // Forest node → attribute index
    const budget = SHARING_GROWTH * (end - start) + 1024;
    const lefts: number[] = [];
    const rights: number[] = [];
    const place = (root: number): void => {
      const work: { i: number; parent: number; side: 0 | 1 }[] = [{ i: root, parent: -1, side: 0 }];
      while (work.length > 0) {
        const { i, parent, side } = work.pop()!;
        const k = order.length;
        if (k >= budget || totalNodes + k >= LIMITS.maxTotalNodes)
          tooLarge(
            `${where}: tree ${tree} shares subtrees so much that it would take more than ${budget} nodes`,
          );
        order.push(i);
        lefts.push(-1);
        rights.push(-1);
        if (parent >= 0) (side === 0 ? lefts : rights)[parent] = k;
        const split = splits.get(i);
        if (modes[i] === LEAF_MODE || !split) continue;
        work.push({ i: split.no, parent: k, side: 1 }, { i: split.yes, parent: k, side: 0 });
      }
    };
    place(start);
    const size = order.length;
    totalNodes += size;
    // One shape for every copy of this tree; copies differ in their leaf values only.
    const shape = allocateTree(size);
    const leaves: number[] = [];
    for (let k = 0; k < size; k++) {
      const i = order[k];
      if (modes[i] === LEAF_MODE) {
        leaves.push(k);
        continue;
      }
      const split = splits.get(i)!;
      shape.left[k] = lefts[k];
      shape.right[k] = rights[k];
      shape.feature[k] = featureIds[i];
      shape.test[k] = split.test;
      shape.threshold[k] = split.threshold;
      shape.flags[k] = split.flags;
      if (split.set) shape.sets.set(k, split.set);
    }
    const left = shape.left;
    // Leaf values per copy of the tree: a copy per (column, k-th weight of that column on a leaf).
    // Counted in typed arrays (large forests have a few hundred thousand leaves).
    const slotsHere = new Int32Array(numScores); // per column: most weights one leaf gives it
    const leavesWith = new Int32Array(numScores); // per column: leaves carrying it
    const perLeaf = new Int32Array(numScores);
    if (!singleOutput) {
      for (const k of leaves) {
        const list = leafWeights.get(order[k]);
        if (!list) continue;
        for (const w of list) {
          if (perLeaf[w.id]++ === 0) leavesWith[w.id]++;
          if (perLeaf[w.id] > slotsHere[w.id]) slotsHere[w.id] = perLeaf[w.id];
        }
        for (const w of list) perLeaf[w.id] = 0;
      }
      for (let column = 0; column < numScores; column++) {
        if (leavesWith[column] > 0)
          fed[column] = Math.max(fed[column], leavesWith[column] === leaves.length ? 2 : 1);
        if (extremes && slotsHere[column] > 1)
          unsupported(
            `${where}: a leaf of tree ${tree} gives ${prefix} ${column} ${slotsHere[column]} weights; forestd serves ${aggregate} with one weight per leaf and ${prefix}`,
          );
      }
    }
    const make = (leafValue: (k: number) => number, group: number) => {
      const leafValues = new Float64Array(size);
      for (let k = 0; k < size; k++) if (left[k] === -1) leafValues[k] = leafValue(k);
      // ONNX-ML trees carry no node covers: no SHAP values. Copies share the shape's arrays.
      trees.push({ ...shape, leafValue: leafValues });
      treeGroup.push(group);
    };
    if (singleOutput) {
      // onnxruntime's one-output path adds a leaf's first weight (or, without one, its node value).
      make((k) => leafWeights.get(order[k])?.[0]?.value ?? round(values[order[k]]), 0);
      fed[0] = 2;
      return;
    }
    for (let column = 0; column < numScores; column++) {
      for (let slot = 0; slot < slotsHere[column]; slot++) {
        make((k) => {
          let seen = 0;
          for (const w of leafWeights.get(order[k]) ?? []) {
            if (w.id !== column) continue;
            if (seen++ === slot) return w.value;
          }
          return 0;
        }, column);
      }
    }
  });

  const hasScore = Array.from(fed, (v, column) => {
    if (v === 1)
      unsupported(
        `${where}: ${prefix} ${column} gets weights on some leaves of a tree but not all, so whether onnxruntime counts it depends on the row`,
      );
    if (v === 0 && extremes)
      unsupported(
        `${where}: no leaf feeds ${prefix} ${column}; forestd serves ${aggregate} when every ${prefix} is fed`,
      );
    return v === 2;
  });
  return {
    kind,
    trees,
    treeGroup,
    numOnnxTrees: treeStarts.length,
    numScores,
    postTransform,
    aggregate,
    baseValues,
    classLabels,
    hasScore,
    binaryCase: kind === "classifier" && numScores === 2 && classesWithWeights.size === 1,
    weightsAllPositive,
    maxFeature,
    numNodes: n,
    categorical,
  };
}

function sortedSet(values: readonly number[]): Float64Array {
  const sorted = Float64Array.from(new Set(values)).sort();
  // -0 and 0 are one value to ==: keep one of them.
  return sorted.filter((x, i) => i === 0 || x !== sorted[i - 1]);
}

/** An opset-5 BRANCH_MEMBER node as onnxruntime runs it: a small set's exact test, a big set's truncating lookup. */
function memberSplit(
  members: readonly number[],
  flags: number,
  yes: number,
  no: number,
  index: number,
  where: string,
  round: (x: number) => number,
): Split {
  if (members.length === 0) invalid(`${where}: nodes_modes[${index}] is BRANCH_MEMBER with an empty set`);
  const values = members.map(round);
  const small = values.length < SMALL_SET && values.every((x) => x >= 0 && x <= 30);
  if (small) return { test: Test.MEMBER, threshold: 0, flags, set: sortedSet(values), yes, no };
  for (const x of values) {
    if (!Number.isInteger(x) || x < -(2 ** 31) || x >= 2 ** 31)
      invalid(
        `${where}: BRANCH_MEMBER node ${index} holds ${x}; onnxruntime reads sets of ${SMALL_SET} values or more (or past 30) as int32 categories and refuses the model`,
      );
    if (x < 0 || x >= LIMITS.maxCategory)
      unsupported(
        `${where}: BRANCH_MEMBER node ${index} holds category ${x}; forestd serves categories in [0, 2^24)`,
      );
  }
  return {
    test: Test.IN_SET,
    threshold: 0,
    flags: flags | NodeFlag.CATEGORY_TRUNCATES,
    set: sortedSet(values),
    yes,
    no,
  };
}

const V5_MODES = [
  "BRANCH_LEQ",
  "BRANCH_LT",
  "BRANCH_GTE",
  "BRANCH_GT",
  "BRANCH_EQ",
  "BRANCH_NEQ",
  "BRANCH_MEMBER",
];
// The ONNX spec numbers post_transform NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT; onnxruntime
// casts the number to its own enum, whose order is NONE, LOGISTIC, SOFTMAX, ... (ml_common.h), so
// it reads 1 as LOGISTIC and 2 as SOFTMAX. forestd answers as onnxruntime does.
const V5_TRANSFORMS: PostTransform[] = ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"];
const V5_AGGREGATES: Aggregate[] = ["AVERAGE", "SUM", "MIN", "MAX"];

/**
 * TreeEnsemble (ai.onnx.ml opset 5) → the opset-3 attributes, as onnxruntime converts it
 * (tree_ensemble_attribute.h, convert_to_v3): trees from `tree_roots` in order; children are
 * split nodes or, where nodes_trueleafs / nodes_falseleafs say so, leaves (one weight each, for
 * leaf_targetids). A root whose two children are the same leaf is that leaf. BRANCH_MEMBER nodes
 * take their sets from membership_values (NaN-separated, one set per member node in node order).
 */
export function readTreeEnsembleV5(
  node: OnnxNode,
  where: string,
  precision: Precision = "f32",
): EnsembleSpec {
  const a = new Attributes(node, where, precision);
  const roots = a.ints("tree_roots");
  const featureIds = a.ints("nodes_featureids");
  const modes = a.integers("nodes_modes");
  const splits = a.numbers("nodes_splits");
  const trueIds = a.ints("nodes_truenodeids");
  const falseIds = a.ints("nodes_falsenodeids");
  const trueLeafs = a.ints("nodes_trueleafs");
  const falseLeafs = a.ints("nodes_falseleafs");
  const missing = a.ints("nodes_missing_value_tracks_true");
  sameLength(
    a,
    [
      "nodes_featureids",
      "nodes_modes",
      "nodes_splits",
      "nodes_truenodeids",
      "nodes_falsenodeids",
      "nodes_trueleafs",
      "nodes_falseleafs",
      "nodes_missing_value_tracks_true",
    ],
    [featureIds, modes, splits, trueIds, falseIds, trueLeafs, falseLeafs, missing],
    [true, true, true, true, true, true, true, false],
  );
  const leafTargets = a.ints("leaf_targetids");
  const leafWeights = a.numbers("leaf_weights");
  sameLength(a, ["leaf_targetids", "leaf_weights"], [leafTargets, leafWeights], [true, true]);
  const numScores = a.int("n_targets", 0);
  if (numScores < 1) invalid(`${where}: n_targets is ${numScores}; it must be at least 1`);
  if (numScores > LIMITS.maxOutputs)
    tooLarge(`${where}: ${numScores} outputs; the limit is ${LIMITS.maxOutputs}`);
  const postTransform = V5_TRANSFORMS[a.int("post_transform", 0)];
  if (postTransform === undefined)
    invalid(`${where}: post_transform ${a.int("post_transform", 0)} is not an ONNX transform`);
  const aggregate = V5_AGGREGATES[a.int("aggregate_function", 1)];
  if (aggregate === undefined)
    invalid(`${where}: aggregate_function ${a.int("aggregate_function", 1)} is not an ONNX aggregate`);

  // membership_values: one NaN-ended set per BRANCH_MEMBER node, in node order.
  const membership = a.numbers("membership_values");
  const setOf = new Map<number, number[]>();
  let at = 0;
  for (let i = 0; i < modes.length; i++) {
    if (modes[i] !== 6) continue;
    const set: number[] = [];
    while (at < membership.length && !Number.isNaN(membership[at])) set.push(membership[at++]);
    at++;
    setOf.set(i, set);
  }

  const v3 = {
    treeIds: [] as number[],
    nodeIds: [] as number[],
    featureIds: [] as number[],
    modes: [] as number[],
    values: [] as number[],
    members: new Map<number, readonly number[]>(),
    trueIds: [] as number[],
    falseIds: [] as number[],
    missingTrue: [] as number[],
    wTrees: [] as number[],
    wNodes: [] as number[],
    wIds: [] as number[],
    wValues: [] as number[],
  };
  const limit = featureIds.length + leafWeights.length;
  roots.forEach((root, t) => {
    if (!Number.isInteger(root) || root < 0 || root >= featureIds.length)
      invalid(`${where}: tree_roots[${t}] is ${root}; there are ${featureIds.length} nodes`);
    let next = 0;
    const seenNodes = new Set<number>();
    const seenLeaves = new Set<number>();
    /** A split node or a leaf as the next node of this tree; returns its attribute index. */
    const emit = (index: number, leaf: boolean, from: string): number => {
      const id = next++;
      if (next > limit) invalid(`${where}: tree ${t} is larger than the model's nodes and leaves (a cycle?)`);
      if (leaf) {
        if (!Number.isInteger(index) || index < 0 || index >= leafWeights.length)
          invalid(`${where}: ${from} is ${index}; there are ${leafWeights.length} leaves`);
        if (seenLeaves.has(index)) invalid(`${where}: ${from}: leaf ${index} is reached twice in tree ${t}`);
        seenLeaves.add(index);
        const at = v3.treeIds.length;
        v3.treeIds.push(t);
        v3.nodeIds.push(id);
        v3.featureIds.push(0);
        v3.modes.push(LEAF_MODE);
        v3.values.push(0);
        v3.trueIds.push(0);
        v3.falseIds.push(0);
        v3.missingTrue.push(0);
        v3.wTrees.push(t);
        v3.wNodes.push(id);
        v3.wIds.push(leafTargets[index]);
        v3.wValues.push(leafWeights[index]);
        return at;
      }
      if (!Number.isInteger(index) || index < 0 || index >= featureIds.length)
        invalid(`${where}: ${from} is ${index}; there are ${featureIds.length} nodes`);
      if (seenNodes.has(index))
        invalid(`${where}: ${from}: node ${index} is reached twice in tree ${t} (a cycle?)`);
      seenNodes.add(index);
      const mode = V5_MODES[modes[index]];
      if (mode === undefined)
        invalid(`${where}: nodes_modes[${index}] is ${modes[index]}, not an ONNX node mode`);
      const at = v3.treeIds.length;
      v3.treeIds.push(t);
      v3.nodeIds.push(id);
      v3.featureIds.push(featureIds[index]);
      v3.modes.push(mode === "BRANCH_MEMBER" ? MEMBER_MODE : modes[index]);
      v3.values.push(mode === "BRANCH_MEMBER" ? 0 : splits[index]);
      if (mode === "BRANCH_MEMBER") v3.members.set(at, setOf.get(index)!);
      v3.trueIds.push(-1);
      v3.falseIds.push(-1);
      v3.missingTrue.push(missing.length > 0 ? missing[index] : 0);
      return at;
    };
    // Iteratively (a hostile file can be as deep as it is long): each split's children after it.
    const rootIsLeaf = trueIds[root] === falseIds[root] && trueLeafs[root] !== 0 && falseLeafs[root] !== 0;
    const first = emit(rootIsLeaf ? trueIds[root] : root, rootIsLeaf, `tree_roots[${t}]`);
    const work: { at: number; index: number }[] = rootIsLeaf ? [] : [{ at: first, index: root }];
    while (work.length > 0) {
      const { at, index } = work.pop()!;
      const yes = trueLeafs[index] !== 0;
      const no = falseLeafs[index] !== 0;
      const trueAt = emit(trueIds[index], yes, `nodes_truenodeids[${index}]`);
      v3.trueIds[at] = v3.nodeIds[trueAt];
      const falseAt = emit(falseIds[index], no, `nodes_falsenodeids[${index}]`);
      v3.falseIds[at] = v3.nodeIds[falseAt];
      if (!no) work.push({ at: falseAt, index: falseIds[index] });
      if (!yes) work.push({ at: trueAt, index: trueIds[index] });
    }
  });
  if (roots.length === 0) invalid(`${where}: tree_roots is empty`);
  return assemble(
    {
      kind: "regressor",
      prefix: "leaf_target",
      precision,
      ...v3,
      modes: Uint8Array.from(v3.modes),
      classLabels: null,
      numScores,
      postTransform,
      aggregate,
      baseValues: [],
    },
    where,
  );
}
