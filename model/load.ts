/**
 * Model loading: bytes or a path → the format that reads them (formats/index.ts, by content) → a
 * Forest → a compiled Model. An MLflow model folder (a directory holding MLmodel), or its bundle
 * (mlflow/bundle.ts: what the primary hands its workers), loads through its flavor's model file.
 */
import { readFileSync } from "node:fs";
import { ModelError } from "./errors.js";
import type { Forest } from "./forest/forest.js";
import { releaseInput, viewsBuffer } from "./forest/release.js";
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

/**
 * Checks a model file's bytes before they are read (a snapshot's digest, say); throws to refuse
 * them.
 */
export type BytesCheck = (bytes: Uint8Array) => void;

/**
 * Reads and compiles a model, keeping what an MLflow folder says about serving it. A path's bytes
 * are read, checked by `check` and parsed in a call of their own, so nothing holds them (nor,
 * for a pickle, the object graph over them) while the Forest is compiled: a large file is not
 * alive beside its compiled form. (Bytes the caller passes, the caller holds.)
 */
export function loadServable(source: ModelSource, check?: BytesCheck): Servable {
  const read =
    typeof source === "string" || source instanceof URL
      ? readPath(source, check)
      : readSource(source instanceof ArrayBuffer ? new Uint8Array(source) : source, undefined, check);
  if ("servable" in read) return read.servable;
  // The Forest is this call's own (read here): Model.compileOwned may free its trees, unless a
  // reader left them viewing the caller's bytes (none does today; their memory is not ours).
  return { model: read.owned ? Model.compileOwned(read.forest) : new Model(read.forest), mlflow: null };
}

/**
 * A file's bytes read here, not by the caller: a value the caller's frame passed on stays on that
 * frame (V8 keeps an interpreted frame's registers alive until they are reused) for as long as it
 * runs, here through compiling.
 */
function readPath(source: string | URL, check: BytesCheck | undefined): ReadResult {
  const bytes = readModelBytes(source);
  const read = readSource(bytes, String(source), check);
  // The bytes are ours and garbage now: freed at once, not at V8's next full collection.
  if ("forest" in read) releaseInput(bytes, read.forest);
  return read;
}

type ReadResult = { forest: Forest; owned: boolean } | { servable: Servable };

/** A model's bytes read into a Forest, or (an MLflow bundle) into its servable, compiled. */
function readSource(bytes: Uint8Array, path: string | undefined, check: BytesCheck | undefined): ReadResult {
  check?.(bytes);
  if (isMlflowBundle(bytes)) return { servable: loadMlflowBundle(bytes) };
  const forest = readForest(bytes, path);
  return { forest, owned: !viewsBuffer(forest, bytes.buffer) };
}

/**
 * Reads, checks and compiles a model of any format forestd reads (XGBoost JSON/UBJSON/binary,
 * ONNX-ML tree ensembles, MLflow model folders, ...). A path's extension is only a hint: the
 * content decides. `check` sees the bytes first (see loadServable).
 */
export function loadModel(source: ModelSource, check?: BytesCheck): Model {
  return loadServable(source, check).model;
}
