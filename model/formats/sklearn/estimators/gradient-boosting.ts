/**
 * GradientBoostingClassifier / Regressor (sklearn/ensemble/_gb.py).
 *
 * `_raw_predict` = the init estimator's raw prediction, then `predict_stages`: for each stage, for
 * each of the K trees, out[k] += learning_rate * leaf (float64, inputs float32 against float64
 * thresholds). Here: one ForestTree per (stage, k) in that order, feeding group k, weight
 * learning_rate, and the init as the aggregate's per-group start.
 *
 * The init (`_raw_predict_init`): 'zero' gives zeros; a DummyRegressor its constant_; a
 * DummyClassifier its predict_proba (class_prior_ for 'prior') clipped to [eps, 1 - eps] (float32's
 * eps) and taken through the loss's link: binomial log(p / (1 - p)), exponential half that,
 * multinomial log(p) up to 1.3 (`_gb_losses`); from 1.4 (`sklearn._loss`) the multinomial link is
 * log(p / gmean(p)). Those logs are V8's: the init is within an ulp or two of scikit-learn's.
 */

import type { SklearnOutputKind } from "../../../heads/sklearn.js";
import { elementsOf } from "../pickle/numpy.js";
import { NdArray, PyObject, type PyValue, pyTypeName } from "../pickle/values.js";
import { Attrs, classLabels, featureNames, invalid, unsupported } from "./attrs.js";
import { valueLeaf } from "./forests.js";
import { type EstimatorModel, forestTree, headSpec } from "./model.js";
import { NodeSlab, readTree } from "./tree.js";

/** float32's machine epsilon, and 1 - eps as numpy computes it in float32. */
const EPS32 = 2 ** -23;
const ONE_MINUS_EPS32 = Math.fround(1 - EPS32);

type Link = "binomial" | "exponential" | "multinomial" | "regression";

const LOSSES: Record<string, Link> = {
  // scikit-learn <= 1.3 (sklearn.ensemble._gb_losses)
  BinomialDeviance: "binomial",
  ExponentialLoss: "exponential",
  MultinomialDeviance: "multinomial",
  LeastSquaresError: "regression",
  LeastAbsoluteError: "regression",
  HuberLossFunction: "regression",
  QuantileLossFunction: "regression",
  // scikit-learn >= 1.4 (sklearn._loss.loss)
  HalfBinomialLoss: "binomial",
  HalfMultinomialLoss: "multinomial",
  HalfSquaredError: "regression",
  AbsoluteError: "regression",
  HuberLoss: "regression",
  PinballLoss: "regression",
};

function clip(p: number): number {
  return Math.min(Math.max(p, EPS32), ONE_MINUS_EPS32);
}

/** DummyClassifier.predict_proba for one row (every row is the same). */
function dummyProba(init: Attrs, numClasses: number): Float64Array {
  const strategy = init.string("strategy");
  const prior = init.numbers("class_prior_");
  if (prior.length !== numClasses)
    invalid(`${init.path}.class_prior_ has ${prior.length} classes; the model has ${numClasses}`);
  switch (strategy) {
    case "prior":
      return prior;
    case "most_frequent": {
      const out = new Float64Array(numClasses);
      let best = 0;
      for (let k = 1; k < numClasses; k++) if (prior[k] > prior[best]) best = k;
      out[best] = 1;
      return out;
    }
    case "uniform":
      return new Float64Array(numClasses).fill(1 / numClasses);
    default:
      unsupported(
        `${init.path}: a DummyClassifier with strategy "${strategy}" as GradientBoosting's init is not scored`,
      );
  }
}

function initRaw(attrs: Attrs, link: Link, K: number, numClasses: number, modern: boolean): Float64Array {
  const init = attrs.get("init_");
  if (init === "zero") return new Float64Array(K);
  if (!(init instanceof PyObject)) invalid(`${attrs.path}.init_ is ${pyTypeName(init)}`);
  const est = new Attrs(init, `${attrs.path}.init_`);
  const name = init.cls.qualified;
  if (link === "regression") {
    if (name !== "sklearn.dummy.DummyRegressor")
      unsupported(
        `${est.path} is a ${init.cls.name}; forestd scores GradientBoosting with a DummyRegressor init or 'zero'`,
      );
    const constant = est.numbers("constant_");
    if (constant.length !== 1) invalid(`${est.path}.constant_ has ${constant.length} values`);
    return Float64Array.of(constant[0]);
  }
  if (name !== "sklearn.dummy.DummyClassifier")
    unsupported(
      `${est.path} is a ${init.cls.name}; forestd scores GradientBoosting with a DummyClassifier init or 'zero'`,
    );
  const proba = dummyProba(est, numClasses);
  if (link === "multinomial") {
    const p = Float64Array.from(proba, clip);
    if (!modern) return Float64Array.from(p, Math.log);
    // MultinomialLogit.link: log(p / gmean(p)), scipy's gmean = exp(mean(log p))
    let sum = 0;
    for (const v of p) sum += Math.log(v);
    const gm = Math.exp(sum / p.length);
    return Float64Array.from(p, (v) => Math.log(v / gm));
  }
  const p = clip(proba[1]);
  const logit = Math.log(p / (1 - p));
  return Float64Array.of(link === "exponential" ? 0.5 * logit : logit);
}

export function readGradientBoosting(attrs: Attrs, name: string, version: [number, number]): EstimatorModel {
  const numFeatures = attrs.int("n_features_in_");
  const lossObj = attrs.get("_loss");
  if (!(lossObj instanceof PyObject)) invalid(`${attrs.path}._loss is ${pyTypeName(lossObj)}`);
  const link = LOSSES[lossObj.cls.name];
  if (!link) unsupported(`${attrs.path}: GradientBoosting loss ${lossObj.cls.qualified} is not scored`);
  const modern = lossObj.cls.module.startsWith("sklearn._loss");
  const classifier = name === "GradientBoostingClassifier";
  if (classifier === (link === "regression"))
    invalid(`${attrs.path}: a ${name} with loss ${lossObj.cls.name}`);
  const classes = classifier ? classLabels(attrs) : [];
  const stages = attrs.get("estimators_");
  if (!(stages instanceof NdArray) || !stages.objects || stages.shape.length !== 2)
    invalid(`${attrs.path}.estimators_ is not a 2-d array of trees`);
  const [nStages, K] = stages.shape;
  const expectedK = link === "multinomial" ? classes.length : 1;
  if (K !== expectedK) invalid(`${attrs.path}.estimators_ has ${K} trees per stage; expected ${expectedK}`);
  if (nStages < 1) invalid(`${attrs.path} has no stages`);
  const rate = attrs.number("learning_rate");
  const objects = elementsOf(stages, `${attrs.path}.estimators_`);
  const slab = NodeSlab.forEstimators(objects, 1);
  const trees = objects.map((o: PyValue, i) => {
    const path = `${attrs.path}.estimators_[${Math.floor(i / K)}, ${i % K}]`;
    const member = Attrs.of(o, path, "sklearn.tree._classes.DecisionTreeRegressor");
    const t = readTree(member.get("tree_"), `${path}.tree_`, numFeatures, slab);
    if (t.nOutputs !== 1 || t.maxClasses !== 1)
      invalid(`${path}.tree_ is not a single-output regression tree`);
    return forestTree(t, 1, valueLeaf(t), null, slab);
  });
  const kind: SklearnOutputKind = !classifier
    ? "gb-regressor"
    : link === "binomial"
      ? "gb-binomial"
      : link === "exponential"
        ? "gb-exponential"
        : "gb-multinomial";
  return {
    trees,
    treeGroup: Int32Array.from(trees, (_t, i) => i % K),
    treeWeight: new Float64Array(trees.length).fill(rate),
    numGroups: K,
    init: initRaw(attrs, link, K, classes.length, modern),
    input: "f32",
    numFeatures,
    featureNames: featureNames(attrs, numFeatures),
    categorical: null,
    head: headSpec({ estimator: name, kind, classes, softmax: modern ? "max" : "logsumexp" }),
    details: {
      estimator: name,
      loss: lossObj.cls.name,
      stages: nStages,
      learningRate: rate,
      init: typeof attrs.get("init_") === "string" ? "zero" : (attrs.get("init_") as PyObject).cls.name,
      version: version.join("."),
    },
  };
}
