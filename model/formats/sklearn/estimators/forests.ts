/**
 * Decision trees and the forests of them (RandomForest, ExtraTrees), classifiers and regressors.
 *
 * scikit-learn's arithmetic (sklearn/tree/_classes.py, sklearn/ensemble/_forest.py):
 * `DecisionTreeClassifier.predict_proba` takes each leaf's values, divides them by their sum
 * (a zero sum by 1); `ForestClassifier.predict_proba` adds the trees' probabilities in tree order
 * into zeros and divides by n_estimators. So each ForestTree leaf holds that tree's normalised
 * distribution (exactly as numpy computes it), the forest sums in float64 from 0, and the head
 * divides. Regressors: the leaf's value(s), summed, divided. Inputs are float32 (`DTYPE`), compared
 * with the float64 thresholds.
 */
import { numpySum } from "../../../heads/sklearn.js";
import { Attrs, classLabels, featureNames, invalid, itemsOf, unsupported } from "./attrs.js";
import { type EstimatorModel, forestTree, headSpec } from "./model.js";
import { NodeSlab, readTree, type SklearnTree } from "./tree.js";

const SINGLE_TREES = new Set([
  "DecisionTreeClassifier",
  "DecisionTreeRegressor",
  "ExtraTreeClassifier",
  "ExtraTreeRegressor",
]);

/** Leaf writer: a classifier tree's normalised class distribution (single output). */
export function probaLeaf(t: SklearnTree) {
  const k = t.maxClasses;
  return (node: number, out: Float64Array, at: number) => {
    const base = node * k;
    let normalizer = numpySum(t.values, base, k);
    if (normalizer === 0) normalizer = 1;
    for (let c = 0; c < k; c++) out[at + c] = t.values[base + c] / normalizer;
  };
}

/** Leaf writer: a regressor tree's value per output (values[node, o, 0]). */
export function valueLeaf(t: SklearnTree) {
  const outputs = t.nOutputs;
  const stride = outputs * t.maxClasses;
  return (node: number, out: Float64Array, at: number) => {
    for (let o = 0; o < outputs; o++) out[at + o] = t.values[node * stride + o * t.maxClasses];
  };
}

function isClassifier(name: string): boolean {
  return name.endsWith("Classifier");
}

export function readTreeEstimator(attrs: Attrs, name: string): EstimatorModel {
  const numFeatures = attrs.int("n_features_in_");
  const outputs = attrs.int("n_outputs_");
  const classifier = isClassifier(name);
  const single = SINGLE_TREES.has(name);
  const members = single
    ? [attrs]
    : itemsOf(attrs.get("estimators_"), `${attrs.path}.estimators_`).map((e, i) =>
        Attrs.of(e, `${attrs.path}.estimators_[${i}]`),
      );
  if (members.length === 0) invalid(`${attrs.path} has no trees`);
  let classes: (string | number)[] = [];
  if (classifier) {
    if (outputs !== 1)
      unsupported(`${attrs.path}: multi-output classifiers (${outputs} outputs) are not scored`);
    classes = classLabels(attrs);
  }
  const width = classifier ? classes.length : outputs;
  const slab = NodeSlab.for(
    members.map((m) => m.optional("tree_") ?? null),
    width,
  );
  const trees = members.map((m, i) => {
    const path = `${m.path}.tree_`;
    const t = readTree(m.get("tree_"), path, numFeatures, slab);
    if (t.nOutputs !== outputs) invalid(`${path} has ${t.nOutputs} outputs; its estimator has ${outputs}`);
    if (classifier && t.maxClasses !== classes.length)
      invalid(`${path} has ${t.maxClasses} classes; ${attrs.path}.classes_ has ${classes.length}`);
    if (!classifier && t.maxClasses !== 1)
      invalid(`${path} of a regressor has ${t.maxClasses} values per output`);
    void i;
    return forestTree(t, width, classifier ? probaLeaf(t) : valueLeaf(t), null, slab);
  });
  return {
    trees,
    treeGroup: new Int32Array(trees.length),
    treeWeight: null,
    numGroups: width,
    init: new Float64Array(width),
    input: "f32",
    numFeatures,
    featureNames: featureNames(attrs, numFeatures),
    categorical: null,
    head: headSpec({
      estimator: name,
      kind: classifier ? "classifier-average" : "regressor-average",
      classes,
      divisor: single ? null : trees.length,
      outputs,
    }),
    details: { estimator: name, trees: trees.length },
  };
}
