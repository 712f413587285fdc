/**
 * An ONNX-ML tree-ensemble node (TreeEnsembleClassifier / TreeEnsembleRegressor, ai.onnx.ml opsets
 * 1 and 3) → Forest trees, plus what the output head needs (base values, post_transform, class
 * labels).
 *
 * How onnxruntime scores (tree_ensemble_common.h, tree_ensemble_aggregator.h), and how each rule
 * lands here:
 * - A tree is a run of nodes with the same tree id; its root is the run's first node. Children are
 *   found by (tree id, node id).
 * - BRANCH_LEQ sends x to the true child when x <= t (or when x is NaN and the node's
 *   missing_value_tracks_true is set): the Forest's own Test.LE with the true child on the left
 *   (and NodeFlag.DEFAULT_LEFT for missing_value_tracks_true); LT, GTE, GT likewise. The compiler
 *   lowers them to what the kernel runs.
 * - Leaves add each of their weights to its class's score, in float32, tree after tree, starting
 *   from 0; base values come after. A leaf with weights for several classes (a random forest's
 *   probabilities) becomes one copy of its tree per class, each copy adding that class's weight:
 *   each class's sum keeps onnxruntime's order, so it is bit-identical.
 * - With one output (a single-target regressor) onnxruntime adds a leaf's first weight only.
 */
import { ModelError } from "../../errors.js";
import { allocateTree, type MutableTree } from "../../forest/build.js";
import { LIMITS } from "../../forest/check.js";
import { NodeFlag, Test } from "../../forest/forest.js";
import type { Aggregate, PostTransform } from "../../heads/onnx.js";
import type { OnnxAttribute, OnnxNode } from "./onnx-proto.js";
import { AttributeType, DATA_TYPE_NAMES, DataType } from "./onnx-proto.js";

const MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ", "LEAF"];
const LEAF_MODE = 6;
/** Each branch mode's Forest test ("true → left"). */
const MODE_TESTS: readonly number[] = [Test.LE, Test.LT, Test.GE, Test.GT, Test.EQ, Test.NE];

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
  /** base_values rounded to float32, as onnxruntime holds them. */
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
}

function invalid(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_INVALID", message);
}

function unsupported(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_UNSUPPORTED", message);
}

/** Reads a node's attributes with errors that name the node and the attribute. */
class Attributes {
  constructor(
    readonly node: OnnxNode,
    readonly where: string,
  ) {}

  has(name: string): boolean {
    return this.node.attributes.has(name);
  }

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

  /** A tensor attribute's values (float or integer data), or [] when absent. */
  tensor(name: string): readonly number[] {
    const t = this.#get(name, AttributeType.TENSOR)?.t;
    if (t === undefined) return [];
    if (t.dataType === DataType.DOUBLE)
      unsupported(
        `${this.where}: ${name} holds doubles; forestd scores float32 models (double-precision tree ensembles are not supported yet)`,
      );
    return t.values;
  }

  /** A float list given either as `name` (floats) or `name_as_tensor` (a float tensor). */
  floatsOrTensor(name: string): readonly number[] {
    const plain = this.floats(name);
    const tensor = this.#get(`${name}_as_tensor`, AttributeType.TENSOR)?.t;
    if (tensor === undefined) return plain;
    if (plain.length > 0) invalid(`${this.where}: both ${name} and ${name}_as_tensor are set`);
    if (tensor.dataType === DataType.DOUBLE) {
      unsupported(
        `${this.where}: ${name}_as_tensor holds doubles; forestd scores float32 models (double-precision tree ensembles are not supported yet)`,
      );
    }
    if (tensor.dataType !== DataType.FLOAT)
      invalid(
        `${this.where}: ${name}_as_tensor has type ${DATA_TYPE_NAMES[tensor.dataType] ?? tensor.dataType}`,
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

export function readTreeEnsemble(node: OnnxNode, where: string): EnsembleSpec {
  const a = new Attributes(node, where);
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
  if (n > LIMITS.maxTotalNodes)
    throw new ModelError(
      "FORESTD_ERR_MODEL_TOO_LARGE",
      `${where}: ${n} nodes; the limit is ${LIMITS.maxTotalNodes}`,
    );

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
    throw new ModelError(
      "FORESTD_ERR_MODEL_TOO_LARGE",
      `${where}: ${numScores} outputs; the limit is ${LIMITS.maxOutputs}`,
    );

  const postTransform = a.string("post_transform", "NONE") as PostTransform;
  if (!["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"].includes(postTransform))
    invalid(`${where}: post_transform "${String(postTransform).slice(0, 40)}" is not an ONNX transform`);
  const aggregate = a.string("aggregate_function", "SUM") as Aggregate;
  if (!["SUM", "AVERAGE", "MIN", "MAX"].includes(aggregate))
    invalid(`${where}: aggregate_function "${String(aggregate).slice(0, 40)}" is not an ONNX aggregate`);
  if (kind === "regressor" && (aggregate === "MIN" || aggregate === "MAX"))
    unsupported(
      `${where}: aggregate_function ${aggregate} (forestd's kernel sums; only SUM and AVERAGE are served)`,
    );
  const baseValues = a.floatsOrTensor("base_values").map(Math.fround);
  // onnxruntime's own rule (tree_ensemble_attribute.h): 0 or one per output; binary classifiers 0 to 2.
  const binaryClassifier = kind === "classifier" && numScores <= 2;
  if (binaryClassifier ? baseValues.length > 2 : baseValues.length !== 0 && baseValues.length !== numScores) {
    invalid(
      `${where}: base_values has ${baseValues.length} values; it must have ${binaryClassifier ? "0, 1 or 2" : `0 or ${numScores}`}`,
    );
  }
  return assemble(
    {
      kind,
      prefix,
      treeIds,
      nodeIds,
      featureIds,
      modeNames,
      values,
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
  treeIds: readonly number[];
  nodeIds: readonly number[];
  featureIds: readonly number[];
  modeNames: readonly string[];
  values: readonly number[];
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

function assemble(v: V3Attributes, where: string): EnsembleSpec {
  const { kind, prefix, treeIds, nodeIds, featureIds, modeNames, values, trueIds, falseIds, missingTrue } = v;
  const { wTrees, wNodes, wIds, wValues, classLabels, numScores, postTransform, aggregate, baseValues } = v;
  const n = treeIds.length;

  // Node modes, checked, and each node's position by (tree id, node id).
  const modes = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const m = MODES.indexOf(modeNames[i]);
    if (m < 0)
      invalid(`${where}: nodes_modes[${i}] is "${modeNames[i].slice(0, 40)}", not an ONNX node mode`);
    if (m === 4 || m === 5)
      unsupported(
        `${where}: nodes_modes[${i}] is ${modeNames[i]}; forestd serves BRANCH_LEQ/LT/GTE/GT splits`,
      );
    modes[i] = m;
  }
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
    throw new ModelError(
      "FORESTD_ERR_MODEL_TOO_LARGE",
      `${where}: ${treeStarts.length} trees; the limit is ${LIMITS.maxTrees}`,
    );

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
    list.push({ id: wIds[w], value: Math.fround(wValues[w]) });
  }

  const trees: MutableTree[] = [];
  const treeGroup: number[] = [];
  // Per column: 0 never fed, 1 fed on some rows, 2 fed on every row.
  const fed = new Uint8Array(numScores);
  let maxFeature = -1;
  const singleOutput = kind === "regressor" && numScores === 1;

  treeStarts.forEach((start, t) => {
    const tree = treeIds[start];
    const order = [start];
    const local = new Map<number, number>([[start, 0]]);
    const visit = (i: number, name: string, id: number) => {
      const child = position(tree, id);
      if (child === undefined) invalid(`${where}: ${name}[${i}]: tree ${tree} has no node ${id}`);
      if (local.has(child))
        invalid(
          `${where}: ${name}[${i}]: node ${id} of tree ${tree} is reached twice (a cycle or a shared child)`,
        );
      local.set(child, order.length);
      order.push(child);
    };
    for (let k = 0; k < order.length; k++) {
      const i = order[k];
      if (modes[i] === LEAF_MODE) continue;
      visit(i, "nodes_truenodeids", trueIds[i]);
      visit(i, "nodes_falsenodeids", falseIds[i]);
    }
    const end = t + 1 < treeStarts.length ? treeStarts[t + 1] : n;
    if (order.length !== end - start) {
      const stray = Array.from({ length: end - start }, (_, k) => start + k).find((i) => !local.has(i));
      invalid(
        `${where}: nodes_nodeids[${stray}]: node ${nodeIds[stray ?? start]} of tree ${tree} is not reachable from its root`,
      );
    }
    const size = order.length;
    // One shape for every copy of this tree; copies differ in their leaf values only.
    const shape = allocateTree(size);
    const leaves: number[] = [];
    for (let k = 0; k < size; k++) {
      const i = order[k];
      const mode = modes[i];
      if (mode === LEAF_MODE) {
        leaves.push(k);
        continue;
      }
      const feature = featureIds[i];
      if (!Number.isInteger(feature) || feature < 0 || feature >= LIMITS.maxFeatures)
        invalid(`${where}: nodes_featureids[${i}] is ${feature}`);
      if (feature > maxFeature) maxFeature = feature;
      // The true child on the left: a Forest split's test true sends a row left.
      shape.left[k] = local.get(position(tree, trueIds[i])!)!;
      shape.right[k] = local.get(position(tree, falseIds[i])!)!;
      shape.feature[k] = feature;
      shape.test[k] = MODE_TESTS[mode];
      shape.threshold[k] = Math.fround(values[i]);
      shape.flags[k] = missingTrue.length > 0 && missingTrue[i] === 1 ? NodeFlag.DEFAULT_LEFT : 0;
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
      for (let column = 0; column < numScores; column++)
        if (leavesWith[column] > 0)
          fed[column] = Math.max(fed[column], leavesWith[column] === leaves.length ? 2 : 1);
    }
    const make = (leafValue: (k: number) => number, group: number) => {
      const leafValues = new Float64Array(size);
      for (let k = 0; k < size; k++) if (left[k] === -1) leafValues[k] = leafValue(k);
      // ONNX-ML trees carry no node covers: no SHAP values.
      trees.push({ ...shape, leafValue: leafValues });
      treeGroup.push(group);
    };
    if (singleOutput) {
      // onnxruntime's one-output path adds a leaf's first weight (or, without one, its node value).
      make((k) => leafWeights.get(order[k])?.[0]?.value ?? Math.fround(values[order[k]]), 0);
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
 * leaf_targetids). A root whose two children are the same leaf is that leaf. BRANCH_MEMBER (sets
 * of categories) is refused, as BRANCH_EQ is.
 */
export function readTreeEnsembleV5(node: OnnxNode, where: string): EnsembleSpec {
  const a = new Attributes(node, where);
  const tensor = (name: string): readonly number[] => a.tensor(name);
  const roots = a.ints("tree_roots");
  const featureIds = a.ints("nodes_featureids");
  const modes = tensor("nodes_modes");
  const splits = tensor("nodes_splits");
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
  const leafWeights = tensor("leaf_weights");
  sameLength(a, ["leaf_targetids", "leaf_weights"], [leafTargets, leafWeights], [true, true]);
  const numScores = a.int("n_targets", 0);
  if (numScores < 1) invalid(`${where}: n_targets is ${numScores}; it must be at least 1`);
  const postTransform = V5_TRANSFORMS[a.int("post_transform", 0)];
  if (postTransform === undefined)
    invalid(`${where}: post_transform ${a.int("post_transform", 0)} is not an ONNX transform`);
  const aggregate = V5_AGGREGATES[a.int("aggregate_function", 1)];
  if (aggregate === undefined)
    invalid(`${where}: aggregate_function ${a.int("aggregate_function", 1)} is not an ONNX aggregate`);

  const v3 = {
    treeIds: [] as number[],
    nodeIds: [] as number[],
    featureIds: [] as number[],
    modeNames: [] as string[],
    values: [] as number[],
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
    // Each entry: a split node or a leaf, and the node id it gets in this tree.
    const emit = (index: number, leaf: boolean, from: string): number => {
      const id = next++;
      if (next > limit) invalid(`${where}: tree ${t} is larger than the model's nodes and leaves (a cycle?)`);
      if (leaf) {
        if (!Number.isInteger(index) || index < 0 || index >= leafWeights.length)
          invalid(`${where}: ${from} is ${index}; there are ${leafWeights.length} leaves`);
        if (seenLeaves.has(index)) invalid(`${where}: ${from}: leaf ${index} is reached twice in tree ${t}`);
        seenLeaves.add(index);
        v3.treeIds.push(t);
        v3.nodeIds.push(id);
        v3.featureIds.push(0);
        v3.modeNames.push("LEAF");
        v3.values.push(0);
        v3.trueIds.push(0);
        v3.falseIds.push(0);
        v3.missingTrue.push(0);
        v3.wTrees.push(t);
        v3.wNodes.push(id);
        v3.wIds.push(leafTargets[index]);
        v3.wValues.push(leafWeights[index]);
        return id;
      }
      if (!Number.isInteger(index) || index < 0 || index >= featureIds.length)
        invalid(`${where}: ${from} is ${index}; there are ${featureIds.length} nodes`);
      if (seenNodes.has(index))
        invalid(`${where}: ${from}: node ${index} is reached twice in tree ${t} (a cycle?)`);
      seenNodes.add(index);
      const mode = V5_MODES[modes[index]];
      if (mode === undefined)
        invalid(`${where}: nodes_modes[${index}] is ${modes[index]}, not an ONNX node mode`);
      if (mode === "BRANCH_MEMBER")
        unsupported(
          `${where}: nodes_modes[${index}] is BRANCH_MEMBER; forestd serves BRANCH_LEQ/LT/GTE/GT splits`,
        );
      const at = v3.treeIds.length;
      v3.treeIds.push(t);
      v3.nodeIds.push(id);
      v3.featureIds.push(featureIds[index]);
      v3.modeNames.push(mode);
      v3.values.push(splits[index]);
      v3.trueIds.push(-1);
      v3.falseIds.push(-1);
      v3.missingTrue.push(missing.length > 0 ? missing[index] : 0);
      v3.trueIds[at] = emit(trueIds[index], trueLeafs[index] !== 0, `nodes_truenodeids[${index}]`);
      v3.falseIds[at] = emit(falseIds[index], falseLeafs[index] !== 0, `nodes_falsenodeids[${index}]`);
      return id;
    };
    const rootIsLeaf = trueIds[root] === falseIds[root] && trueLeafs[root] !== 0 && falseLeafs[root] !== 0;
    emit(rootIsLeaf ? trueIds[root] : root, rootIsLeaf, `tree_roots[${t}]`);
  });
  if (roots.length === 0) invalid(`${where}: tree_roots is empty`);
  return assemble(
    {
      kind: "regressor",
      prefix: "leaf_target",
      ...v3,
      classLabels: null,
      numScores,
      postTransform,
      aggregate,
      baseValues: [],
    },
    where,
  );
}
