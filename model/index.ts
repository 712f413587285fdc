/**
 * forestd's programmatic API: load a tree-ensemble model (XGBoost, an ONNX-ML tree ensemble, ...)
 * and score rows exactly as its own library does.
 *
 *   import { loadModel } from "forestd";
 *   const model = loadModel("model.json");
 *   const out = model.predictBatch(new Float32Array([180, 80, 44]), 1);
 */
export { defaultModelPath, packageRoot } from "./default-model.js";
export { ModelError, ModelErrorCodes, PredictInputError, UnsupportedOutputError } from "./errors.js";
export type { Forest, InputTensor } from "./forest/forest.js";
export { FORMATS, readForest } from "./formats/index.js";
export type { Head, LabelOptions, Task, Values } from "./heads/head.js";
export {
  type BytesCheck,
  loadModel,
  loadServable,
  type ModelSource,
  readModelBytes,
  type Servable,
} from "./load.js";
export {
  type MlflowColumn,
  type MlflowInputs,
  type MlflowModelInfo,
  mlflowInfoOf,
  mlflowInputs,
  type PyfuncAnswer,
  type ValueType,
} from "./mlflow/index.js";
export { Model, type ModelInfo, type PredictOptions, type Rows } from "./model.js";
export {
  answersFor,
  fromMargins,
  isOutputKind,
  OUTPUT_KINDS,
  type OutputKind,
  outputUnavailable,
  type RowAnswer,
} from "./outputs.js";
export { columnLookup, featureNames, outputsToJson, RowError, rowsToArray, writeRow } from "./rows.js";
export type { SharedModel } from "./shared.js";
