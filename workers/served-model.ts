/** The model a worker serves: the engine's model plus what the API reports about the file. */
import { createHash } from "node:crypto";
import { loadModel, type Model, type ModelInfo, readModelBytes } from "../model/index.js";

export interface ServedModel {
  readonly name: string;
  readonly path: string;
  readonly sha256: string;
  readonly model: Model;
  readonly info: ModelInfo;
  /** Class labels for classifiers (XGBoost: "0", "1", ...; ONNX: the graph's labels); empty otherwise. */
  readonly classes: readonly string[];
}

export function loadServedModel(path: string, name: string): ServedModel {
  const bytes = readModelBytes(path);
  const model = loadModel(bytes);
  const info = model.info();
  return {
    name,
    path,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    model,
    info,
    classes: model.classLabels.map(String),
  };
}
