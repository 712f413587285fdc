/** The model a worker serves: the engine's model plus what the API reports about the file. */
import { createHash } from "node:crypto";
import {
  loadModel,
  type Model,
  type ModelInfo,
  type Objective,
  objectiveByName,
  readModelBytes,
} from "../model/index.js";

export interface ServedModel {
  readonly name: string;
  readonly path: string;
  readonly sha256: string;
  readonly model: Model;
  readonly info: ModelInfo;
  /** The objective's metadata (how its outputs read), for the per-class counters. */
  readonly objective: Objective;
  /** Class labels for classifiers ("0", "1", ...); empty for other tasks. */
  readonly classes: readonly string[];
}

export function loadServedModel(path: string, name: string): ServedModel {
  const bytes = readModelBytes(path);
  const model = loadModel(bytes);
  const info = model.info();
  const classCount = info.task === "multiclass" ? info.numClass : info.task === "binary" ? 2 : 0;
  return {
    name,
    path,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    model,
    info,
    objective: objectiveByName(info.objective),
    classes: Array.from({ length: classCount }, (_, i) => String(i)),
  };
}
