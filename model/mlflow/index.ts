/**
 * MLflow model folders (MLmodel + the flavor's model file), for `mlflow models serve`'s users:
 * which flavor forestd serves, how request columns map to the model, what the pyfunc answers.
 */
export { isMlflowBundle, packMlflowBundle, unpackMlflowBundle } from "./bundle.js";
export { type FlavorPlan, type PyfuncAnswer, planFlavor, type ServedFlavor } from "./flavor.js";
export { isMlflowFolder, packMlflowFolderSync } from "./folder.js";
export {
  loadMlflowBundle,
  MLMODEL_FILE,
  type MlflowColumn,
  type MlflowInputs,
  type MlflowModelInfo,
  type MlflowServable,
  mlflowInfoOf,
  mlflowInputs,
  mlflowModelFile,
  packMlflowFolder,
  type ValueType,
} from "./load.js";
export { type MLmodel, parseMLmodel } from "./mlmodel.js";
export { type ColumnSpec, describeSchema, parseSchema, type Schema, type TensorSpec } from "./signature.js";
