/**
 * Model loading: bytes or a path → the format that reads them (formats/index.ts, by content) → a
 * Forest → a compiled Model.
 */
import { readFileSync } from "node:fs";
import { ModelError } from "./errors.js";
import { readForest } from "./formats/index.js";
import { Model } from "./model.js";

export type ModelSource = string | URL | Uint8Array | ArrayBuffer;

export function readModelBytes(source: string | URL): Uint8Array {
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

/**
 * Reads, checks and compiles a model of any format forestd reads (XGBoost JSON/UBJSON, ONNX-ML
 * tree ensembles, ...). A path's extension is only a hint: the content decides.
 */
export function loadModel(source: ModelSource): Model {
  const path = typeof source === "string" || source instanceof URL ? String(source) : undefined;
  const bytes =
    typeof source === "string" || source instanceof URL
      ? readModelBytes(source)
      : source instanceof ArrayBuffer
        ? new Uint8Array(source)
        : source;
  return new Model(readForest(bytes, path));
}
