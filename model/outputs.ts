/**
 * The answers a caller can ask a model for, per row, shared by the CLI, /predict and the Open
 * Inference Protocol routes so all answer alike: `prediction` (what the model's own library's
 * predict gives: XGBoost's and LightGBM's values, an ONNX binary classifier's P(positive), a
 * scikit-learn classifier's label), `margin` (the scores before the head's transform), `proba`
 * (every class's probability), `label` (the class: CLASS_NAMES, else the model's own label) and
 * the explanations (SHAP contributions and interactions, leaf indices). Every "can it?" and "which
 * class?" is the head's answer (model/heads/); nothing here knows a format.
 */
import { UnsupportedOutputError } from "./errors.js";
import type { Precision } from "./forest/forest.js";
import type { LabelOptions, Values } from "./heads/head.js";
import { DEFAULT_LABELS } from "./heads/head.js";
import type { Model, Rows } from "./model.js";
import { outputsToJson } from "./rows.js";

export { DEFAULT_LABELS, type LabelOptions };

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
  if (kind === "label" || kind === "proba") return model.unavailable(kind);
  if (isExplainKind(kind)) {
    const reason = model.unavailable(kind);
    if (reason) return `output "${kind}" is not supported for this model: ${reason}`;
  }
  return null;
}

/** Whether `kind` is computed from margins (else from predictions). */
export function fromMargins(kind: "prediction" | "margin" | "proba" | "label"): boolean {
  return kind === "margin" || kind === "label";
}

/** Whether the default answer of this model is its predictions as numbers (written without building arrays). */
export function predictionsAreValues(model: Model): boolean {
  return model.head.predictionIs === "values";
}

/**
 * One answer per row from `raw`: margins (rows × numMarginOutputs) when `fromMargins(kind)`,
 * else predictions (rows × numOutputs).
 */
export function answersFor(
  model: Model,
  kind: "prediction" | "margin" | "proba" | "label",
  raw: Values,
  rows: number,
  labels: LabelOptions = DEFAULT_LABELS,
): RowAnswer[] {
  switch (kind) {
    case "margin":
      return outputsToJson(raw, model.numMarginOutputs);
    case "label":
      return labelsOf(model, raw, rows, labels);
    case "proba":
      return outputsToJson(model.head.probabilities(raw, rows), model.classLabels.length);
    case "prediction":
      switch (model.head.predictionIs) {
        case "positive":
          return Array.from({ length: rows }, (_, r) => raw[r * model.numOutputs + 1]);
        case "labels": {
          const names = labels.classNames ?? model.classLabels;
          return Array.from(model.classes(raw, rows, "predictions", labels.threshold), (c) => names[c]);
        }
        default:
          return outputsToJson(raw, model.numOutputs);
      }
  }
}

/** XGBoost's pred_contribs, pred_interactions and pred_leaf (LightGBM's pred_contrib and pred_leaf). */
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

/** Values per row of an explanation. */
export function explainWidth(model: Model, kind: ExplainKind): number {
  return explainShape(model, kind).reduce((a, b) => a * b, 1);
}

/** Why `kind` cannot be computed for this model, or null. */
export function explainUnsupportedReason(model: Model, kind: ExplainKind): string | null {
  return model.unavailable(kind);
}

/**
 * What an explanation's values are: float32 (XGBoost's SHAP values, leaf ids) or float64 (LightGBM's
 * pred_contrib), so a server and the CLI carry them without rounding.
 */
export function explainPrecision(model: Model, kind: ExplainKind): Precision {
  return model.explainPrecision(kind);
}

/** rows × explainWidth values, row-major, in explainPrecision(model, kind). */
export function explain(model: Model, kind: ExplainKind, values: Rows, rows: number): Values {
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
export function toNested(data: Values, rows: number, shape: readonly number[]): Nested[] {
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

/** Classes of a classifier, 0 for regression, ranking and the rest. */
export function classCount(model: Model): number {
  return model.task === "binary" || model.task === "multiclass" ? model.classLabels.length : 0;
}

/** Whether a model's classes are bare indices 0..n-1 (XGBoost's), which CLASS_NAMES may name. */
function classesAreIndices(model: Model): boolean {
  return model.classLabels.every((label, i) => label === i);
}

/** A message saying why `names` cannot label this model's classes, or null when they fit. */
export function classNamesProblem(model: Model, names: readonly string[]): string | null {
  const classes = classCount(model);
  if (classes === 0)
    return `CLASS_NAMES is set, but the model (${model.objective}) is a ${model.task} model, not a classifier`;
  if (!classesAreIndices(model))
    return `CLASS_NAMES names classes that are bare indices; this model names its own classes (${model.classLabels.slice(0, 10).join(", ")})`;
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

/** Each row's class index from its margins, as the model's head decides it. */
export function classIndices(model: Model, margins: Values, rows: number, threshold: number): Int32Array {
  if (classCount(model) === 0) {
    throw new UnsupportedOutputError(
      `labels need a classifier; the model (${model.objective}) is a ${model.task} model`,
    );
  }
  return model.classes(margins, rows, "margins", threshold);
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
 * The names metrics and labels use for classes: CLASS_NAMES, else the model's own labels when
 * they are more than indices, else null (the class indices).
 */
export function labelNames(model: Model, options: LabelOptions): readonly string[] | null {
  if (options.classNames) return options.classNames;
  return classesAreIndices(model) ? null : model.classLabels.map(String);
}

/**
 * Each row's class label from its margins: CLASS_NAMES's name, else the model's own label (an
 * ONNX classifier's exactly as onnxruntime's `label` output; XGBoost's class index).
 */
export function labelsOf(
  model: Model,
  margins: Values,
  rows: number,
  options: LabelOptions = DEFAULT_LABELS,
): (string | number)[] {
  return model.labels(margins, rows, options.classNames, options.threshold);
}
