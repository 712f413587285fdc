/**
 * forestd's programmatic API: load an XGBoost model (or an ONNX-ML tree ensemble) and score rows
 * exactly as XGBoost (or onnxruntime) does.
 *
 *   import { loadModel } from "forestd";
 *   const model = loadModel("model.json");
 *   const out = model.predictBatch(new Float32Array([180, 80, 44]), 1);
 */
export { defaultModelPath, packageRoot } from "./default-model.js";
export { ModelError, ModelErrorCodes, PredictInputError, UnsupportedOutputError } from "./errors.js";
export { loadModel, type ModelSource, readModelBytes } from "./load.js";
export { Model, type ModelInfo, type OnnxModelInfo, type PredictOptions } from "./model.js";
export { type Objective, objectiveByName, predictedClass, SUPPORTED_OBJECTIVES } from "./objectives.js";
export {
  answersFor,
  fromMargins,
  isOutputKind,
  OUTPUT_KINDS,
  type OutputKind,
  outputUnavailable,
  type RowAnswer,
} from "./outputs.js";
export { columnLookup, featureNames, outputsToJson, RowError, rowsToFloat32, writeRow } from "./rows.js";
