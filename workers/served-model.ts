/** The model a worker serves: the engine's model plus what the API reports about the file. */
import { createHash } from "node:crypto";
import { loadModel, type Model, type ModelInfo, readModelBytes } from "../model/index.js";

export interface ServedModel {
  readonly name: string;
  /** MODEL_PATH as configured (the primary read it; workers load the generation's snapshot). */
  readonly path: string;
  readonly sha256: string;
  /** The file the model was read from: the generation's immutable snapshot in a cluster. Scoring
   *  threads load this one, never MODEL_PATH, so they score exactly what the worker validated. */
  readonly file: string;
  /** The primary's generation this worker belongs to (1 at start, +1 per reload; 0 outside a cluster). */
  readonly generation: number;
  readonly model: Model;
  readonly info: ModelInfo;
  /** Class labels for classifiers ("0", "1", ...); empty for other tasks. */
  readonly classes: readonly string[];
}

/** Where a worker reads its model: the generation's snapshot, with the digest the primary computed. */
export interface ModelSnapshotRef {
  readonly path: string;
  readonly sha256: string;
  readonly generation: number;
}

export function loadServedModel(path: string, name: string, snapshot?: ModelSnapshotRef): ServedModel {
  const bytes = readModelBytes(snapshot?.path ?? path);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (snapshot && sha256 !== snapshot.sha256)
    throw new Error(`model snapshot ${snapshot.path} has sha256 ${sha256}, expected ${snapshot.sha256}`);
  const model = loadModel(bytes);
  const info = model.info();
  const classCount = info.task === "multiclass" ? info.numClass : info.task === "binary" ? 2 : 0;
  return {
    name,
    path,
    sha256,
    file: snapshot?.path ?? path,
    generation: snapshot?.generation ?? 0,
    model,
    info,
    classes: Array.from({ length: classCount }, (_, i) => String(i)),
  };
}
