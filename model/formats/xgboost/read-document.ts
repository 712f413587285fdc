/**
 * Reads a parsed XGBoost model document (from JSON or UBJSON) into a Forest.
 *
 * Handles what XGBoost 1.x to 3.x write: gbtree and dart (`weight_drop`), trees placed by their
 * `id`, `tree_info` groups, scalar ("5E-1") and vector ("[5E-1]") base_score, plain or typed
 * arrays, booleans or 0/1 for `default_left`, and categorical splits. Every refusal names the
 * field and, for trees, the tree and node. Structure (cycles, reachability) is checked once for
 * every format by checkForest.
 *
 * XGBoost's meaning, kept as it is: a split sends x left when float32(x) < threshold
 * (Test.LT), NaN to its default_left side; a categorical split sends its categories right
 * (Test.NOT_IN_SET: "not in the set" goes left); leaves and thresholds are float32 values; the
 * margin starts at the objective's base margin and adds float32 leaves tree by tree, dart's
 * drop weights as tree weights.
 */
import { describeValue, invalidModel, ModelError } from "../../errors.js";
import { allocateTree, type MutableTree } from "../../forest/build.js";
import { LIMITS } from "../../forest/check.js";
import type { Forest, ForestFeature } from "../../forest/forest.js";
import { NodeFlag, Test } from "../../forest/forest.js";
import { baseMargin, objectiveByName, type XGBoostHeadSpec } from "../../heads/xgboost.js";

type Json = unknown;
type Obj = Record<string, Json>;

function isObj(v: Json): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function obj(v: Json, path: string): Obj {
  if (!isObj(v)) invalidModel(`${path} must be an object, got ${describeValue(v)}`);
  return v;
}

function field(o: Obj, key: string, path: string): Json {
  if (!Object.hasOwn(o, key)) invalidModel(`${path}.${key} is missing`);
  return o[key];
}

function str(v: Json, path: string): string {
  if (typeof v !== "string") invalidModel(`${path} must be a string, got ${describeValue(v)}`);
  return v;
}

/** XGBoost writes parameters as strings ("10"); accept numbers too. */
function intParam(v: Json, path: string, min: number, max: number): number {
  const n = typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n))
    invalidModel(`${path} must be an integer, got ${describeValue(v)}`);
  if (n < min || n > max) {
    const err =
      n > max && max >= LIMITS.maxOutputs ? "FORESTD_ERR_MODEL_TOO_LARGE" : "FORESTD_ERR_MODEL_INVALID";
    throw new ModelError(err, `${path} is ${n}; it must be between ${min} and ${max}`);
  }
  return n;
}

function optionalIntParam(o: Obj, key: string, path: string, min: number, max: number, dflt: number): number {
  return Object.hasOwn(o, key) ? intParam(o[key], `${path}.${key}`, min, max) : dflt;
}

/** A numeric array: a JSON array (null = NaN, from XGBoost's `NaN`) or a UBJSON typed array. */
function numbers(v: Json, path: string, length?: number): ArrayLike<number> {
  let out: ArrayLike<number>;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    out = v as unknown as ArrayLike<number>;
  } else if (Array.isArray(v)) {
    const arr = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === "number") arr[i] = x;
      else if (x === null) arr[i] = Number.NaN;
      else if (typeof x === "boolean") arr[i] = x ? 1 : 0;
      else invalidModel(`${path}[${i}] must be a number, got ${describeValue(x)}`);
    }
    out = arr;
  } else {
    return invalidModel(`${path} must be an array, got ${describeValue(v)}`);
  }
  if (length !== undefined && out.length !== length) {
    invalidModel(`${path} has ${out.length} entries; num_nodes says ${length}`);
  }
  return out;
}

function integers(v: Json, path: string, length?: number): ArrayLike<number> {
  const out = numbers(v, path, length);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isInteger(out[i])) invalidModel(`${path}[${i}] must be an integer, got ${out[i]}`);
  }
  return out;
}

function strings(v: Json, path: string): string[] {
  if (!Array.isArray(v)) invalidModel(`${path} must be an array of strings, got ${describeValue(v)}`);
  return v.map((s, i) => str(s, `${path}[${i}]`));
}

/** "5E-1", "[5E-1]" or "[1E-1,2E-1]" → numbers. */
function parseBaseScore(v: Json, path: string): number[] {
  if (typeof v === "number") return [v];
  const text = str(v, path).trim();
  const inner = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const parts = inner.split(",").map((p) => p.trim());
  const values = parts.map(Number);
  if (parts.some((p) => p === "") || values.some((x) => !Number.isFinite(x))) {
    invalidModel(`${path} "${text.slice(0, 60)}" is not a number or a list of numbers`);
  }
  return values;
}

function readTree(raw: Json, path: string, numFeature: number): { id: number; tree: MutableTree } {
  const t = obj(raw, path);
  const param = obj(field(t, "tree_param", path), `${path}.tree_param`);
  const numNodes = intParam(
    field(param, "num_nodes", `${path}.tree_param`),
    `${path}.tree_param.num_nodes`,
    1,
    LIMITS.maxNodesPerTree,
  );
  const sizeLeafVector = optionalIntParam(
    param,
    "size_leaf_vector",
    `${path}.tree_param`,
    0,
    LIMITS.maxOutputs,
    0,
  );
  if (sizeLeafVector > 1) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      `${path} is a multi-target tree (size_leaf_vector ${sizeLeafVector}); forestd scores one-output trees only (multi_strategy "one_output_per_tree")`,
    );
  }
  const id = Object.hasOwn(t, "id") ? intParam(t.id, `${path}.id`, 0, LIMITS.maxTrees) : -1;
  const left = integers(field(t, "left_children", path), `${path}.left_children`, numNodes);
  const right = integers(field(t, "right_children", path), `${path}.right_children`, numNodes);
  const splitIndex = integers(field(t, "split_indices", path), `${path}.split_indices`, numNodes);
  const splitCondition = numbers(field(t, "split_conditions", path), `${path}.split_conditions`, numNodes);
  const defaultLeft = integers(field(t, "default_left", path), `${path}.default_left`, numNodes);
  const splitType = Object.hasOwn(t, "split_type")
    ? integers(t.split_type, `${path}.split_type`, numNodes)
    : null;
  // Only explanations need the cover; a model without it still scores.
  const sumHessian = Object.hasOwn(t, "sum_hessian")
    ? numbers(t.sum_hessian, `${path}.sum_hessian`, numNodes)
    : null;

  const tree = allocateTree(numNodes, { cover: sumHessian !== null });
  for (let i = 0; i < numNodes; i++) {
    // XGBoost holds thresholds and leaves as float32; JSON spells them as decimals.
    const value = Math.fround(splitCondition[i]);
    if (left[i] === -1) {
      if (!Number.isFinite(splitCondition[i]))
        invalidModel(`${path} leaf ${i} has a non-finite value ${splitCondition[i]}`);
      tree.leafValue[i] = value;
      continue;
    }
    if (splitIndex[i] < 0 || splitIndex[i] >= numFeature) {
      invalidModel(
        `${path} node ${i} splits on feature ${splitIndex[i]}, but the model has ${numFeature} features`,
      );
    }
    if (splitType && splitType[i] !== 0 && splitType[i] !== 1)
      invalidModel(`${path}.split_type[${i}] is ${splitType[i]}; expected 0 or 1`);
    tree.left[i] = left[i];
    tree.right[i] = right[i];
    tree.feature[i] = splitIndex[i];
    tree.flags[i] = defaultLeft[i] ? NodeFlag.DEFAULT_LEFT : 0;
    if (splitType && splitType[i] === 1) {
      tree.test[i] = Test.NOT_IN_SET;
      tree.sets.set(i, new Float64Array(0));
    } else {
      tree.test[i] = Test.LT;
      tree.threshold[i] = value;
    }
  }
  if (sumHessian && tree.cover) for (let i = 0; i < numNodes; i++) tree.cover[i] = sumHessian[i];

  if (splitType && Object.hasOwn(t, "categories_nodes")) {
    const nodes = integers(t.categories_nodes, `${path}.categories_nodes`);
    const segments = integers(field(t, "categories_segments", path), `${path}.categories_segments`);
    const sizes = integers(field(t, "categories_sizes", path), `${path}.categories_sizes`);
    const values = integers(field(t, "categories", path), `${path}.categories`);
    if (segments.length !== nodes.length || sizes.length !== nodes.length) {
      invalidModel(`${path}: categories_nodes, categories_segments and categories_sizes differ in length`);
    }
    for (let j = 0; j < nodes.length; j++) {
      const node = nodes[j];
      if (node < 0 || node >= numNodes || splitType[node] !== 1 || left[node] === -1) {
        invalidModel(`${path}.categories_nodes[${j}] = ${node} is not a categorical split node`);
      }
      const start = segments[j];
      const size = sizes[j];
      if (start < 0 || size < 0 || start + size > values.length) {
        invalidModel(
          `${path}: categories of node ${node} (segment ${start}, size ${size}) lie outside the categories array`,
        );
      }
      const set = new Set<number>();
      for (let k = start; k < start + size; k++) {
        const c = values[k];
        if (c < 0 || c >= LIMITS.maxCategory)
          invalidModel(`${path} node ${node}: category ${c} is out of range [0, 2^24)`);
        set.add(c);
      }
      tree.sets.set(node, Float64Array.from(set).sort());
    }
  }
  return { id, tree };
}

export function readModelDocument(document: Json): Forest {
  const root = obj(document, "model");
  const learner = obj(field(root, "learner", "model"), "learner");
  const version = Object.hasOwn(root, "version") ? integers(root.version, "version") : null;
  const xgboostVersion = version && version.length >= 2 ? Array.from(version).join(".") : null;

  const objectiveObj = obj(field(learner, "objective", "learner"), "learner.objective");
  const objective = objectiveByName(
    str(field(objectiveObj, "name", "learner.objective"), "learner.objective.name"),
  );

  const mparam = obj(field(learner, "learner_model_param", "learner"), "learner.learner_model_param");
  const lp = "learner.learner_model_param";
  const numFeature = optionalIntParam(mparam, "num_feature", lp, 0, LIMITS.maxFeatures, 0);
  const numClass = optionalIntParam(mparam, "num_class", lp, 0, LIMITS.maxOutputs, 0);
  const numTarget = optionalIntParam(mparam, "num_target", lp, 0, LIMITS.maxOutputs, 1);
  if (numClass === 1) invalidModel(`${lp}.num_class is 1; a classifier needs at least 2 classes`);
  if (numClass > 1 && numTarget > 1)
    invalidModel(`${lp}: num_class ${numClass} and num_target ${numTarget} cannot both exceed 1`);
  if (objective.task === "multiclass" && numClass < 2)
    invalidModel(`${objective.name} needs num_class >= 2, got ${numClass}`);
  const numGroups = Math.max(1, numClass, numTarget);
  const baseScoreRaw = Object.hasOwn(mparam, "base_score")
    ? parseBaseScore(mparam.base_score, `${lp}.base_score`)
    : [0.5];
  if (baseScoreRaw.length !== 1 && baseScoreRaw.length !== numGroups) {
    invalidModel(`${lp}.base_score has ${baseScoreRaw.length} values; expected 1 or ${numGroups}`);
  }
  const baseScore =
    baseScoreRaw.length === 1 ? new Array<number>(numGroups).fill(baseScoreRaw[0]) : baseScoreRaw;

  const featureNames = Object.hasOwn(learner, "feature_names")
    ? strings(learner.feature_names, "learner.feature_names")
    : [];
  const featureTypes = Object.hasOwn(learner, "feature_types")
    ? strings(learner.feature_types, "learner.feature_types")
    : [];
  if (featureNames.length > 0 && featureNames.length !== numFeature) {
    invalidModel(`learner.feature_names has ${featureNames.length} names; num_feature is ${numFeature}`);
  }
  if (featureTypes.length > 0 && featureTypes.length !== numFeature) {
    invalidModel(`learner.feature_types has ${featureTypes.length} types; num_feature is ${numFeature}`);
  }
  const seen = new Set<string>();
  for (const name of featureNames) {
    if (seen.has(name)) invalidModel(`learner.feature_names has "${name.slice(0, 60)}" twice`);
    seen.add(name);
  }

  const booster = obj(field(learner, "gradient_booster", "learner"), "learner.gradient_booster");
  const boosterName = str(
    field(booster, "name", "learner.gradient_booster"),
    "learner.gradient_booster.name",
  );
  let gbtree: Obj;
  let weightDropRaw: ArrayLike<number> | null = null;
  if (boosterName === "gbtree") {
    gbtree = booster;
  } else if (boosterName === "dart") {
    gbtree = obj(field(booster, "gbtree", "learner.gradient_booster"), "learner.gradient_booster.gbtree");
    weightDropRaw = numbers(
      field(booster, "weight_drop", "learner.gradient_booster"),
      "learner.gradient_booster.weight_drop",
    );
  } else if (boosterName === "gblinear") {
    throw new ModelError(
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      "gblinear models are not supported: forestd serves tree ensembles (booster gbtree or dart)",
    );
  } else {
    return invalidModel(`unknown booster "${boosterName.slice(0, 60)}"; expected gbtree or dart`);
  }
  const mp =
    boosterName === "dart" ? "learner.gradient_booster.gbtree.model" : "learner.gradient_booster.model";
  const model = obj(field(gbtree, "model", mp.slice(0, -6)), mp);
  const gparam = obj(field(model, "gbtree_model_param", mp), `${mp}.gbtree_model_param`);
  const numTrees = intParam(
    field(gparam, "num_trees", `${mp}.gbtree_model_param`),
    `${mp}.gbtree_model_param.num_trees`,
    0,
    LIMITS.maxTrees,
  );
  const numParallelTree = optionalIntParam(
    gparam,
    "num_parallel_tree",
    `${mp}.gbtree_model_param`,
    1,
    LIMITS.maxTrees,
    1,
  );

  const rawTrees = field(model, "trees", mp);
  if (!Array.isArray(rawTrees)) invalidModel(`${mp}.trees must be an array, got ${describeValue(rawTrees)}`);
  if (rawTrees.length !== numTrees)
    invalidModel(`${mp}.trees has ${rawTrees.length} trees; num_trees says ${numTrees}`);
  const treeInfo = integers(field(model, "tree_info", mp), `${mp}.tree_info`);
  if (treeInfo.length !== numTrees)
    invalidModel(`${mp}.tree_info has ${treeInfo.length} entries; num_trees says ${numTrees}`);
  const treeGroup = Array.from(treeInfo);
  treeGroup.forEach((g, i) => {
    if (g < 0 || g >= numGroups)
      invalidModel(`${mp}.tree_info[${i}] = ${g}, but the model has ${numGroups} output group(s)`);
  });
  if (weightDropRaw) {
    if (weightDropRaw.length !== numTrees)
      invalidModel(`weight_drop has ${weightDropRaw.length} entries; num_trees says ${numTrees}`);
    for (let i = 0; i < weightDropRaw.length; i++) {
      if (!Number.isFinite(weightDropRaw[i])) invalidModel(`weight_drop[${i}] is ${weightDropRaw[i]}`);
    }
  }

  // XGBoost places each tree at its "id" (gbtree_model.cc); older files may omit it.
  const trees = new Array<MutableTree | undefined>(numTrees);
  let totalNodes = 0;
  rawTrees.forEach((raw, i) => {
    const { id, tree } = readTree(raw, `${mp}.trees[${i}]`, numFeature);
    const at = id === -1 ? i : id;
    if (at >= numTrees) invalidModel(`${mp}.trees[${i}].id is ${at}, but there are ${numTrees} trees`);
    if (trees[at]) invalidModel(`${mp}.trees[${i}].id ${at} is used twice`);
    trees[at] = tree;
    totalNodes += tree.numNodes;
    if (totalNodes > LIMITS.maxTotalNodes) {
      throw new ModelError(
        "FORESTD_ERR_MODEL_TOO_LARGE",
        `the model has more than ${LIMITS.maxTotalNodes} nodes`,
      );
    }
  });

  const attributes = isObj(learner.attributes) ? learner.attributes : {};
  const best = typeof attributes.best_iteration === "string" ? Number(attributes.best_iteration) : Number.NaN;

  const bestIteration = Number.isInteger(best) ? best : null;
  const features: ForestFeature[] = Array.from({ length: numFeature }, (_, i) => ({
    name: featureNames[i] ?? null,
    kind: featureTypes[i] === "c" ? "categorical" : "numeric",
    formatType: featureTypes[i] ?? null,
  }));
  const head: XGBoostHeadSpec = { family: "xgboost", objective: objective.name, numClass };
  return {
    provenance: {
      format: "xgboost",
      producer: xgboostVersion ? `xgboost ${xgboostVersion}` : null,
      details: { xgboostVersion, booster: boosterName, numParallelTree, bestIteration, baseScore },
    },
    input: "f32",
    accumulate: "f32",
    features,
    inputs: null,
    preprocess: [],
    trees: trees as MutableTree[],
    treeGroup: Int32Array.from(treeGroup),
    treeWeight: weightDropRaw ? Float64Array.from(weightDropRaw) : null,
    numGroups,
    aggregate: { reduce: "sum", init: Float64Array.from(baseScore, (b) => baseMargin(objective, b)) },
    head,
  };
}
