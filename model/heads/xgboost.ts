/**
 * The XGBoost head: its objectives, how each turns `base_score` into a starting margin (used by the
 * XGBoost reader for the forest's initial margins), and margins into predictions, probabilities
 * and classes.
 *
 * Arithmetic follows XGBoost's float32 code step by step (each `Math.fround` is one float
 * operation in C++), so base margins are bit-identical and transformed outputs are within an ulp
 * (exp and log come from V8 rather than glibc).
 */
import { ModelError } from "../errors.js";
import type { Forest, HeadSpec } from "../forest/forest.js";
import type { Head, HeadFactory, OptionalOutput, Task, Values } from "./head.js";

/** How XGBoost's `ProbToMargin` maps a base_score to a margin. */
export type BaseScoreLink = "identity" | "logit" | "log";
/** How XGBoost's `PredTransform` maps margins to predictions. */
export type OutputTransform = "identity" | "sigmoid" | "exp" | "hinge" | "softmax" | "argmax";

export interface Objective {
  readonly name: string;
  readonly link: BaseScoreLink;
  readonly transform: OutputTransform;
  readonly task: Task;
}

const TABLE: Record<string, Omit<Objective, "name">> = {
  "binary:logistic": { link: "logit", transform: "sigmoid", task: "binary" },
  "binary:logitraw": { link: "identity", transform: "identity", task: "binary" },
  "binary:hinge": { link: "identity", transform: "hinge", task: "binary" },
  "multi:softprob": { link: "identity", transform: "softmax", task: "multiclass" },
  "multi:softmax": { link: "identity", transform: "argmax", task: "multiclass" },
  "reg:squarederror": { link: "identity", transform: "identity", task: "regression" },
  "reg:linear": { link: "identity", transform: "identity", task: "regression" },
  "reg:squaredlogerror": { link: "identity", transform: "identity", task: "regression" },
  "reg:absoluteerror": { link: "identity", transform: "identity", task: "regression" },
  "reg:pseudohubererror": { link: "identity", transform: "identity", task: "regression" },
  "reg:quantileerror": { link: "identity", transform: "identity", task: "regression" },
  "reg:logistic": { link: "logit", transform: "sigmoid", task: "regression" },
  "reg:gamma": { link: "log", transform: "exp", task: "regression" },
  "reg:tweedie": { link: "log", transform: "exp", task: "regression" },
  "count:poisson": { link: "log", transform: "exp", task: "regression" },
  "survival:cox": { link: "log", transform: "exp", task: "survival" },
  "survival:aft": { link: "log", transform: "exp", task: "survival" },
  "rank:pairwise": { link: "identity", transform: "identity", task: "ranking" },
  "rank:ndcg": { link: "identity", transform: "identity", task: "ranking" },
  "rank:map": { link: "identity", transform: "identity", task: "ranking" },
};

export const SUPPORTED_OBJECTIVES: readonly string[] = Object.keys(TABLE);

export function objectiveByName(name: string): Objective {
  const entry = Object.hasOwn(TABLE, name) ? TABLE[name] : undefined;
  if (!entry) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      `unknown objective "${name.slice(0, 80)}"; forestd scores: ${SUPPORTED_OBJECTIVES.join(", ")}`,
    );
  }
  return { name, ...entry };
}

const f = Math.fround;

/** XGBoost's ProbToMargin, in float32 as XGBoost computes it. Throws where the result is not finite. */
export function baseMargin(objective: Objective, baseScore: number): number {
  const b = f(baseScore);
  let margin: number;
  switch (objective.link) {
    case "identity":
      margin = b;
      break;
    case "logit": // -logf(1.0f / base_score - 1.0f)
      margin = f(-f(Math.log(f(f(1 / b) - 1))));
      break;
    case "log": // logf(base_score)
      margin = f(Math.log(b));
      break;
  }
  if (!Number.isFinite(margin)) {
    const range = objective.link === "logit" ? "between 0 and 1 (exclusive)" : "greater than 0";
    throw new ModelError(
      "FORESTD_ERR_MODEL_INVALID",
      `base_score ${baseScore} is out of range for ${objective.name}: it must be ${range}`,
    );
  }
  return margin;
}

/** Values per row that `transform` produces from `groups` margins per row. */
export function transformedWidth(objective: Objective, groups: number): number {
  return objective.transform === "argmax" ? 1 : groups;
}

/**
 * Margins (rows × groups) to predictions (rows × transformedWidth), written into `out`.
 * `out` may be `margins` itself except for argmax, whose width differs.
 */
export function applyTransform(
  objective: Objective,
  margins: Values,
  rows: number,
  groups: number,
  out: Values,
): void {
  const n = rows * groups;
  switch (objective.transform) {
    case "identity":
      if (out !== margins) out.set(margins.subarray(0, n));
      return;
    case "sigmoid":
      // XGBoost 2+: 1 / (expf(min(-x, 88.7f)) + 1 + 1e-16f); 1.x: 1 / (1 + expf(-x)). The clamp only
      // matters below -88.7, where both are 0 within 1e-38.
      for (let i = 0; i < n; i++) {
        const e = f(Math.exp(Math.min(-margins[i], 88.7)));
        out[i] = f(1 / f(e + 1));
      }
      return;
    case "exp":
      for (let i = 0; i < n; i++) out[i] = Math.exp(margins[i]);
      return;
    case "hinge":
      for (let i = 0; i < n; i++) out[i] = margins[i] > 0 ? 1 : 0;
      return;
    case "softmax":
      for (let r = 0; r < rows; r++) softmaxRow(margins, r * groups, groups, out);
      return;
    case "argmax":
      for (let r = 0; r < rows; r++) {
        const at = r * groups;
        let best = 0;
        for (let g = 1; g < groups; g++) if (margins[at + g] > margins[at + best]) best = g;
        out[r] = best;
      }
      return;
  }
}

/** XGBoost's common::Softmax: float max, float expf, double sum, float divide. */
function softmaxRow(margins: Values, at: number, groups: number, out: Values): void {
  let max = margins[at];
  for (let g = 1; g < groups; g++) max = Math.max(max, margins[at + g]);
  let sum = 0;
  for (let g = 0; g < groups; g++) {
    const e = f(Math.exp(f(margins[at + g] - max)));
    out[at + g] = e;
    sum += e;
  }
  const total = f(sum);
  for (let g = 0; g < groups; g++) out[at + g] = out[at + g] / total;
}

/** What an XGBoost forest's head descriptor holds. */
export interface XGBoostHeadSpec extends HeadSpec {
  readonly family: "xgboost";
  readonly objective: string;
  readonly numClass: number;
}

/** The class of each row: argmax over classes (first of equals), or a binary probability past `threshold`. */
function classesOf(
  objective: Objective,
  values: Values,
  rows: number,
  width: number,
  from: "margins" | "predictions",
  threshold: number,
): Int32Array {
  const out = new Int32Array(rows);
  if (width > 1) {
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let k = 1; k < width; k++) if (values[r * width + k] > values[r * width + best]) best = k;
      out[r] = best;
    }
    return out;
  }
  if (from === "predictions" && objective.transform === "sigmoid") {
    // binary:logistic's probabilities, the common case (every answered request is counted by
    // class): one compare a row, the objective not asked again for each.
    for (let r = 0; r < rows; r++) out[r] = values[r] > threshold ? 1 : 0;
    return out;
  }
  for (let r = 0; r < rows; r++) {
    const v = values[r];
    if (objective.transform === "argmax") out[r] = from === "predictions" ? v : 0;
    else if (objective.transform === "hinge") out[r] = from === "predictions" ? v : v > 0 ? 1 : 0;
    else if (from === "predictions" && objective.transform === "sigmoid") out[r] = v > threshold ? 1 : 0;
    else if (objective.transform === "sigmoid") {
      // binary:logistic from margins: the probability XGBoost would output, then the threshold.
      const e = f(Math.exp(Math.min(-v, 88.7)));
      out[r] = f(1 / f(e + 1)) > threshold ? 1 : 0;
    } else out[r] = 1 / (1 + Math.exp(-v)) > threshold ? 1 : 0; // binary:logitraw: the sigmoid of the margin
  }
  return out;
}

export const xgboostHead: HeadFactory = (forest: Forest, spec: HeadSpec): Head => {
  const { objective: name, numClass } = spec as XGBoostHeadSpec;
  const objective = objectiveByName(name);
  const groups = forest.numGroups;
  const numOutputs = transformedWidth(objective, groups);
  const classes = objective.task === "multiclass" ? numClass : objective.task === "binary" ? 2 : 0;
  const classLabels = Array.from({ length: classes }, (_, i) => i);
  const probabilities = name === "binary:logistic" || name === "multi:softprob";
  return {
    family: "xgboost",
    objective: name,
    task: objective.task,
    numMargins: groups,
    numOutputs,
    classLabels,
    precision: "f32",
    predictionIs: "values",
    // applyTransform reads each margin before it writes that slot (softmax per row, the rest per value).
    predictsInPlace: true,
    unavailable(output: OptionalOutput): string | null {
      if ((output === "label" || output === "proba") && classes === 0)
        return `output "${output}" needs a classifier; this model (${name}) is a ${objective.task} model`;
      if (output === "proba" && !probabilities)
        return `output "proba" needs probabilities; ${name} does not give them`;
      return null;
    },
    finish: (sums) => sums,
    predict(margins, rows, out) {
      applyTransform(objective, margins, rows, groups, out);
    },
    classes(values, rows, from, threshold) {
      const width = from === "margins" ? groups : numOutputs;
      return classesOf(objective, values, rows, width, from, threshold);
    },
    probabilities(predictions, rows) {
      if (name !== "binary:logistic") return predictions.slice(0, rows * numOutputs);
      // [P(class 0), P(class 1)] per row, as scikit-learn's predict_proba for XGBClassifier.
      const out = new Float32Array(rows * 2);
      for (let r = 0; r < rows; r++) {
        out[r * 2] = f(1 - predictions[r]);
        out[r * 2 + 1] = predictions[r];
      }
      return out;
    },
  };
};
