/**
 * The answers a caller can ask a model for, per row, shared by the CLI, /predict and the Open
 * Inference Protocol routes so all answer alike: `prediction` (as XGBoost's predict: a binary
 * classifier's P(positive class), a multi-class probability row, a regressor's value), `margin`
 * (the scores before the output transform), `proba` (every class's probability), `label` (the
 * class: CLASS_NAMES or the index for XGBoost, an ONNX classifier's own labels) and the
 * explanations (SHAP contributions and interactions, leaf indices; XGBoost models only).
 */
import { UnsupportedOutputError } from "./errors.js";
import type { Model } from "./model.js";
import { outputsToJson } from "./rows.js";

export const OUTPUT_KINDS = [
  "prediction",
  "margin",
  "proba",
  "label",
  "contribs",
  "interactions",
  "leaf",
] as const;
export type OutputKind = (typeof OUTPUT_KINDS)[number];
/** One row's answer for the outputs computed from scores (not explanations). */
export type RowAnswer = number | string | number[];

export function isOutputKind(v: unknown): v is OutputKind {
  return typeof v === "string" && (OUTPUT_KINDS as readonly string[]).includes(v);
}

/** Why `kind` cannot be answered for this model (a 400's or a usage error's message), or null. */
export function outputUnavailable(model: Model, kind: OutputKind): string | null {
  if ((kind === "label" || kind === "proba") && classCount(model) === 0)
    return `output "${kind}" needs a classifier; this model (${model.objective}) is a ${model.task} model`;
  if (
    kind === "proba" &&
    model.format === "xgboost" &&
    model.objective !== "binary:logistic" &&
    model.objective !== "multi:softprob"
  )
    return `output "proba" needs probabilities; ${model.objective} does not give them`;
  if (isExplainKind(kind)) {
    const reason = explainUnsupportedReason(model, kind);
    if (reason) return `output "${kind}" is not supported for this model: ${reason}`;
  }
  return null;
}

/** Whether `kind` is computed from margins (else from transformed predictions). */
export function fromMargins(kind: "prediction" | "margin" | "proba" | "label"): boolean {
  return kind === "margin" || kind === "label";
}

/**
 * One answer per row from `raw`: margins (rows × numMarginOutputs) when `fromMargins(kind)`,
 * else predictions (rows × numOutputs).
 */
export function answersFor(
  model: Model,
  kind: "prediction" | "margin" | "proba" | "label",
  raw: Float32Array,
  rows: number,
  labels: LabelOptions = DEFAULT_LABELS,
): RowAnswer[] {
  switch (kind) {
    case "margin":
      return outputsToJson(raw, model.numMarginOutputs);
    case "label":
      return labelsOf(model, raw, rows, labels);
    case "proba":
      if (model.format === "xgboost" && model.objective === "binary:logistic")
        return Array.from(raw.subarray(0, rows), (p) => [Math.fround(1 - p), p]);
      return outputsToJson(raw, model.numOutputs);
    case "prediction":
      // An ONNX binary classifier's probabilities come as [P(negative), P(positive)].
      if (model.format === "onnx" && model.task === "binary")
        return Array.from({ length: rows }, (_, r) => raw[r * 2 + 1]);
      return outputsToJson(raw, model.numOutputs);
  }
}

/** XGBoost's pred_contribs, pred_interactions and pred_leaf. */
export type ExplainKind = "contribs" | "interactions" | "leaf";
export const EXPLAIN_KINDS: readonly ExplainKind[] = ["contribs", "interactions", "leaf"];

export function isExplainKind(v: unknown): v is ExplainKind {
  return v === "contribs" || v === "interactions" || v === "leaf";
}

/** The shape of one row's explanation, as XGBoost's predict returns it (without the row axis). */
export function explainShape(model: Model, kind: ExplainKind): number[] {
  const groups = model.numMarginOutputs;
  const width = model.numFeature + 1;
  switch (kind) {
    case "contribs":
      return groups > 1 ? [groups, width] : [width];
    case "interactions":
      return groups > 1 ? [groups, width, width] : [width, width];
    case "leaf":
      return [model.numTrees];
  }
}

/** Float32 values per row of an explanation. */
export function explainWidth(model: Model, kind: ExplainKind): number {
  return explainShape(model, kind).reduce((a, b) => a * b, 1);
}

/** Why `kind` cannot be computed for this model, or null. */
export function explainUnsupportedReason(model: Model, kind: ExplainKind): string | null {
  // Leaf indices need no covers, but an ONNX model's compiled trees are not the file's: none for ONNX.
  return kind === "leaf" && model.format !== "onnx" ? null : model.explainUnsupportedReason;
}

/** rows × explainWidth values, row-major. */
export function explain(model: Model, kind: ExplainKind, values: Float32Array, rows: number): Float32Array {
  switch (kind) {
    case "contribs":
      return model.predictContribs(values, rows);
    case "interactions":
      return model.predictInteractions(values, rows);
    case "leaf":
      return model.predictLeaf(values, rows);
  }
}

export type Nested = number | Nested[];

/** Each row's values as nested arrays of `shape` (XGBoost's (N, ...shape) array, row by row). */
export function toNested(data: Float32Array, rows: number, shape: readonly number[]): Nested[] {
  const width = shape.reduce((a, b) => a * b, 1);
  const build = (at: number, dim: number): Nested[] => {
    const n = shape[dim];
    const out: Nested[] = new Array(n);
    if (dim === shape.length - 1) for (let i = 0; i < n; i++) out[i] = data[at + i];
    else {
      const step = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      for (let i = 0; i < n; i++) out[i] = build(at + i * step, dim + 1);
    }
    return out;
  };
  return Array.from({ length: rows }, (_, r) => build(r * width, 0));
}

/** How a classifier's outputs become class labels. */
export interface LabelOptions {
  /** One name per class (CLASS_NAMES); null: the model's own labels, else the class index. */
  readonly classNames: readonly string[] | null;
  /** Binary classifiers: a probability above this is class 1. */
  readonly threshold: number;
}

export const DEFAULT_LABELS: LabelOptions = { classNames: null, threshold: 0.5 };

/** Classes of a classifier (2 for binary objectives), 0 for regression and ranking. */
export function classCount(model: Model): number {
  if (model.task === "binary") return 2;
  return model.task === "multiclass" ? model.numClass : 0;
}

/** A message saying why `names` cannot label this model's classes, or null when they fit. */
export function classNamesProblem(model: Model, names: readonly string[]): string | null {
  if (model.format === "onnx")
    return "CLASS_NAMES is for XGBoost models; an ONNX classifier answers with its own class labels";
  const classes = classCount(model);
  if (classes === 0)
    return `CLASS_NAMES is set, but the model (${model.objective}) is a ${model.task} model, not a classifier`;
  if (names.length !== classes)
    return `CLASS_NAMES has ${names.length} name(s) (${names.join(", ").slice(0, 200)}), but the model (${model.objective}) has ${classes} classes`;
  const seen = new Set<string>();
  for (const name of names) {
    if (name === "") return "CLASS_NAMES has an empty name";
    if (seen.has(name)) return `CLASS_NAMES names "${name}" twice`;
    seen.add(name);
  }
  return null;
}

/**
 * Each row's class index from its margins (rows × numMarginOutputs): the largest margin for
 * multi-class models (XGBoost's argmax, first of equals), and for binary ones probability >
 * threshold (hinge: an output of 1).
 */
export function classIndices(
  model: Model,
  margins: Float32Array,
  rows: number,
  threshold: number,
): Int32Array {
  const classes = classCount(model);
  if (classes === 0) {
    throw new UnsupportedOutputError(
      `labels need a classifier; the model (${model.objective}) is a ${model.task} model`,
    );
  }
  const out = new Int32Array(rows);
  if (model.task === "multiclass") {
    const g = model.numMarginOutputs;
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let k = 1; k < g; k++) if (margins[r * g + k] > margins[r * g + best]) best = k;
      out[r] = best;
    }
    return out;
  }
  if (model.objective === "binary:hinge") {
    for (let r = 0; r < rows; r++) out[r] = margins[r] > 0 ? 1 : 0;
    return out;
  }
  // binary:logistic and binary:logitraw: the probability is the sigmoid of the margin.
  const probabilities = model.objective === "binary:logistic" ? model.transform(margins, rows) : null;
  for (let r = 0; r < rows; r++) {
    const p = probabilities ? probabilities[r] : 1 / (1 + Math.exp(-margins[r]));
    out[r] = p > threshold ? 1 : 0;
  }
  return out;
}

/** CLASS_NAMES and THRESHOLD (the settings of those names) as label options. */
export function labelOptions(settings: {
  readonly class_names: readonly string[];
  readonly threshold: number;
}): LabelOptions {
  return {
    classNames: settings.class_names.length > 0 ? settings.class_names : null,
    threshold: settings.threshold,
  };
}

/** Throws, with a message naming CLASS_NAMES, when the names do not fit the model's classes. */
export function checkLabels(model: Model, labels: LabelOptions): void {
  const problem = labels.classNames ? classNamesProblem(model, labels.classNames) : null;
  if (problem) throw new Error(problem);
}

/**
 * The names metrics and labels use for classes: CLASS_NAMES, an ONNX classifier's own labels,
 * else null (XGBoost's labels are class indices).
 */
export function labelNames(model: Model, options: LabelOptions): readonly string[] | null {
  if (options.classNames) return options.classNames;
  return model.format === "onnx" ? model.classLabels.map(String) : null;
}

/**
 * Each row's class label from its margins: an ONNX classifier's exactly as onnxruntime's `label`
 * output; an XGBoost classifier's index (THRESHOLD splitting binary ones), or its CLASS_NAMES name.
 */
export function labelsOf(
  model: Model,
  margins: Float32Array,
  rows: number,
  options: LabelOptions = DEFAULT_LABELS,
): (string | number)[] {
  if (model.format === "onnx") return model.labels(margins, rows);
  return labelsToJson(classIndices(model, margins, rows, options.threshold), options.classNames);
}

export function labelsToJson(indices: Int32Array, names: readonly string[] | null): (string | number)[] {
  return Array.from(indices, (c) => (names ? names[c] : c));
}
