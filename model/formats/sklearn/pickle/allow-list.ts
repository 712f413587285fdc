/**
 * The names a pickle may refer to, and what "calling" each one means here. This is skops'
 * `_trusted_types.py` idea applied to pickle itself: a GLOBAL / STACK_GLOBAL / INST names a module
 * and an attribute, and the name is looked up HERE, before anything is built; a name not listed
 * stops the read with the name and the byte where the pickle asked for it. Nothing is imported and
 * nothing is called: an allowed class only ever becomes an inert `PyObject` (its arguments and
 * state kept as data), and the few allowed functions are reimplemented as data transformations
 * (numpy's array and scalar reconstruction, `_codecs.encode`, sets, slices).
 */
import { ModelError } from "../../../errors.js";

/**
 * - "class": may be instantiated (REDUCE / NEWOBJ / INST / OBJ / copyreg._reconstructor); becomes
 *   a PyObject the estimator readers interpret or ignore.
 * - "function": a callable with a fixed data meaning, applied by the unpickler (see unpickler.ts).
 * - "type": a name only ever passed as an argument (numpy.ndarray to _reconstruct, object to
 *   copyreg._reconstructor).
 */
export type GlobalRole = "class" | "function" | "type";

/** scikit-learn classes whose objects the estimator readers turn into a Forest. */
export const SUPPORTED_ESTIMATORS = [
  "sklearn.tree._classes.DecisionTreeClassifier",
  "sklearn.tree._classes.DecisionTreeRegressor",
  "sklearn.tree._classes.ExtraTreeClassifier",
  "sklearn.tree._classes.ExtraTreeRegressor",
  "sklearn.ensemble._forest.RandomForestClassifier",
  "sklearn.ensemble._forest.RandomForestRegressor",
  "sklearn.ensemble._forest.ExtraTreesClassifier",
  "sklearn.ensemble._forest.ExtraTreesRegressor",
  "sklearn.ensemble._gb.GradientBoostingClassifier",
  "sklearn.ensemble._gb.GradientBoostingRegressor",
  "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
  "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
  "sklearn.ensemble._iforest.IsolationForest",
] as const;

/** Pipeline steps before the estimator that become Forest preprocessing. */
export const SUPPORTED_STEPS = [
  "sklearn.pipeline.Pipeline",
  "sklearn.preprocessing._data.StandardScaler",
  "sklearn.preprocessing._data.MinMaxScaler",
  "sklearn.preprocessing._data.MaxAbsScaler",
  "sklearn.preprocessing._data.RobustScaler",
  "sklearn.impute._base.SimpleImputer",
] as const;

/** Objects that appear inside the supported estimators (init estimators, losses, binners, trees). */
const INTERNALS = [
  "sklearn.tree._tree.Tree",
  "sklearn.dummy.DummyClassifier",
  "sklearn.dummy.DummyRegressor",
  "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
  "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
  // GradientBoosting's losses up to 1.3 (objects with no state that matters but their class)
  "sklearn.ensemble._gb_losses.LeastSquaresError",
  "sklearn.ensemble._gb_losses.LeastAbsoluteError",
  "sklearn.ensemble._gb_losses.HuberLossFunction",
  "sklearn.ensemble._gb_losses.QuantileLossFunction",
  "sklearn.ensemble._gb_losses.BinomialDeviance",
  "sklearn.ensemble._gb_losses.MultinomialDeviance",
  "sklearn.ensemble._gb_losses.ExponentialLoss",
  // HistGradientBoosting's own losses in scikit-learn 1.0 (replaced by sklearn._loss in 1.1)
  "sklearn.ensemble._hist_gradient_boosting.loss.LeastSquares",
  "sklearn.ensemble._hist_gradient_boosting.loss.LeastAbsoluteDeviation",
  "sklearn.ensemble._hist_gradient_boosting.loss.Poisson",
  "sklearn.ensemble._hist_gradient_boosting.loss.BinaryCrossEntropy",
  "sklearn.ensemble._hist_gradient_boosting.loss.CategoricalCrossEntropy",
  // the common loss module (HistGradientBoosting; GradientBoosting from 1.4): Python classes
  // holding Cython loss objects, which pickle through __pyx_unpickle_* functions (inert here)
  "sklearn._loss.loss.HalfSquaredError",
  "sklearn._loss.loss.AbsoluteError",
  "sklearn._loss.loss.PinballLoss",
  "sklearn._loss.loss.HuberLoss",
  "sklearn._loss.loss.HalfPoissonLoss",
  "sklearn._loss.loss.HalfGammaLoss",
  "sklearn._loss.loss.HalfTweedieLoss",
  "sklearn._loss.loss.HalfTweedieLossIdentity",
  "sklearn._loss.loss.HalfBinomialLoss",
  "sklearn._loss.loss.HalfMultinomialLoss",
  "sklearn._loss.loss.ExponentialLoss",
  "sklearn._loss.link.IdentityLink",
  "sklearn._loss.link.LogLink",
  "sklearn._loss.link.LogitLink",
  "sklearn._loss.link.HalfLogitLink",
  "sklearn._loss.link.MultinomialLogit",
  "sklearn._loss.link.Interval",
  // numpy random states (random_state_ / _rng attributes), kept as inert data
  "numpy.random.mtrand.RandomState",
  "numpy.random._mt19937.MT19937",
  "numpy.random._pcg64.PCG64",
  "numpy.random._pcg64.PCG64DXSM",
  "numpy.random._philox.Philox",
  "numpy.random._sfc64.SFC64",
  "numpy.random._generator.Generator",
  "numpy.random.bit_generator.SeedSequence",
  // joblib's array wrapper (its raw bytes follow in the file); the pre-0.10 wrappers are refused
  "joblib.numpy_pickle.NumpyArrayWrapper",
] as const;

const CYTHON_LOSSES = [
  "CyHalfSquaredError",
  "CyAbsoluteError",
  "CyPinballLoss",
  "CyHuberLoss",
  "CyHalfPoissonLoss",
  "CyHalfGammaLoss",
  "CyHalfTweedieLoss",
  "CyHalfTweedieLossIdentity",
  "CyHalfBinomialLoss",
  "CyExponentialLoss",
  "CyHalfMultinomialLoss",
];

/** Callables with a data meaning (unpickler.ts applies them). */
export const FUNCTIONS = [
  "numpy.core.multiarray._reconstruct",
  "numpy.core.multiarray.scalar",
  "numpy.core.numeric._frombuffer",
  "numpy.dtype",
  "_codecs.encode",
  "builtins.set",
  "builtins.frozenset",
  "builtins.bytearray",
  "builtins.bytes",
  "builtins.slice",
  "builtins.complex",
  "copyreg._reconstructor",
  "copyreg.__newobj__",
  // RNG constructors: inert stand-ins (a PyObject holding their arguments)
  "numpy.random._pickle.__randomstate_ctor",
  "numpy.random._pickle.__bit_generator_ctor",
  "numpy.random._pickle.__generator_ctor",
  "numpy.random.__RandomState_ctor",
] as const;

const TYPES = ["numpy.ndarray", "builtins.object"] as const;

const TABLE = new Map<string, GlobalRole>();
for (const name of [...SUPPORTED_ESTIMATORS, ...SUPPORTED_STEPS, ...INTERNALS]) TABLE.set(name, "class");
for (const name of CYTHON_LOSSES) {
  TABLE.set(`sklearn._loss._loss.${name}`, "type");
  TABLE.set(`sklearn._loss._loss.__pyx_unpickle_${name}`, "function");
}
for (const name of FUNCTIONS) TABLE.set(name, "function");
for (const name of TYPES) TABLE.set(name, "type");

/** Python 2 names protocols 0–2 write (`_compat_pickle.IMPORT_MAPPING`, the entries that matter). */
const PY2_MODULES: Record<string, string> = { __builtin__: "builtins", copy_reg: "copyreg" };

/** numpy 2 moved numpy.core to numpy._core; both spellings are the same functions. */
export function canonicalModule(module: string, protocol: number): string {
  if (protocol < 3 && module in PY2_MODULES) return PY2_MODULES[module];
  if (module === "numpy._core" || module.startsWith("numpy._core.")) return `numpy.core${module.slice(11)}`;
  return module;
}

/**
 * The role of `module.name`, or a ModelError: scikit-learn names not supported are refused naming
 * the class and what is supported; anything else (os.system, builtins.eval, a custom class) as
 * not on the allow-list. `at` is the byte offset of the opcode that named it.
 */
export function lookupGlobal(module: string, name: string, at: number): GlobalRole {
  const qualified = `${module}.${name}`;
  const role = TABLE.get(qualified);
  if (role) return role;
  if (
    qualified === "joblib.numpy_pickle_compat.NDArrayWrapper" ||
    qualified === "joblib.numpy_pickle_compat.ZNDArrayWrapper"
  )
    throw new ModelError(
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      `the file uses ${name} (byte ${at}): joblib before 0.10 kept arrays in companion files, which forestd does not read; save the model again with a current joblib`,
    );
  if (module === "sklearn" || module.startsWith("sklearn."))
    throw new ModelError(
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      `the file holds scikit-learn's ${name} (${qualified}, byte ${at}), which forestd does not score; it reads ${supportedNames()}`,
    );
  // cloudpickle (MLflow's default for scikit-learn) writes what cannot be imported by name as
  // code: its reconstructors are the first thing such a pickle names.
  if (module === "cloudpickle" || module.startsWith("cloudpickle."))
    throw new ModelError(
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      `the pickle holds Python code that cloudpickle wrote by value (${qualified.slice(0, 120)}, byte ${at}): a lambda, a local function, or a class defined in __main__ or a notebook; forestd runs no Python code, so only classes it reads by name are served (define custom code in an importable module, or leave it out of the model); nothing in the file was run`,
    );
  throw new ModelError(
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    `the pickle names ${qualified.slice(0, 200)} (byte ${at}), which is not on forestd's allow-list; nothing in the file was run`,
  );
}

/** The supported estimators and steps, by their short names, for messages. */
export function supportedNames(): string {
  const short = (q: string) => q.slice(q.lastIndexOf(".") + 1);
  return `${SUPPORTED_ESTIMATORS.map(short).join(", ")}, and Pipelines of ${SUPPORTED_STEPS.slice(1).map(short).join(", ")} before one of them`;
}
