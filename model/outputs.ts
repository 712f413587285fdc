/**
 * The answers a caller can ask a model for, one per row: `prediction` (as XGBoost's predict:
 * a binary classifier's P(positive class), a multi-class probability row, a regressor's value),
 * `margin` (the scores before the output transform), `proba` (every class's probability) and
 * `label` (the model's own class label: an ONNX classifier's strings or ints, XGBoost's class index).
 * Shared by the CLI and the HTTP routes so both answer alike.
 */
import type { Model } from "./model.js";
import { outputsToJson } from "./rows.js";

export const OUTPUT_KINDS = ["prediction", "margin", "proba", "label"] as const;
export type OutputKind = (typeof OUTPUT_KINDS)[number];
export type RowAnswer = number | string | number[];

export function isOutputKind(v: unknown): v is OutputKind {
  return typeof v === "string" && (OUTPUT_KINDS as readonly string[]).includes(v);
}

/** Why `kind` cannot be answered for this model, or null when it can. */
export function outputUnavailable(model: Model, kind: OutputKind): string | null {
  if (kind === "label" && model.classLabels.length === 0)
    return `output "label" needs a classifier; this model's task is ${model.task}`;
  if (kind === "proba") {
    if (model.classLabels.length === 0)
      return `output "proba" needs a classifier; this model's task is ${model.task}`;
    if (
      model.format === "xgboost" &&
      model.objective !== "binary:logistic" &&
      model.objective !== "multi:softprob"
    )
      return `output "proba" needs probabilities; ${model.objective} does not give them`;
  }
  return null;
}

/** Whether `kind` is computed from margins (else from transformed predictions). */
export function fromMargins(kind: OutputKind): boolean {
  return kind === "margin" || kind === "label";
}

/** An ONNX binary classifier's probabilities come as [P(negative), P(positive)]. */
function positiveColumn(model: Model): boolean {
  return model.format === "onnx" && model.task === "binary";
}

/**
 * One answer per row from `raw`: margins (rows × numMarginOutputs) when `fromMargins(kind)`,
 * else predictions (rows × numOutputs).
 */
export function answersFor(model: Model, kind: OutputKind, raw: Float32Array, rows: number): RowAnswer[] {
  switch (kind) {
    case "margin":
      return outputsToJson(raw, model.numMarginOutputs);
    case "label":
      return model.labels(raw, rows);
    case "proba":
      if (model.format === "xgboost" && model.objective === "binary:logistic")
        return Array.from(raw.subarray(0, rows), (p) => [Math.fround(1 - p), p]);
      return outputsToJson(raw, model.numOutputs);
    case "prediction":
      if (positiveColumn(model)) return Array.from({ length: rows }, (_, r) => raw[r * 2 + 1]);
      return outputsToJson(raw, model.numOutputs);
  }
}
