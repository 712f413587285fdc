/**
 * Model loading: bytes or a path → the format that reads them (formats/index.ts, by content) → a
 * Forest → a compiled Model. An MLflow model folder (a directory holding MLmodel), or its bundle
 * (mlflow/bundle.ts: what the primary hands its workers), loads through its flavor's model file.
 */
import { readFileSync } from "node:fs";
import { ModelError } from "./errors.js";
import { readForest } from "./formats/index.js";
import { isMlflowBundle } from "./mlflow/bundle.js";
import { isMlflowFolder, packMlflowFolderSync } from "./mlflow/folder.js";
import { loadMlflowBundle, type MlflowModelInfo } from "./mlflow/load.js";
import { Model } from "./model.js";

export type ModelSource = string | URL | Uint8Array | ArrayBuffer;

/** A model file's bytes; an MLflow model folder's MLmodel and model file, packed into a bundle. */
export function readModelBytes(source: string | URL): Uint8Array {
  const path = source instanceof URL ? source : String(source);
  if (typeof path === "string" && isMlflowFolder(path)) return packMlflowFolderSync(path);
  try {
    return readFileSync(source);
  } catch (error) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_READ",
      `cannot read model file ${String(source)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/** A loaded model, and its MLflow facts when it came from an MLflow model folder. */
export interface Servable {
  readonly model: Model;
  readonly mlflow: MlflowModelInfo | null;
}

/** Reads and compiles a model, keeping what an MLflow folder says about serving it. */
export function loadServable(source: ModelSource): Servable {
  const path = typeof source === "string" || source instanceof URL ? String(source) : undefined;
  const bytes =
    typeof source === "string" || source instanceof URL
      ? readModelBytes(source)
      : source instanceof ArrayBuffer
        ? new Uint8Array(source)
        : source;
  if (isMlflowBundle(bytes)) return loadMlflowBundle(bytes);
  return { model: new Model(readForest(bytes, path)), mlflow: null };
}

/**
 * Reads, checks and compiles a model of any format forestd reads (XGBoost JSON/UBJSON/binary,
 * ONNX-ML tree ensembles, MLflow model folders, ...). A path's extension is only a hint: the
 * content decides.
 */
export function loadModel(source: ModelSource): Model {
  return loadServable(source).model;
}
