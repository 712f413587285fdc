/**
 * XGBoost objectives: how each turns `base_score` into a starting margin, and margins into outputs.
 *
 * Arithmetic follows XGBoost's float32 code step by step (each `Math.fround` is one float
 * operation in C++), so base margins are bit-identical and transformed outputs are within an ulp
 * (exp and log come from V8 rather than glibc).
 */
import { ModelError } from "./errors.js";

/** How XGBoost's `ProbToMargin` maps a base_score to a margin. */
export type BaseScoreLink = "identity" | "logit" | "log";
/** How XGBoost's `PredTransform` maps margins to predictions. */
export type OutputTransform = "identity" | "sigmoid" | "exp" | "hinge" | "softmax" | "argmax";
export type Task = "binary" | "multiclass" | "regression" | "ranking" | "survival";

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
  margins: Float32Array,
  rows: number,
  groups: number,
  out: Float32Array,
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

/**
 * The class a classifier's row names (an index into its classes), read the way its objective
 * writes outputs: argmax over several outputs; else the class itself (multi:softmax's argmax,
 * binary:hinge's 0/1), a probability past `threshold` (sigmoid), or a margin past its logit
 * (a hinge margin past 0).
 */
export function predictedClass(
  objective: Objective,
  outputs: Float32Array,
  row: number,
  width: number,
  margin: boolean,
  threshold = 0.5,
): number {
  const at = row * width;
  if (width > 1) {
    let best = 0;
    for (let g = 1; g < width; g++) if (outputs[at + g] > outputs[at + best]) best = g;
    return best;
  }
  const marginThreshold = objective.transform === "hinge" ? 0 : Math.log(threshold / (1 - threshold));
  if (margin) return outputs[at] > marginThreshold ? 1 : 0;
  switch (objective.transform) {
    case "argmax":
    case "hinge":
      return outputs[at];
    case "sigmoid":
      return outputs[at] > threshold ? 1 : 0;
    default:
      return outputs[at] > marginThreshold ? 1 : 0;
  }
}

/** XGBoost's common::Softmax: float max, float expf, double sum, float divide. */
function softmaxRow(margins: Float32Array, at: number, groups: number, out: Float32Array): void {
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
