/** The model a worker serves: the engine's model plus what the API reports about the file. */
import { createHash } from "node:crypto";
import { describeLocation, parseModelLocation } from "../../config/model-location.js";
import type { ModelOrigin } from "../../contract/model-origin.js";
import { loadModel, type Model, type ModelInfo, readModelBytes } from "../../model/index.js";
import {
  checkLabels,
  classCount,
  DEFAULT_LABELS,
  type LabelOptions,
  labelNames,
} from "../../model/outputs.js";

export interface ServedModel {
  readonly name: string;
  /** MODEL_PATH as configured, without credentials or query string (the primary read it; workers
   *  load the generation's snapshot). */
  readonly path: string;
  /** Where and when the primary fetched the bytes (ETag, S3 version); just the path outside a cluster. */
  readonly origin: Partial<ModelOrigin> & { source: string };
  readonly sha256: string;
  /** The file the model was read from: the generation's immutable snapshot in a cluster. Scoring
   *  threads load this one, never MODEL_PATH, so they score exactly what the worker validated. */
  readonly file: string;
  /** The primary's generation this worker belongs to (1 at start, +1 per reload; 0 outside a cluster). */
  readonly generation: number;
  readonly model: Model;
  readonly info: ModelInfo;
  /** Class labels for classifiers (CLASS_NAMES, the model's own, else "0", "1", ...); empty for other tasks. */
  readonly classes: readonly string[];
  /** How ?output=label names classes and splits binary ones (CLASS_NAMES, THRESHOLD). */
  readonly labels: LabelOptions;
}

/** Where a worker reads its model: the generation's snapshot, with the digest the primary computed. */
export interface ModelSnapshotRef {
  readonly path: string;
  readonly sha256: string;
  readonly generation: number;
  readonly origin?: ModelOrigin;
}

export function loadServedModel(
  path: string,
  name: string,
  snapshot?: ModelSnapshotRef,
  labels: LabelOptions = DEFAULT_LABELS,
): ServedModel {
  const bytes = readModelBytes(snapshot?.path ?? path);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (snapshot && sha256 !== snapshot.sha256)
    throw new Error(`model snapshot ${snapshot.path} has sha256 ${sha256}, expected ${snapshot.sha256}`);
  const model = loadModel(bytes);
  checkLabels(model, labels);
  const info = model.info();
  const classCountOf = classCount(model);
  const names = labelNames(model, labels);
  const source = snapshot?.origin?.source ?? describeLocation(parseModelLocation(path, "/"));
  return {
    name,
    path: source,
    origin: snapshot?.origin ?? { source },
    sha256,
    file: snapshot?.path ?? path,
    generation: snapshot?.generation ?? 0,
    model,
    info,
    classes: classCountOf === 0 ? [] : (names ?? Array.from({ length: classCountOf }, (_, i) => String(i))),
    labels,
  };
}
