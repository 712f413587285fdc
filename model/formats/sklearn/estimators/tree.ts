/**
 * scikit-learn's `sklearn.tree._tree.Tree` as pickled: `Tree.__reduce__` gives
 * `(Tree, (n_features, n_classes, n_outputs), state)` and `__getstate__` the state
 * `{max_depth, node_count, nodes, values}`: `nodes` a structured array of the C struct `Node`
 * (_tree.pxd), `values` float64 of shape (node_count, n_outputs, max_n_classes).
 *
 * The node record tells the release apart: scikit-learn 1.0–1.2 write 7 fields (56 bytes); 1.3
 * added `missing_go_to_left` (uint8, 64 bytes with padding): NaN goes to the child it names
 * (`Tree._apply_dense`). Any other record is refused, naming its fields. Children, features and
 * values are checked here, so a hostile tree is refused naming the estimator, the tree and the node.
 */
import { numbersOf, readNumbers } from "../pickle/numpy.js";
import { NdArray, PyDict, PyObject, type PyValue, pyTypeName } from "../pickle/values.js";
import { invalid, unsupported } from "./attrs.js";

/**
 * A tree's columns as read: the Forest tree (estimators/model.ts, forestTree) takes over left,
 * right, feature, threshold and weightedNodeSamples rather than copying them.
 */
export interface SklearnTree {
  readonly numNodes: number;
  readonly left: Int32Array;
  readonly right: Int32Array;
  /** Split nodes: the feature index (leaves: -2, TREE_UNDEFINED). */
  readonly feature: Int32Array;
  readonly threshold: Float64Array;
  /** 1.3+: per node, NaN goes left; null for 1.0–1.2 records (NaN compares false: right). */
  readonly missingLeft: Uint8Array | null;
  readonly nNodeSamples: Float64Array;
  readonly weightedNodeSamples: Float64Array;
  readonly nOutputs: number;
  readonly maxClasses: number;
  /** numNodes × nOutputs × maxClasses. */
  readonly values: Float64Array;
  /** Per node, its depth (root 0). */
  readonly depth: Int32Array;
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/**
 * The node columns the Forest keeps of every tree of an estimator (left, right, feature,
 * threshold, covers, tests, flags, leaf values), carved from one buffer sized for them all before
 * any tree is read. A fully grown forest's columns are then one allocation, mapped on its own,
 * rather than thousands in the reading thread's malloc arena, where they pinned the load's
 * garbage and, once freed, stayed resident; and a model that drops its trees frees them at once
 * (model/forest/release.ts). A column that does not fit (a file whose trees disagree with their
 * sizes) is allocated on its own.
 */
export class NodeSlab {
  readonly #buffer: ArrayBuffer | null;
  #at = 0;

  constructor(bytes: number) {
    this.#buffer = bytes > 0 ? new ArrayBuffer(bytes) : null;
  }

  /** A slab for the trees of `estimators` (as pickled: their `tree_`), `width` values per leaf. */
  static forEstimators(estimators: readonly PyValue[], width: number): NodeSlab {
    return NodeSlab.for(
      estimators.map(
        (e) => (e instanceof PyObject && e.state instanceof PyDict ? e.state.map.get("tree_") : null) ?? null,
      ),
      width,
    );
  }

  /**
   * A slab for `trees` (Tree objects as pickled) whose leaves are `width` values wide. It is never
   * larger than the trees' own arrays in the file: each distinct tree counts once (a pickle may
   * name one object many times), only when its node array's data is all there, and its leaf
   * values only when its values array holds as many bytes. Trees past the slab get arrays of
   * their own.
   */
  static for(trees: readonly PyValue[], width: number): NodeSlab {
    let bytes = 0;
    const seen = new Set<PyValue>();
    for (const tree of trees) {
      if (seen.has(tree)) continue;
      seen.add(tree);
      const n = nodeCount(tree);
      if (n === 0) continue;
      const leafBytes = 8 * n * width;
      bytes += 3 * align8(4 * n) + 2 * align8(8 * n) + 2 * align8(n);
      if (valuesBytes(tree) >= leafBytes) bytes += align8(leafBytes);
    }
    return new NodeSlab(bytes);
  }

  int32(n: number): Int32Array {
    const at = this.#take(n * 4);
    return at < 0 ? new Int32Array(n) : new Int32Array(this.#buffer!, at, n);
  }

  float64(n: number): Float64Array {
    const at = this.#take(n * 8);
    return at < 0 ? new Float64Array(n) : new Float64Array(this.#buffer!, at, n);
  }

  uint8(n: number): Uint8Array {
    const at = this.#take(n);
    return at < 0 ? new Uint8Array(n) : new Uint8Array(this.#buffer!, at, n);
  }

  /** Where `bytes` more start, or -1 when they do not fit. */
  #take(bytes: number): number {
    const at = align8(this.#at);
    if (!this.#buffer || at + bytes > this.#buffer.byteLength) return -1;
    this.#at = at + bytes;
    return at;
  }
}

/**
 * The nodes a pickled Tree holds, counted only when its node array's data is all there (so a
 * slab is never larger than the file's own arrays); 0 otherwise (readTree then refuses it).
 */
function nodeCount(v: PyValue): number {
  if (!(v instanceof PyObject) || !(v.state instanceof PyDict)) return 0;
  const nodes = v.state.map.get("nodes");
  if (!(nodes instanceof NdArray) || nodes.shape.length !== 1 || !nodes.filled || !nodes.data) return 0;
  const n = nodes.shape[0];
  return nodes.data.length === n * nodes.dtype.itemsize ? n : 0;
}

/** Bytes of a pickled Tree's values array, when its data is there; 0 otherwise. */
function valuesBytes(v: PyValue): number {
  if (!(v instanceof PyObject) || !(v.state instanceof PyDict)) return 0;
  const values = v.state.map.get("values");
  return values instanceof NdArray && values.filled && values.data ? values.data.length : 0;
}

const FIELDS_10 = [
  "left_child",
  "right_child",
  "feature",
  "threshold",
  "impurity",
  "n_node_samples",
  "weighted_n_node_samples",
];
const FIELDS_13 = [...FIELDS_10, "missing_go_to_left"];
const INTEGER_FIELDS = new Set(["left_child", "right_child", "feature", "n_node_samples"]);

function checkLayout(nodes: NdArray, path: string): boolean {
  const fields = nodes.dtype.fields;
  if (!fields) invalid(`${path}.nodes is not a structured array`);
  const names = fields.map((f) => f.name);
  const is13 = names.join() === FIELDS_13.join();
  if (!is13 && names.join() !== FIELDS_10.join())
    unsupported(
      `${path}: a tree node record with fields (${names.join(", ")}) is not a layout forestd knows (scikit-learn 1.0–1.2 or 1.3+)`,
    );
  for (const f of fields) {
    const k = f.dtype.kind;
    const ok = INTEGER_FIELDS.has(f.name)
      ? k === "i" && (f.dtype.itemsize === 8 || f.dtype.itemsize === 4)
      : f.name === "missing_go_to_left"
        ? k === "u" && f.dtype.itemsize === 1
        : k === "f" && f.dtype.itemsize === 8;
    if (!ok)
      unsupported(`${path}: tree node field ${f.name} is ${f.dtype.str}, not what scikit-learn writes`);
  }
  return is13;
}

/**
 * Decodes and checks one Tree object. `numFeatures` is the estimator's input width; the columns
 * the Forest keeps come from `slab`.
 */
export function readTree(
  v: PyValue,
  path: string,
  numFeatures: number,
  slab: NodeSlab = new NodeSlab(0),
): SklearnTree {
  if (!(v instanceof PyObject) || v.cls.qualified !== "sklearn.tree._tree.Tree")
    invalid(`${path} is ${pyTypeName(v)}, not a sklearn.tree._tree.Tree`);
  const [nFeatures, nClasses, nOutputs] = v.args;
  if (typeof nFeatures !== "number" || typeof nOutputs !== "number" || !(nClasses instanceof NdArray))
    invalid(`${path}: Tree's arguments are not (n_features, n_classes, n_outputs)`);
  if (nFeatures !== numFeatures)
    invalid(`${path} reads ${nFeatures} features; its estimator has ${numFeatures}`);
  if (!Number.isInteger(nOutputs) || nOutputs < 1 || nOutputs > 1 << 16)
    invalid(`${path} has ${nOutputs} outputs`);
  const classes = numbersOf(nClasses, `${path} n_classes`);
  if (classes.length !== nOutputs)
    invalid(`${path} has ${classes.length} class counts for ${nOutputs} outputs`);
  let maxClasses = 0;
  for (const c of classes) {
    if (!Number.isInteger(c) || c < 1 || c > 1 << 16) invalid(`${path} has ${c} classes`);
    maxClasses = Math.max(maxClasses, c);
  }
  const state = v.state;
  if (!(state instanceof PyDict)) invalid(`${path} has no state (max_depth, node_count, nodes, values)`);
  const nodes = state.map.get("nodes");
  const values = state.map.get("values");
  const nodeCount = state.map.get("node_count");
  if (!(nodes instanceof NdArray)) invalid(`${path}.nodes is missing`);
  if (!(values instanceof NdArray)) invalid(`${path}.values is missing`);
  const is13 = checkLayout(nodes, path);
  if (nodes.shape.length !== 1) invalid(`${path}.nodes has shape (${nodes.shape.join(", ")})`);
  const n = nodes.shape[0];
  if (nodeCount !== n)
    invalid(`${path}: node_count is ${String(nodeCount)} but the node array holds ${n} nodes`);
  if (n < 1) invalid(`${path} has no nodes`);
  const shape = values.shape;
  if (shape.length !== 3 || shape[0] !== n || shape[1] !== nOutputs || shape[2] !== maxClasses)
    invalid(
      `${path}.values has shape (${shape.join(", ")}); ${n} nodes, ${nOutputs} outputs and ${maxClasses} classes need (${n}, ${nOutputs}, ${maxClasses})`,
    );
  if (values.dtype.kind !== "f" || values.dtype.itemsize !== 8)
    invalid(`${path}.values is ${values.dtype.str}, not float64`);

  const column = (name: string) => numbersOf(nodes, `${path}.nodes`, name);
  /** A node's field as the file holds it: for error messages only (it reads the whole column). */
  const raw = (name: string, node: number) => column(name)[node];
  // Integer fields straight into int32 columns; out-of-range values become -3 here and are
  // refused below if a reached node has them.
  const int32s = (name: string, ok: (x: number) => boolean) =>
    readNumbers(nodes, `${path}.nodes`, name, slab.int32(n), (x) => (ok(x) ? x : -3));
  const float64s = (name: string) => readNumbers(nodes, `${path}.nodes`, name, slab.float64(n));
  const left = int32s("left_child", (l) => l >= -1 && l < n && Number.isInteger(l));
  const right = int32s("right_child", (r) => r >= -1 && r < n && Number.isInteger(r));
  const feature = int32s("feature", (f) => f >= -2 && f < 2 ** 31 && Number.isInteger(f));
  let nNodeSamples: Float64Array | null = null;
  const tree: SklearnTree = {
    numNodes: n,
    left,
    right,
    feature,
    threshold: float64s("threshold"),
    missingLeft: is13 ? readNumbers(nodes, `${path}.nodes`, "missing_go_to_left", new Uint8Array(n)) : null,
    // read when asked for (IsolationForest's path lengths): other trees never need it
    get nNodeSamples() {
      nNodeSamples ??= column("n_node_samples");
      return nNodeSamples;
    },
    weightedNodeSamples: float64s("weighted_n_node_samples"),
    nOutputs,
    maxClasses,
    values: numbersOf(values, `${path}.values`),
    depth: new Int32Array(n),
  };
  // every node reached once from the root: no cycles, no shared children, children in range
  const seen = new Uint8Array(n);
  const queue = new Int32Array(n);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  seen[0] = 1;
  const child = (node: number, c: number, side: "left" | "right") => {
    if (c <= 0)
      invalid(`${path} node ${node}: its ${side} child ${raw(`${side}_child`, node)} is outside 1..${n - 1}`);
    if (seen[c]) invalid(`${path} node ${c} is reached twice (a cycle or a shared child)`);
    seen[c] = 1;
    tree.depth[c] = tree.depth[node] + 1;
    queue[tail++] = c;
  };
  while (head < tail) {
    const node = queue[head++];
    const l = left[node];
    const r = right[node];
    if (l === -1 && r === -1) continue;
    child(node, l, "left");
    child(node, r, "right");
    const f = feature[node];
    if (f < 0 || f >= numFeatures)
      invalid(
        `${path} node ${node} splits on feature ${raw("feature", node)}, but the estimator has ${numFeatures} features`,
      );
    if (Number.isNaN(tree.threshold[node])) invalid(`${path} node ${node} has threshold NaN`);
  }
  return tree;
}
