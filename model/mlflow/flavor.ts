/**
 * Which of an MLflow folder's flavors forestd serves, which file holds the model, and what the
 * flavor's pyfunc answers — what `mlflow models serve` would run, read from MLflow 2.x's flavor
 * modules:
 *
 * - the scoring server loads the `python_function` flavor, whose `loader_module` names the flavor
 *   module (mlflow.xgboost, mlflow.sklearn, mlflow.lightgbm) that loads the model; any other
 *   loader (mlflow.pyfunc.model: a custom PythonModel; mlflow.tensorflow, ...) runs code forestd
 *   does not run, and is refused by name. A folder without python_function is served through its
 *   one native flavor forestd reads;
 * - xgboost (mlflow/xgboost/__init__.py): the file is `data` (model.<model_format>, model.xgb by
 *   default); `_XGBModelWrapper.predict` calls the class named by `model_class` loaded with
 *   `load_model`: a Booster answers `booster.predict(DMatrix(df))` (probabilities for classifiers),
 *   XGBClassifier its `predict` (class indices, from the best iteration's trees when early
 *   stopping recorded one), XGBRegressor / XGBRanker their `predict` (best iteration too);
 * - sklearn (mlflow/sklearn/__init__.py): the file is `pickled_model` (model.pkl), pickled with
 *   `serialization_format` pickle or cloudpickle; the pyfunc calls `predict_fn` (python_function's,
 *   "predict" by default; also "predict_proba");
 * - lightgbm (mlflow/lightgbm/__init__.py): a Booster's `data` (model.lgb, LightGBM's text);
 *   `_LGBModelWrapper.predict` answers `booster.predict(df)`. The scikit-learn API classes are
 *   cloudpickled objects (model.pkl), refused with the one-line conversion to a Booster file.
 */
import { describeValue, ModelError, unsupportedModel as unsupported } from "../errors.js";
import type { MLmodel } from "./mlmodel.js";

export type ServedFlavor = "xgboost" | "sklearn" | "lightgbm";

/**
 * What the flavor's pyfunc answers per row:
 * - "predictions": the model's own predictions (a Booster's predict: values, probabilities);
 * - "class-indices": XGBoost's scikit-learn classifier: the class index, an integer;
 * - "prediction": scikit-learn's predict (a classifier's label, a regressor's value);
 * - "probabilities": scikit-learn's predict_proba, every class's probability.
 */
export type PyfuncAnswer = "predictions" | "class-indices" | "prediction" | "probabilities";

export interface FlavorPlan {
  readonly flavor: ServedFlavor;
  /** The model file, relative to the folder. */
  readonly dataFile: string;
  readonly answer: PyfuncAnswer;
  /** XGBoost's scikit-learn classes predict with the best iteration's trees (early stopping). */
  readonly bestIterationOnly: boolean;
  /** The flavor's own facts, for /model: model_class, library version, serialization format, predict_fn. */
  readonly details: Readonly<Record<string, string>>;
}

const LOADERS: Record<string, ServedFlavor> = {
  "mlflow.xgboost": "xgboost",
  "mlflow.sklearn": "sklearn",
  "mlflow.lightgbm": "lightgbm",
};
const SERVED = Object.values(LOADERS);

const XGBOOST_CLASSES: Record<string, { answer: PyfuncAnswer; bestIterationOnly: boolean }> = {
  "xgboost.core.Booster": { answer: "predictions", bestIterationOnly: false },
  "xgboost.sklearn.XGBClassifier": { answer: "class-indices", bestIterationOnly: true },
  "xgboost.sklearn.XGBRFClassifier": { answer: "class-indices", bestIterationOnly: true },
  "xgboost.sklearn.XGBRegressor": { answer: "predictions", bestIterationOnly: true },
  "xgboost.sklearn.XGBRFRegressor": { answer: "predictions", bestIterationOnly: true },
  "xgboost.sklearn.XGBRanker": { answer: "predictions", bestIterationOnly: true },
};

function invalid(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_INVALID", `MLmodel: ${message}`);
}

function stringField(conf: Readonly<Record<string, unknown>>, key: string, where: string): string | null {
  const v = conf[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") invalid(`${where}.${key} must be a string, got ${describeValue(v)}`);
  return v;
}

/**
 * A path inside the folder: relative, forward slashes, no `..`. MLflow writes plain file names; a
 * file from a bucket naming `../../secrets` or `/etc/passwd` is refused.
 */
export function checkRelativePath(path: string, where: string): string {
  const bad =
    path === "" ||
    path.length > 1024 ||
    path.startsWith("/") ||
    path.includes("\\") ||
    path.includes("\0") ||
    /^[A-Za-z]:/.test(path) ||
    path.split("/").some((part) => part === "" || part === "." || part === "..");
  if (bad) invalid(`${where} "${path.slice(0, 120)}" is not a path inside the model folder`);
  return path;
}

function listFlavors(mlmodel: MLmodel): string {
  return Object.keys(mlmodel.flavors)
    .map((f) => f.slice(0, 60))
    .join(", ");
}

/** Picks the flavor forestd serves, or refuses the folder naming what it holds. */
export function planFlavor(mlmodel: MLmodel): FlavorPlan {
  const pyfunc = mlmodel.flavors.python_function;
  let flavor: ServedFlavor;
  if (pyfunc) {
    const loader = stringField(pyfunc, "loader_module", "flavors.python_function");
    const served = loader === null ? undefined : LOADERS[loader];
    if (!served) {
      const others = Object.keys(mlmodel.flavors).filter((f) => f !== "python_function");
      if (loader === "mlflow.pyfunc.model" || others.length === 0)
        unsupported(
          `the MLflow model is a python_function flavor alone (loader_module ${loader ?? "unset"}): custom Python code (a PythonModel), which forestd does not run; forestd serves MLflow's ${SERVED.join(", ")} flavors`,
        );
      unsupported(
        `the MLflow model's flavors are ${listFlavors(mlmodel)} (python_function loads it with ${String(loader).slice(0, 60)}); forestd serves MLflow's ${SERVED.join(", ")} flavors`,
      );
    }
    if (!mlmodel.flavors[served])
      invalid(`python_function loads the model with ${loader}, but there is no ${served} flavor`);
    flavor = served;
  } else {
    const ours = SERVED.filter((f) => mlmodel.flavors[f] !== undefined);
    if (ours.length !== 1)
      unsupported(
        `the MLflow model's flavors are ${listFlavors(mlmodel)}; forestd serves one of MLflow's ${SERVED.join(", ")} flavors`,
      );
    flavor = ours[0];
  }
  const conf = mlmodel.flavors[flavor];
  const where = `flavors.${flavor}`;
  switch (flavor) {
    case "xgboost": {
      const modelClass = stringField(conf, "model_class", where) ?? "xgboost.core.Booster";
      const kind = Object.hasOwn(XGBOOST_CLASSES, modelClass) ? XGBOOST_CLASSES[modelClass] : undefined;
      if (!kind)
        unsupported(
          `the xgboost flavor's model_class is ${modelClass.slice(0, 80)}; forestd serves ${Object.keys(XGBOOST_CLASSES).join(", ")}`,
        );
      const dataFile = checkRelativePath(
        stringField(conf, "data", where) ??
          stringField(pyfunc ?? {}, "data", "flavors.python_function") ??
          "model.xgb",
        `${where}.data`,
      );
      return {
        flavor,
        dataFile,
        answer: kind.answer,
        bestIterationOnly: kind.bestIterationOnly,
        details: compact({
          model_class: modelClass,
          model_format: stringField(conf, "model_format", where),
          xgb_version: versionField(conf, "xgb_version"),
        }),
      };
    }
    case "sklearn": {
      const format = stringField(conf, "serialization_format", where) ?? "pickle";
      if (format !== "pickle" && format !== "cloudpickle")
        unsupported(
          `the sklearn flavor's serialization_format is ${format.slice(0, 60)}; MLflow writes pickle or cloudpickle`,
        );
      const predictFn = (pyfunc && stringField(pyfunc, "predict_fn", "flavors.python_function")) ?? "predict";
      if (predictFn !== "predict" && predictFn !== "predict_proba")
        unsupported(
          `the sklearn flavor's pyfunc calls ${predictFn.slice(0, 60)}; forestd answers predict and predict_proba`,
        );
      const dataFile = checkRelativePath(
        stringField(conf, "pickled_model", where) ??
          stringField(pyfunc ?? {}, "model_path", "flavors.python_function") ??
          "model.pkl",
        `${where}.pickled_model`,
      );
      return {
        flavor,
        dataFile,
        answer: predictFn === "predict" ? "prediction" : "probabilities",
        bestIterationOnly: false,
        details: compact({
          serialization_format: format,
          predict_fn: predictFn,
          sklearn_version: versionField(conf, "sklearn_version"),
        }),
      };
    }
    case "lightgbm": {
      const modelClass = stringField(conf, "model_class", where) ?? "lightgbm.basic.Booster";
      if (modelClass !== "lightgbm.basic.Booster")
        unsupported(
          `the lightgbm flavor holds a ${modelClass.slice(0, 80)} (scikit-learn API) cloudpickled as an object, which forestd does not read; log its booster instead: mlflow.lightgbm.log_model(model.booster_, ...) writes model.lgb, LightGBM's own text format`,
        );
      const dataFile = checkRelativePath(stringField(conf, "data", where) ?? "model.lgb", `${where}.data`);
      return {
        flavor,
        dataFile,
        answer: "predictions",
        bestIterationOnly: false,
        details: compact({ model_class: modelClass, lgb_version: versionField(conf, "lgb_version") }),
      };
    }
  }
}

/** A version YAML 1.1 may have read as a number (1.2). */
function versionField(conf: Readonly<Record<string, unknown>>, key: string): string | null {
  const v = conf[key];
  return typeof v === "string" || typeof v === "number" ? String(v) : null;
}

function compact(o: Record<string, string | null>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => e[1] !== null));
}
