/** The model a worker serves: the engine's model plus what the API reports about the file. */
import { createHash } from "node:crypto";
import type { Settings } from "../config/settings.js";
import { loadModel, type Model, type ModelInfo, readModelBytes } from "../model/index.js";
import {
  classCount,
  classNamesProblem,
  DEFAULT_LABELS,
  type LabelOptions,
  labelNames,
} from "../model/outputs.js";

export interface ServedModel {
  readonly name: string;
  readonly path: string;
  readonly sha256: string;
  readonly model: Model;
  readonly info: ModelInfo;
  /** Class labels for classifiers (CLASS_NAMES, the model's own, else "0", "1", ...); empty for other tasks. */
  readonly classes: readonly string[];
  /** How ?output=label names classes and splits binary ones (CLASS_NAMES, THRESHOLD). */
  readonly labels: LabelOptions;
}

/** CLASS_NAMES and THRESHOLD as label options. */
export function labelOptions(settings: Pick<Settings, "class_names" | "threshold">): LabelOptions {
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

export function loadServedModel(
  path: string,
  name: string,
  labels: LabelOptions = DEFAULT_LABELS,
): ServedModel {
  const bytes = readModelBytes(path);
  const model = loadModel(bytes);
  checkLabels(model, labels);
  const info = model.info();
  const classCountOf = classCount(model);
  const names = labelNames(model, labels);
  return {
    name,
    path,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    model,
    info,
    classes: classCountOf === 0 ? [] : (names ?? Array.from({ length: classCountOf }, (_, i) => String(i))),
    labels,
  };
}
