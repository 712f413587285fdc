/** A model version a worker serves: the engine's model plus what the API reports about it. */
import { createHash } from "node:crypto";
import { describeLocation, parseModelLocation } from "../../config/model-location.js";
import type { ModelOrigin } from "../../contract/model-origin.js";
import type { ModelConfig, ModelSpec } from "../../contract/models.js";
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
  /** The version clients name (/v2/models/{name}/versions/{version}) and answers report. */
  readonly version: string;
  /** The source as configured, without credentials or query string (the primary read it; workers
   *  load the snapshot it validated). */
  readonly path: string;
  /** Where and when the primary fetched the bytes (ETag, S3 version); just the path outside a cluster. */
  readonly origin: Partial<ModelOrigin> & { source: string };
  readonly sha256: string;
  /** The file the model was read from: the primary's immutable snapshot in a cluster. Scoring
   *  threads load this one, never the source, so they score exactly what the worker validated. */
  readonly file: string;
  /** The primary's generation this worker belongs to (1 at start, +1 per reload; 0 outside a cluster). */
  readonly generation: number;
  readonly model: Model;
  readonly info: ModelInfo;
  /** Class labels for classifiers (CLASS_NAMES, the model's own, else "0", "1", ...); empty for other tasks. */
  readonly classes: readonly string[];
  /** How ?output=label names classes and splits binary ones (CLASS_NAMES, THRESHOLD). */
  readonly labels: LabelOptions;
  /** The model's own settings (its forestd.json over the server's). */
  readonly config: ModelConfig;
}

/** CLASS_NAMES and THRESHOLD of a model's config, as the outputs take them. */
export function labelsOf(config: ModelConfig): LabelOptions {
  return {
    classNames: config.class_names.length > 0 ? config.class_names : null,
    threshold: config.threshold,
  };
}

/** A model version as a worker serves it, from a model already loaded and the spec it was loaded by. */
export function serveModel(model: Model, spec: ModelSpec, file: string, generation: number): ServedModel {
  const labels = labelsOf(spec.config);
  checkLabels(model, labels);
  const classCountOf = classCount(model);
  const names = labelNames(model, labels);
  return {
    name: spec.name,
    version: spec.version,
    path: spec.origin.source,
    origin: spec.origin,
    sha256: spec.sha256,
    file,
    generation,
    model,
    info: model.info(),
    classes: classCountOf === 0 ? [] : (names ?? Array.from({ length: classCountOf }, (_, i) => String(i))),
    labels,
    config: spec.config,
  };
}

/** A model version's spec for a model file read directly (no primary: the CLI's and tests' apps). */
export function fileSpec(
  path: string,
  name: string,
  config: ModelConfig,
): { spec: ModelSpec; bytes: Uint8Array } {
  const bytes = readModelBytes(path);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const source = describeLocation(parseModelLocation(path, "/"));
  return {
    bytes,
    spec: {
      name,
      version: sha256.slice(0, 12),
      numbered: false,
      isDefault: true,
      snapshot: path,
      sha256,
      origin: { source, sha256, fetchedAt: new Date().toISOString() },
      config,
      bytes: 0,
    },
  };
}

/**
 * Loads a model file as a worker would serve it (outside a cluster), with CLASS_NAMES and THRESHOLD
 * as `labels` say; refuses labels that do not fit it.
 */
export function loadServedModel(
  path: string,
  name: string,
  _snapshot?: undefined,
  labels: LabelOptions = DEFAULT_LABELS,
): ServedModel {
  const config: ModelConfig = {
    ...DEFAULT_MODEL_CONFIG,
    class_names: labels.classNames ?? [],
    threshold: labels.threshold,
  };
  const { spec, bytes } = fileSpec(path, name, config);
  return serveModel(loadModel(bytes), spec, path, 0);
}

/** The per-model settings' defaults (the settings table's), for models served without settings. */
const DEFAULT_MODEL_CONFIG: ModelConfig = {
  class_names: [],
  threshold: 0.5,
  max_queue: 100_000,
  max_queue_wait: 0.05,
  request_deadline: 30,
  max_request_rows: 100_000,
  inline_scoring_max_us: 100,
};
