/**
 * HistGradientBoostingClassifier / Regressor (sklearn/ensemble/_hist_gradient_boosting/).
 *
 * `_raw_predict`: raw = _baseline_prediction + each iteration's predictors (one per output k) in
 * order, float64 inputs against float64 `num_threshold` (`_predict_one_from_raw_data`). Leaves
 * already include the learning rate. NaN follows `missing_go_to_left`. A categorical split sends a
 * category in `raw_left_cat_bitsets` left, a category known at fit (the binner's `bin_thresholds_`)
 * right, and a negative value or a category unknown at fit the missing way: with missing going
 * left that is "not in the known-right set" (NOT_IN_SET), with missing going right "in the left
 * set" (IN_SET). scikit-learn casts a category to uint8 (so 300 reads as 44); forestd reads
 * categories >= 256 as unknown (missing) instead: the only difference, for values outside any
 * category scikit-learn accepts at fit (< max_bins <= 255).
 */
import { allocateTree, type MutableTree } from "../../../forest/build.js";
import { NodeFlag, Test } from "../../../forest/forest.js";
import { numbersOf } from "../pickle/numpy.js";
import { NdArray, PyObject, pyTypeName } from "../pickle/values.js";
import { Attrs, classLabels, featureNames, invalid, itemsOf, unsupported } from "./attrs.js";
import { type EstimatorModel, headSpec } from "./model.js";

// scikit-learn 1.0's own losses (_hist_gradient_boosting/loss.py) first, then sklearn._loss's
const LOG_LINK = new Set(["Poisson", "HalfPoissonLoss", "HalfGammaLoss", "HalfTweedieLoss"]);
const IDENTITY_LINK = new Set([
  "LeastSquares",
  "LeastAbsoluteDeviation",
  "HalfSquaredError",
  "AbsoluteError",
  "PinballLoss",
  "HalfTweedieLossIdentity",
  "HuberLoss",
]);
const BINARY = new Set(["BinaryCrossEntropy", "HalfBinomialLoss"]);
const MULTICLASS = new Set(["CategoricalCrossEntropy", "HalfMultinomialLoss"]);

function bitsetMembers(words: Float64Array, at: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < 256; c++) if ((words[at + (c >>> 5)] >>> (c & 31)) & 1) out.push(c);
  return out;
}

/** The categories each categorical feature knew at fit (`_BinMapper.make_known_categories_bitsets`). */
function knownCategories(attrs: Attrs, numFeatures: number): (Set<number> | null)[] {
  const out: (Set<number> | null)[] = new Array(numFeatures).fill(null);
  const mapperValue = attrs.get("_bin_mapper");
  if (!(mapperValue instanceof PyObject)) invalid(`${attrs.path}._bin_mapper is ${pyTypeName(mapperValue)}`);
  const mapper = new Attrs(mapperValue, `${attrs.path}._bin_mapper`);
  const isCat = mapper.optional("is_categorical_");
  if (isCat === undefined || isCat === null) return out;
  if (!(isCat instanceof NdArray)) invalid(`${mapper.path}.is_categorical_ is ${pyTypeName(isCat)}`);
  const flags = numbersOf(isCat, `${mapper.path}.is_categorical_`);
  if (flags.length !== numFeatures)
    invalid(`${mapper.path}.is_categorical_ has ${flags.length} entries for ${numFeatures} features`);
  const thresholds = mapper.items("bin_thresholds_");
  if (thresholds.length !== numFeatures)
    invalid(`${mapper.path}.bin_thresholds_ has ${thresholds.length} entries for ${numFeatures} features`);
  for (let f = 0; f < numFeatures; f++) {
    if (!flags[f]) continue;
    const cats = thresholds[f];
    if (!(cats instanceof NdArray)) invalid(`${mapper.path}.bin_thresholds_[${f}] is ${pyTypeName(cats)}`);
    // set_bitset_memoryview casts each to X_BINNED_DTYPE (uint8)
    out[f] = new Set(
      Array.from(numbersOf(cats, `${mapper.path}.bin_thresholds_[${f}]`), (v) =>
        Number(BigInt.asUintN(8, BigInt(Math.trunc(v)))),
      ),
    );
  }
  return out;
}

function readPredictor(
  v: unknown,
  path: string,
  numFeatures: number,
  known: (Set<number> | null)[],
): MutableTree {
  if (!(v instanceof PyObject) || v.cls.name !== "TreePredictor") invalid(`${path} is not a TreePredictor`);
  const p = new Attrs(v, path);
  const nodes = p.array("nodes");
  if (nodes.shape.length !== 1 || !nodes.dtype.fields) invalid(`${path}.nodes is not a 1-d structured array`);
  const n = nodes.shape[0];
  if (n < 1) invalid(`${path} has no nodes`);
  const col = (name: string) => numbersOf(nodes, `${path}.nodes`, name);
  const value = col("value");
  const featureIdx = col("feature_idx");
  const numThreshold = col("num_threshold");
  const missingLeft = col("missing_go_to_left");
  const left = col("left");
  const right = col("right");
  const isLeaf = col("is_leaf");
  const isCategorical = nodes.dtype.field("is_categorical") ? col("is_categorical") : new Float64Array(n);
  const bitsetIdx = nodes.dtype.field("bitset_idx") ? col("bitset_idx") : new Float64Array(n);
  const raw = p.optional("raw_left_cat_bitsets");
  const rawWords =
    raw instanceof NdArray && raw.size > 0
      ? numbersOf(raw, `${path}.raw_left_cat_bitsets`)
      : new Float64Array(0);
  if (raw instanceof NdArray && raw.size > 0 && (raw.shape.length !== 2 || raw.shape[1] !== 8))
    invalid(`${path}.raw_left_cat_bitsets has shape (${raw.shape.join(", ")}), not (n, 8)`);

  const tree = allocateTree(n);
  const seen = new Uint8Array(n);
  const queue = new Int32Array(n);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  seen[0] = 1;
  while (head < tail) {
    const node = queue[head++];
    if (isLeaf[node]) {
      tree.leafValue[node] = value[node];
      continue;
    }
    for (const [side, child] of [
      ["left", left[node]],
      ["right", right[node]],
    ] as const) {
      if (!Number.isInteger(child) || child <= 0 || child >= n)
        invalid(`${path} node ${node}: its ${side} child ${child} is outside 1..${n - 1}`);
      if (seen[child]) invalid(`${path} node ${child} is reached twice (a cycle or a shared child)`);
      seen[child] = 1;
      queue[tail++] = child;
    }
    tree.left[node] = left[node];
    tree.right[node] = right[node];
    const f = featureIdx[node];
    if (!Number.isInteger(f) || f < 0 || f >= numFeatures)
      invalid(`${path} node ${node} splits on feature ${f} of ${numFeatures}`);
    tree.feature[node] = f;
    const goLeft = missingLeft[node] !== 0;
    tree.flags[node] = goLeft ? NodeFlag.DEFAULT_LEFT : 0;
    if (!isCategorical[node]) {
      tree.test[node] = Test.LE;
      tree.threshold[node] = numThreshold[node];
      continue;
    }
    const b = bitsetIdx[node];
    if (!Number.isInteger(b) || b < 0 || (b + 1) * 8 > rawWords.length)
      invalid(`${path} node ${node}: bitset ${b} does not exist`);
    const leftCats = bitsetMembers(rawWords, b * 8);
    const knownCats = known[f];
    if (!knownCats)
      invalid(`${path} node ${node} splits feature ${f} as categorical, but the binner has it numeric`);
    if (goLeft) {
      // left: in the left set, unknown, negative or missing; right: known and not in the left set
      tree.test[node] = Test.NOT_IN_SET;
      tree.sets.set(
        node,
        Float64Array.from([...knownCats].filter((c) => !leftCats.includes(c)).sort((a, c) => a - c)),
      );
    } else {
      tree.test[node] = Test.IN_SET;
      tree.sets.set(node, Float64Array.from(leftCats));
    }
  }
  return tree;
}

export function readHistGradientBoosting(attrs: Attrs, name: string): EstimatorModel {
  const numFeatures = attrs.int("n_features_in_");
  const classifier = name === "HistGradientBoostingClassifier";
  const lossObj = attrs.get("_loss");
  if (!(lossObj instanceof PyObject)) invalid(`${attrs.path}._loss is ${pyTypeName(lossObj)}`);
  const loss = lossObj.cls.name;
  const classes = classifier ? classLabels(attrs) : [];
  const K = classifier ? (classes.length > 2 ? classes.length : 1) : 1;
  if (classifier && !(K === 1 ? BINARY : MULTICLASS).has(loss))
    unsupported(`${attrs.path}: a ${classes.length}-class HistGradientBoostingClassifier with loss ${loss}`);
  if (!classifier && !LOG_LINK.has(loss) && !IDENTITY_LINK.has(loss))
    unsupported(`${attrs.path}: HistGradientBoostingRegressor loss ${loss} is not scored`);
  const baseline = attrs.numbers("_baseline_prediction");
  if (baseline.length !== K)
    invalid(`${attrs.path}._baseline_prediction has ${baseline.length} values; expected ${K}`);
  const known = knownCategories(attrs, numFeatures);
  const iterations = attrs.items("_predictors");
  const trees: MutableTree[] = [];
  const groups: number[] = [];
  iterations.forEach((it, i) => {
    const predictors = itemsOf(it, `${attrs.path}._predictors[${i}]`);
    if (predictors.length !== K)
      invalid(`${attrs.path}._predictors[${i}] has ${predictors.length} trees; expected ${K}`);
    predictors.forEach((p, k) => {
      trees.push(readPredictor(p, `${attrs.path}._predictors[${i}][${k}]`, numFeatures, known));
      groups.push(k);
    });
  });
  return {
    trees,
    treeGroup: Int32Array.from(groups),
    treeWeight: null,
    numGroups: K,
    init: baseline,
    input: "f64",
    numFeatures,
    featureNames: featureNames(attrs, numFeatures),
    categorical: known.map((k) => k !== null),
    head: headSpec({
      estimator: name,
      kind: classifier ? (K === 1 ? "hgb-binary" : "hgb-multiclass") : "hgb-regressor",
      classes,
      link: LOG_LINK.has(loss) ? "exp" : "identity",
      // 1.0's CategoricalCrossEntropy.predict_proba: exp(raw - logsumexp(raw)); from 1.1 softmax
      softmax: loss === "CategoricalCrossEntropy" ? "logsumexp" : "max",
    }),
    details: { estimator: name, loss, iterations: iterations.length },
  };
}
