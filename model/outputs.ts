/**
 * The outputs a model gives besides predictions — explanations (SHAP contributions and
 * interactions, leaf indices) and class labels — with their shapes and JSON form, shared by the
 * CLI, /predict and the Open Inference Protocol routes.
 */
import { UnsupportedOutputError } from "./errors.js";
import type { Model } from "./model.js";

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
  return kind === "leaf" ? null : model.explainUnsupportedReason;
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

/** The names labels use: CLASS_NAMES, else the model's own, else null (labels are indices). */
export function labelNames(model: Model, options: LabelOptions): readonly string[] | null {
  return options.classNames ?? model.classLabels;
}

export function labelsToJson(indices: Int32Array, names: readonly string[] | null): (string | number)[] {
  return Array.from(indices, (c) => (names ? names[c] : c));
}
