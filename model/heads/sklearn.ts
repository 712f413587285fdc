/**
 * scikit-learn's estimators' own arithmetic after the trees: what `predict`, `predict_proba`,
 * `decision_function` and `score_samples` do with the summed leaves, in float64, in scikit-learn's
 * order of operations.
 *
 * - Forests and trees: each tree's leaf already holds its normalised class distribution
 *   (`DecisionTreeClassifier.predict_proba`) or its value; the forest sums them in tree order from
 *   zeros (`_accumulate_prediction` with n_jobs=1) and divides by n_estimators
 *   (`ForestClassifier.predict_proba`, `ForestRegressor.predict`). predict = classes_[argmax].
 * - GradientBoosting (losses of scikit-learn <= 1.3, `_gb_losses`): raw = init + sum of
 *   learning_rate * leaf (`predict_stages`); binomial proba = [1 - expit(raw), expit(raw)],
 *   label = argmax(proba); exponential proba = expit(2 raw), label = raw >= 0; multinomial proba =
 *   nan_to_num(exp(raw - logsumexp(raw))), label = argmax(raw). From 1.4 (sklearn._loss) the
 *   multinomial proba is scikit-learn's softmax (max subtracted).
 * - HistGradientBoosting: raw = baseline + sum of leaves; binary proba = [1 - expit, expit];
 *   multiclass softmax (`sklearn.utils.extmath.softmax`); label = argmax(proba); regressors the
 *   loss's inverse link (identity or exp).
 * - IsolationForest: the trees sum each leaf's path length (depth + c(n) - 1); score_samples =
 *   -2^(-sum / (n_estimators c(max_samples))) (the margin), decision_function = score_samples -
 *   offset_ (the prediction), predict = -1 where decision_function < 0, else 1 (the label).
 *
 * exp and log are the platform's (V8's Math.exp/log against numpy's libm): these outputs are
 * within 2 ulp of scikit-learn's, everything before them is bit-identical.
 */
import type { Forest, HeadSpec } from "../forest/forest.js";
import type { Head, HeadFactory, OptionalOutput, Task, Values } from "./head.js";

export type SklearnOutputKind =
  | "classifier-average"
  | "regressor-average"
  | "gb-binomial"
  | "gb-exponential"
  | "gb-multinomial"
  | "gb-regressor"
  | "hgb-binary"
  | "hgb-multiclass"
  | "hgb-regressor"
  | "isolation-forest";

export interface SklearnHeadSpec extends HeadSpec {
  readonly family: "sklearn";
  /** The estimator's class name ("RandomForestClassifier"). */
  readonly estimator: string;
  readonly kind: SklearnOutputKind;
  /** A classifier's classes_ (strings or numbers); empty otherwise. */
  readonly classes: readonly (string | number)[];
  /** Forests: the sums are divided by this (n_estimators); null = not divided (a single tree, boosting). */
  readonly divisor: number | null;
  /** Regressors: values per row (n_outputs). */
  readonly outputs: number;
  /** hgb-regressor: the loss's inverse link. */
  readonly link: "identity" | "exp";
  /**
   * Multi-class probabilities: exp(raw - logsumexp(raw)) (GradientBoosting <= 1.3, HistGradientBoosting
   * 1.0) or scikit-learn's softmax with the maximum subtracted (GradientBoosting 1.4+, HistGradientBoosting 1.1+).
   */
  readonly softmax: "logsumexp" | "max";
  /** isolation-forest: offset_ and n_estimators * c(max_samples). */
  readonly offset: number;
  readonly denominator: number;
}

export function isSklearnSpec(spec: HeadSpec): spec is SklearnHeadSpec {
  return spec.family === "sklearn";
}

/** scipy.special.expit (scipy/special/_logit.h): 1 / (1 + exp(-x)). */
export function expit(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** numpy's pairwise sum (add.reduce of float64 from 0, as numpy's DOUBLE_pairwise_sum). */
export function numpySum(a: ArrayLike<number>, at: number, n: number): number {
  return 0 + pairwise(a, at, n);
}

function pairwise(a: ArrayLike<number>, at: number, n: number): number {
  if (n < 8) {
    let res = -0;
    for (let i = 0; i < n; i++) res += a[at + i];
    return res;
  }
  if (n <= 128) {
    const r = [a[at], a[at + 1], a[at + 2], a[at + 3], a[at + 4], a[at + 5], a[at + 6], a[at + 7]];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[at + i + j];
    let res = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) res += a[at + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwise(a, at, n2) + pairwise(a, at + n2, n - n2);
}

/** The first largest value's index (numpy's argmax). */
function argmax(v: Values, at: number, n: number): number {
  let best = 0;
  for (let k = 1; k < n; k++) if (v[at + k] > v[at + best]) best = k;
  return best;
}

class SklearnHead implements Head {
  readonly family = "sklearn";
  readonly objective: string;
  readonly task: Task;
  readonly numMargins: number;
  readonly numOutputs: number;
  readonly classLabels: readonly (string | number)[];
  readonly precision = "f64" as const;
  readonly predictionIs: "values" | "labels";

  constructor(
    private readonly spec: SklearnHeadSpec,
    private readonly numGroups: number,
  ) {
    this.objective = spec.estimator;
    const n = spec.classes.length;
    switch (spec.kind) {
      case "classifier-average":
        this.task = n === 2 ? "binary" : "multiclass";
        this.numMargins = n;
        this.numOutputs = n;
        break;
      case "gb-binomial":
      case "gb-exponential":
      case "gb-multinomial":
      case "hgb-binary":
      case "hgb-multiclass":
        this.task = n === 2 ? "binary" : "multiclass";
        this.numMargins = numGroups;
        this.numOutputs = n;
        break;
      case "isolation-forest":
        this.task = "anomaly";
        this.numMargins = 1;
        this.numOutputs = 1;
        break;
      default:
        this.task = "regression";
        this.numMargins = numGroups;
        this.numOutputs = numGroups;
    }
    this.classLabels = spec.kind === "isolation-forest" ? [-1, 1] : spec.classes;
    this.predictionIs = this.classLabels.length > 0 ? "labels" : "values";
  }

  unavailable(output: OptionalOutput): string | null {
    switch (output) {
      case "label":
        return this.classLabels.length ? null : `${this.spec.estimator} is a regressor: it has no labels`;
      case "proba":
        return this.spec.classes.length ? null : `${this.spec.estimator} gives no class probabilities`;
      case "leaf":
        return null;
      case "contribs":
      case "interactions":
        return `scikit-learn has no SHAP values of its own for ${this.spec.estimator} to match (the shap package's TreeExplainer is not part of scikit-learn)`;
    }
  }

  finish(sums: Values, rows: number): Values {
    const { kind, divisor } = this.spec;
    if ((kind === "classifier-average" || kind === "regressor-average") && divisor !== null)
      for (let i = 0; i < rows * this.numGroups; i++) sums[i] = sums[i] / divisor;
    if (kind === "isolation-forest") {
      const d = this.spec.denominator;
      for (let r = 0; r < rows; r++) {
        // np.divide(depths, denominator, out=ones, where=denominator != 0); scores = 2 ** -that
        const ratio = d !== 0 ? sums[r] / d : 1;
        sums[r] = -(2 ** -ratio);
      }
    }
    return sums;
  }

  predict(margins: Values, rows: number, out: Values): void {
    const { kind } = this.spec;
    const k = this.numOutputs;
    if (this.spec.classes.length) {
      out.set(this.proba(margins, rows));
      return;
    }
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < k; j++) {
        const m = margins[r * this.numMargins + j];
        out[r * k + j] =
          kind === "isolation-forest"
            ? m - this.spec.offset
            : kind === "hgb-regressor" && this.spec.link === "exp"
              ? Math.exp(m)
              : m;
      }
    }
  }

  classes(values: Values, rows: number, from: "margins" | "predictions", _threshold: number): Int32Array {
    const out = new Int32Array(rows);
    const { kind } = this.spec;
    if (kind === "isolation-forest") {
      // predict: -1 where decision_function < 0 (predictions are decision_function already)
      const offset = from === "margins" ? this.spec.offset : 0;
      for (let r = 0; r < rows; r++) out[r] = values[r] - offset < 0 ? 0 : 1;
      return out;
    }
    const n = this.spec.classes.length;
    if (!n) return out;
    if (from === "predictions") {
      // probabilities: argmax as scikit-learn's predict, except the exponential loss's raw >= 0
      // (p1 = expit(2 raw) >= 0.5; at raw = 0 exactly both say class 1 only this way)
      for (let r = 0; r < rows; r++)
        out[r] = kind === "gb-exponential" ? (values[r * n + 1] >= 0.5 ? 1 : 0) : argmax(values, r * n, n);
      return out;
    }
    if (kind === "gb-exponential") {
      for (let r = 0; r < rows; r++) out[r] = values[r] >= 0 ? 1 : 0;
      return out;
    }
    if (kind === "gb-multinomial" || kind === "classifier-average") {
      for (let r = 0; r < rows; r++) out[r] = argmax(values, r * this.numMargins, this.numMargins);
      return out;
    }
    const proba = this.proba(values, rows);
    for (let r = 0; r < rows; r++) out[r] = argmax(proba, r * n, n);
    return out;
  }

  /** A classifier's predictions are its probabilities already. */
  probabilities(predictions: Values, rows: number): Values {
    return predictions.slice(0, rows * this.numOutputs);
  }

  /** predict_proba from margins. */
  private proba(margins: Values, rows: number): Float64Array {
    const n = this.spec.classes.length;
    const out = new Float64Array(rows * n);
    const { kind } = this.spec;
    for (let r = 0; r < rows; r++) {
      const at = r * n;
      switch (kind) {
        case "classifier-average":
          for (let c = 0; c < n; c++) out[at + c] = margins[at + c];
          break;
        case "gb-binomial":
        case "hgb-binary":
        case "gb-exponential": {
          const raw = margins[r];
          const p = expit(kind === "gb-exponential" ? 2 * raw : raw);
          out[at + 1] = p;
          out[at] = 1 - p;
          break;
        }
        case "gb-multinomial":
          if (this.spec.softmax === "logsumexp") logsumexpProba(margins, r * n, n, out, at);
          else softmax(margins, r * n, n, out, at);
          break;
        case "hgb-multiclass":
          if (this.spec.softmax === "logsumexp") logsumexpProba(margins, r * n, n, out, at);
          else softmax(margins, r * n, n, out, at);
          break;
        default:
          break;
      }
    }
    return out;
  }
}

/** scikit-learn's softmax (utils/extmath.py): x - max, exp, divided by their (numpy) sum. */
function softmax(v: Values, at: number, n: number, out: Float64Array, to: number): void {
  let max = v[at];
  for (let k = 1; k < n; k++) if (v[at + k] > max || Number.isNaN(v[at + k])) max = v[at + k];
  for (let k = 0; k < n; k++) out[to + k] = Math.exp(v[at + k] - max);
  const sum = numpySum(out, to, n);
  for (let k = 0; k < n; k++) out[to + k] = out[to + k] / sum;
}

/**
 * MultinomialDeviance._raw_prediction_to_proba: nan_to_num(exp(raw - logsumexp(raw))), with
 * scipy's logsumexp: a_max (0 if not finite), log(sum(exp(a - a_max))) + a_max.
 */
function logsumexpProba(v: Values, at: number, n: number, out: Float64Array, to: number): void {
  let max = v[at];
  for (let k = 1; k < n; k++) if (v[at + k] > max) max = v[at + k];
  if (!Number.isFinite(max)) max = 0;
  const tmp = new Float64Array(n);
  for (let k = 0; k < n; k++) tmp[k] = Math.exp(v[at + k] - max);
  const lse = Math.log(numpySum(tmp, 0, n)) + max;
  for (let k = 0; k < n; k++) {
    const p = Math.exp(v[at + k] - lse);
    out[to + k] = Number.isNaN(p) ? 0 : p === Number.POSITIVE_INFINITY ? Number.MAX_VALUE : p;
  }
}

export const sklearnHead: HeadFactory = (forest: Forest, spec: HeadSpec): Head => {
  if (!isSklearnSpec(spec)) throw new TypeError(`the sklearn head was given a ${spec.family} spec`);
  return new SklearnHead(spec, forest.numGroups);
};
