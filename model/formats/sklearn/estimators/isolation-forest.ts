/**
 * IsolationForest (sklearn/ensemble/_iforest.py, `_compute_score_samples`): for each tree, in
 * order, depths += (nodes on the row's path) + c(n_node_samples of its leaf) - 1.0, in float64 from
 * zeros; c is `_average_path_length`. Each ForestTree leaf holds that tree's term, computed as
 * numpy does ((int + c) - 1.0); the head turns the sum into score_samples and decision_function.
 * c(n) for n > 2 goes through log: it is V8's Math.log, within an ulp of numpy's.
 */
import { numbersOf } from "../pickle/numpy.js";
import { NdArray, pyTypeName } from "../pickle/values.js";
import { Attrs, featureNames, invalid } from "./attrs.js";
import { type EstimatorModel, forestTree, headSpec } from "./model.js";
import { NodeSlab, readTree } from "./tree.js";

const EULER_GAMMA = 0.5772156649015329;

/** _average_path_length for one sample count. */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2.0 * (Math.log(n - 1.0) + EULER_GAMMA) - (2.0 * (n - 1.0)) / n;
}

export function readIsolationForest(attrs: Attrs, name: string): EstimatorModel {
  const numFeatures = attrs.int("n_features_in_");
  const estimators = attrs.items("estimators_");
  const features = attrs.items("estimators_features_");
  if (features.length !== estimators.length)
    invalid(`${attrs.path} has ${estimators.length} trees but ${features.length} feature subsets`);
  const maxFeatures = attrs.int("_max_features");
  const subsample = maxFeatures !== numFeatures;
  const maxSamples = attrs.number("_max_samples");
  const offset = attrs.number("offset_");
  const slab = NodeSlab.forEstimators(estimators, 1);
  const trees = estimators.map((e, i) => {
    const member = Attrs.of(e, `${attrs.path}.estimators_[${i}]`);
    const subset = features[i];
    if (!(subset instanceof NdArray))
      invalid(`${attrs.path}.estimators_features_[${i}] is ${pyTypeName(subset)}`);
    const map = numbersOf(subset, `${attrs.path}.estimators_features_[${i}]`);
    for (const f of map)
      if (!Number.isInteger(f) || f < 0 || f >= numFeatures)
        invalid(`${attrs.path}.estimators_features_[${i}] names feature ${f} of ${numFeatures}`);
    const width = subsample ? map.length : numFeatures;
    const t = readTree(member.get("tree_"), `${member.path}.tree_`, width, slab);
    return forestTree(
      t,
      1,
      (node, out, at) => {
        out[at] = t.depth[node] + 1 + averagePathLength(t.nNodeSamples[node]) - 1.0;
      },
      subsample ? Int32Array.from(map) : null,
      slab,
    );
  });
  if (trees.length === 0) invalid(`${attrs.path} has no trees`);
  return {
    trees,
    treeGroup: new Int32Array(trees.length),
    treeWeight: null,
    numGroups: 1,
    init: new Float64Array(1),
    input: "f32",
    numFeatures,
    featureNames: featureNames(attrs, numFeatures),
    categorical: null,
    head: headSpec({
      estimator: name,
      kind: "isolation-forest",
      offset,
      denominator: trees.length * averagePathLength(maxSamples),
    }),
    details: { estimator: name, trees: trees.length, maxSamples, offset },
  };
}
