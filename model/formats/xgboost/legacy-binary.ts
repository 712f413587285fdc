/**
 * XGBoost's legacy binary model format, as `Booster.save_model("model.xgb")` writes it before
 * XGBoost 2.1 (any name not ending in .json or .ubj): what every MLflow 2.x XGBoost folder saved
 * with XGBoost 1.x holds, MLflow's default `model_format` being "xgb".
 *
 * Read after XGBoost 1.7's own writer and reader (src/learner.cc LearnerImpl::SaveModel /
 * LoadModel, src/gbm/gbtree_model.cc GBTreeModel::Save, src/tree/tree_model.cc RegTree::Save,
 * dmlc-core's serializer for strings and vectors), little-endian as XGBoost writes it on every
 * machine:
 *
 *   "binf"                                   header (XGBoost 1.x always writes it)
 *   LearnerModelParamLegacy, 136 bytes       f32 base_score, u32 num_feature, i32 num_class,
 *                                            i32 contain_extra_attrs, i32 contain_eval_metrics,
 *                                            u32 major_version, u32 minor_version,
 *                                            u32 num_target, i32 boost_from_average, 25 reserved
 *   string objective, string booster         u64 length, then bytes
 *   GBTreeModelParam, 160 bytes              i32 num_trees, i32 num_parallel_tree, ...,
 *                                            i32 size_leaf_vector at 28
 *   per tree: TreeParam (148 bytes: i32 num_roots, i32 num_nodes, i32 num_deleted,
 *             i32 max_depth, u32 num_feature, i32 size_leaf_vector, 31 reserved),
 *             num_nodes × Node (i32 parent, i32 left, i32 right, u32 sindex, f32 value),
 *             num_nodes × RTreeNodeStat (f32 loss_chg, f32 sum_hess, f32 base_weight, i32)
 *   i32 tree_info × num_trees                (when there are trees)
 *   dart only: vector<f32> weight_drop       (when there are trees)
 *   vector<pair<string, string>> attributes  (when contain_extra_attrs)
 *
 * A node's sindex holds the split feature in its low 31 bits and default_left in its top bit;
 * a leaf has left = -1 and its value in the same f32. The file keeps no feature names or types
 * and no categorical splits (XGBoost refuses to write those in this format).
 *
 * The bytes are turned into the document the JSON/UBJSON reader takes (read-document.ts), so every
 * check on trees, objectives and limits is that reader's; here only the layout is checked, each
 * length against the bytes that remain before anything is allocated.
 */
import { ModelError } from "../../errors.js";
import { LIMITS } from "../../forest/check.js";

const LEARNER_PARAM_BYTES = 136;
const GBTREE_PARAM_BYTES = 160;
const TREE_PARAM_BYTES = 148;
const NODE_BYTES = 20;
const STAT_BYTES = 16;

/** XGBoost 1.x writes "binf" first (learner.cc SaveModel); files from before 1.0 may not. */
export function looksLikeLegacyBinary(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x62 && bytes[1] === 0x69 && bytes[2] === 0x6e && bytes[3] === 0x66
  );
}

function syntax(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", `XGBoost binary model: ${message}`);
}

class Reader {
  readonly #view: DataView;
  readonly #bytes: Uint8Array;
  at = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get left(): number {
    return this.#bytes.length - this.at;
  }

  need(n: number, what: string): void {
    if (n > this.left)
      syntax(`${what}: ${n} bytes needed at byte ${this.at}, but the file ends ${this.left} bytes later`);
  }

  i32(at: number): number {
    return this.#view.getInt32(at, true);
  }
  u32(at: number): number {
    return this.#view.getUint32(at, true);
  }
  f32(at: number): number {
    return this.#view.getFloat32(at, true);
  }

  /** A u64 count no larger than `max` (so it fits a JS number and the bytes that remain). */
  count(what: string, max: number): number {
    this.need(8, `${what}'s length`);
    const low = this.#view.getUint32(this.at, true);
    const high = this.#view.getUint32(this.at + 4, true);
    if (high !== 0 || low > max)
      syntax(`${what} at byte ${this.at} claims ${high * 2 ** 32 + low} entries; at most ${max} fit`);
    this.at += 8;
    return low;
  }

  string(what: string): string {
    const length = this.count(what, this.left - 8);
    const text = new TextDecoder("utf-8").decode(this.#bytes.subarray(this.at, this.at + length));
    this.at += length;
    return text;
  }

  skip(n: number, what: string): number {
    this.need(n, what);
    const start = this.at;
    this.at += n;
    return start;
  }
}

/** Reads an XGBoost legacy binary model into the document readModelDocument takes. */
export function decodeLegacyBinary(bytes: Uint8Array): Record<string, unknown> {
  if (!looksLikeLegacyBinary(bytes)) syntax('the file does not start with "binf"');
  const r = new Reader(bytes);
  r.at = 4;

  const lp = r.skip(LEARNER_PARAM_BYTES, "the learner's parameters");
  const baseScore = r.f32(lp);
  const numFeature = r.u32(lp + 4);
  const numClass = r.i32(lp + 8);
  const hasAttributes = r.i32(lp + 12) !== 0;
  const major = r.u32(lp + 20);
  const minor = r.u32(lp + 24);
  const numTarget = r.u32(lp + 28) || 1;
  if (major < 1) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      `the binary model was written by XGBoost ${major}.${minor}, before 1.0, which stored base_score transformed; load it with XGBoost 1.x and save it as JSON (booster.save_model("model.json"))`,
    );
  }
  const objective = r.string("the objective's name");
  const booster = r.string("the booster's name");
  if (!/^[a-z:_]{1,64}$/.test(objective))
    syntax(`the objective's name "${objective.slice(0, 60)}" is not one`);
  if (booster === "gblinear") {
    throw new ModelError(
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      "gblinear models are not supported: forestd serves tree ensembles (booster gbtree or dart)",
    );
  }
  if (booster !== "gbtree" && booster !== "dart")
    syntax(`unknown booster "${booster.slice(0, 60)}"; expected gbtree or dart`);

  const gp = r.skip(GBTREE_PARAM_BYTES, "the tree ensemble's parameters");
  const numTrees = r.i32(gp);
  const numParallelTree = r.i32(gp + 4);
  if (numTrees < 0 || numTrees > LIMITS.maxTrees)
    throw new ModelError(
      numTrees > LIMITS.maxTrees ? "FORESTD_ERR_MODEL_TOO_LARGE" : "FORESTD_ERR_MODEL_INVALID",
      `XGBoost binary model: num_trees is ${numTrees}; it must be between 0 and ${LIMITS.maxTrees}`,
    );
  // Each tree takes at least its parameters and one node: a count the bytes cannot hold is refused
  // before anything is allocated for it.
  if (numTrees * (TREE_PARAM_BYTES + NODE_BYTES + STAT_BYTES) > r.left)
    syntax(`num_trees is ${numTrees}, more than the ${r.left} remaining bytes can hold`);

  const trees: Record<string, unknown>[] = [];
  for (let t = 0; t < numTrees; t++) trees.push(readTree(r, t));
  let treeInfo = new Int32Array(0);
  if (numTrees > 0) {
    const at = r.skip(4 * numTrees, "tree_info");
    treeInfo = Int32Array.from({ length: numTrees }, (_, i) => r.i32(at + 4 * i));
  }
  let weightDrop: Float32Array | null = null;
  if (booster === "dart" && numTrees > 0) {
    const n = r.count("dart's weight_drop", Math.floor((r.left - 8) / 4));
    const at = r.skip(4 * n, "dart's weight_drop");
    weightDrop = Float32Array.from({ length: n }, (_, i) => r.f32(at + 4 * i));
  }
  const attributes: Record<string, string> = {};
  if (hasAttributes) {
    const n = r.count("the attributes", Math.floor((r.left - 8) / 16));
    for (let i = 0; i < n; i++) {
      const key = r.string(`attribute ${i}'s name`);
      const value = r.string(`attribute "${key.slice(0, 60)}"'s value`);
      // XGBoost's own bookkeeping (the objective's configuration, eval metrics) is not the user's.
      if (key !== "objective" && key !== "metrics" && key !== "__proto__") attributes[key] = value;
    }
  }
  if (r.left !== 0) syntax(`${r.left} bytes follow the model's end at byte ${r.at}`);

  const model = {
    gbtree_model_param: { num_trees: numTrees, num_parallel_tree: Math.max(1, numParallelTree) },
    trees,
    tree_info: treeInfo,
  };
  const gradientBooster =
    booster === "dart"
      ? { name: "dart", gbtree: { name: "gbtree", model }, weight_drop: weightDrop ?? new Float32Array(0) }
      : { name: "gbtree", model };
  return {
    version: [major, minor],
    learner: {
      attributes,
      learner_model_param: {
        base_score: baseScore,
        num_class: numClass,
        num_feature: numFeature,
        num_target: numTarget,
      },
      objective: { name: objective },
      gradient_booster: gradientBooster,
    },
  };
}

function readTree(r: Reader, t: number): Record<string, unknown> {
  const tp = r.skip(TREE_PARAM_BYTES, `tree ${t}'s parameters`);
  const numNodes = r.i32(tp + 4);
  const numFeature = r.u32(tp + 16);
  const sizeLeafVector = r.i32(tp + 20);
  if (numNodes < 1 || numNodes > LIMITS.maxNodesPerTree)
    throw new ModelError(
      numNodes > LIMITS.maxNodesPerTree ? "FORESTD_ERR_MODEL_TOO_LARGE" : "FORESTD_ERR_MODEL_INVALID",
      `XGBoost binary model: tree ${t} has num_nodes ${numNodes}; it must be between 1 and ${LIMITS.maxNodesPerTree}`,
    );
  const nodes = r.skip(numNodes * NODE_BYTES, `tree ${t}'s ${numNodes} nodes`);
  const stats = r.skip(numNodes * STAT_BYTES, `tree ${t}'s node statistics`);
  const left = new Int32Array(numNodes);
  const right = new Int32Array(numNodes);
  const splitIndex = new Int32Array(numNodes);
  const splitCondition = new Float32Array(numNodes);
  const defaultLeft = new Uint8Array(numNodes);
  const sumHessian = new Float32Array(numNodes);
  for (let i = 0; i < numNodes; i++) {
    const at = nodes + i * NODE_BYTES;
    left[i] = r.i32(at + 4);
    right[i] = r.i32(at + 8);
    const sindex = r.u32(at + 12);
    splitIndex[i] = sindex & 0x7fffffff;
    defaultLeft[i] = sindex >>> 31;
    splitCondition[i] = r.f32(at + 16);
    sumHessian[i] = r.f32(stats + i * STAT_BYTES + 4);
  }
  return {
    tree_param: { num_nodes: numNodes, num_feature: numFeature, size_leaf_vector: sizeLeafVector },
    id: t,
    left_children: left,
    right_children: right,
    split_indices: splitIndex,
    split_conditions: splitCondition,
    default_left: defaultLeft,
    sum_hessian: sumHessian,
  };
}
