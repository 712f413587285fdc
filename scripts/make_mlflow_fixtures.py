#!/usr/bin/python3
"""Write MLflow model folders as MLflow 2.11 writes them, and record each flavor library's own answers.

MLflow is not a Debian package, so nothing here imports it. Each folder is laid out as
`mlflow.<flavor>.save_model` of MLflow 2.11 lays it out, read from its source:

- `mlflow/models/model.py` (Model.to_dict, written with `yaml.safe_dump(default_flow_style=False)`,
  so keys are sorted): artifact_path, flavors, mlflow_version, model_size_bytes, model_uuid, run_id,
  utc_time_created (`str(datetime.utcnow())`), and when present signature, saved_input_example_info,
  metadata;
- `mlflow/pyfunc/__init__.py` add_to_model: the python_function flavor (loader_module,
  python_version, data or model_path, env {conda, virtualenv}, and sklearn's predict_fn);
- `mlflow/models/signature.py` / `mlflow/types/schema.py`: `signature.inputs` and `.outputs` are
  JSON strings of ColSpec dicts ({"type", "name", "required"}) or TensorSpec dicts
  ({"type": "tensor", "tensor-spec": {"dtype", "shape"}}), `params` null;
- `mlflow/models/utils.py` _Example: input_example.json ({"columns", "data"} for a DataFrame,
  {"inputs": [...]} for an ndarray) and saved_input_example_info;
- the flavors: `mlflow/sklearn/__init__.py` (model.pkl written by pickle or, the default,
  cloudpickle, both with protocol pickle.DEFAULT_PROTOCOL; flavor keys pickled_model,
  serialization_format, sklearn_version, code), `mlflow/xgboost/__init__.py` (model.<model_format>,
  default "xgb", written by the model's own save_model; flavor keys data, model_class,
  model_format, xgb_version, code), `mlflow/lightgbm/__init__.py` (a Booster's model.lgb text;
  flavor keys data, lgb_version, model_class, code); plus conda.yaml, python_env.yaml and
  requirements.txt, which forestd never reads.

XGBoost 1.7 (Debian's python3-xgboost) writes `model.xgb` in its legacy binary format ("binf"),
as every MLflow 2.x XGBoost folder saved with XGBoost before 2.1 holds.

Beside each folder, `<name>.expected.json` holds the rows (null = NaN), the columns in the
signature's order, and what MLflow's pyfunc wrapper for that flavor answers for them, computed
here with the flavor's own library exactly as the wrapper does (read from its source):
`_XGBModelWrapper.predict` (a Booster: `booster.predict(xgb.DMatrix(df))`, probabilities; an
XGBClassifier/XGBRegressor loaded with `load_model`: its own `predict`, class indices for a
classifier, best_iteration honoured), `_SklearnModelWrapper` (the flavor's predict_fn: `predict`
labels, or `predict_proba`), `_LGBModelWrapper.predict` (`booster.predict(df)`). Inputs first go
through what MLflow's schema enforcement does with a column signature: columns reordered to the
signature, extra ones dropped, each cast to the signature's type (pandas `astype`). It also holds
request bodies exactly as Python clients send them (`json.dumps` of `df.to_dict(orient="split")`,
NaN spelled `NaN` as Python's json writes it; `df.to_csv()`), and for the folders forestd must
refuse, the words the refusal must name.

    /usr/bin/python3 scripts/make_mlflow_fixtures.py            # needs python3-cloudpickle
    PYTHONPATH=/path/to/LightGBM/python-package /usr/bin/python3 scripts/make_mlflow_fixtures.py

Without LightGBM on the path the LightGBM folders are left as they are.
"""
import argparse
import datetime
import json
import os
import pickle
import shutil
import sys

import cloudpickle
import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb
import yaml
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "mlflow")
MLFLOW_VERSION = "2.11.3"
PYTHON_VERSION = "3.11.2"
CREATED = datetime.datetime(2024, 4, 2, 9, 30, 15, 123456)


def ordered_uuid(name):
    """Stable ids, so re-running the script changes no file that did not change."""
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()[:32]


# ---- MLflow's types and signatures (mlflow/types/schema.py, 2.x) ----


def col_spec(name, type_, required=True):
    spec = {"type": type_}
    if name is not None:
        spec["name"] = name
    spec["required"] = required
    return spec


def tensor_spec(dtype, shape, name=None):
    spec = {"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": list(shape)}}
    if name is not None:
        spec["name"] = name
    return spec


def signature(inputs, outputs):
    """ModelSignature.to_dict(): inputs and outputs as JSON strings, params None."""
    return {"inputs": json.dumps(inputs), "outputs": json.dumps(outputs), "params": None}


PANDAS_TYPES = {"double": np.float64, "float": np.float32, "long": np.int64, "integer": np.int32, "boolean": bool}


def enforce_columns(df, inputs):
    """What MLflow does with a column signature before the model sees the frame: columns in the
    signature's order (extra ones dropped), each cast to its type (proto_json_utils
    cast_df_types_according_to_schema, then _enforce_named_col_schema)."""
    if not inputs or inputs[0]["type"] == "tensor":
        return df
    out = pd.DataFrame()
    for spec in inputs:
        out[spec["name"]] = df[spec["name"]].astype(PANDAS_TYPES[spec["type"]])
    return out


# ---- folder writing (mlflow/models/model.py, mlflow/pyfunc/__init__.py, the flavors) ----


def env_files(path, requirements):
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [f"python={PYTHON_VERSION}", "pip<=23.0.1", {"pip": [f"mlflow=={MLFLOW_VERSION}", *requirements]}],
        "name": "mlflow-env",
    }
    with open(os.path.join(path, "conda.yaml"), "w") as f:
        yaml.safe_dump(conda, stream=f, default_flow_style=False)
    with open(os.path.join(path, "python_env.yaml"), "w") as f:
        yaml.safe_dump(
            {"python": PYTHON_VERSION, "build_dependencies": ["pip==23.0.1", "setuptools==66.1.1", "wheel==0.38.4"], "dependencies": ["-r requirements.txt"]},
            stream=f,
            default_flow_style=False,
        )
    with open(os.path.join(path, "requirements.txt"), "w") as f:
        f.write("\n".join([f"mlflow=={MLFLOW_VERSION}", *requirements]))


def pyfunc_flavor(loader_module, **params):
    flavor = dict(params)
    flavor["loader_module"] = loader_module
    flavor["python_version"] = PYTHON_VERSION
    flavor["env"] = {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    return flavor


def folder_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def write_mlmodel(path, name, flavors, sig=None, example=None, metadata=None, raw=None):
    """Model.to_dict() as MLflow 2.11 builds it, then yaml.safe_dump (sorted keys, block style)."""
    doc = {
        "run_id": ordered_uuid("run:" + name),
        "artifact_path": "model",
        "utc_time_created": str(CREATED),
        "flavors": flavors,
        "model_uuid": ordered_uuid("model:" + name),
        "mlflow_version": MLFLOW_VERSION,
    }
    if sig is not None:
        doc["signature"] = sig
    if example is not None:
        doc["saved_input_example_info"] = example
    if metadata is not None:
        doc["metadata"] = metadata
    doc["model_size_bytes"] = folder_size(path)
    if raw is not None:
        doc = raw(doc)
    with open(os.path.join(path, "MLmodel"), "w") as f:
        yaml.safe_dump(doc, stream=f, default_flow_style=False)


def save_example(path, example_df):
    """_Example for a DataFrame: split orient without the index (NaN written as null)."""
    data = example_df.astype(object).where(example_df.notnull(), None).to_dict(orient="split")
    del data["index"]
    with open(os.path.join(path, "input_example.json"), "w") as f:
        json.dump(data, f)
    return {"artifact_path": "input_example.json", "type": "dataframe", "pandas_orient": "split"}


def fresh(name):
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def json_value(v):
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def write_expected(name, columns, frame, predictions, flavor, notes, extra=None):
    rows = [[json_value(v) for v in row] for row in frame[columns].itertuples(index=False, name=None)]
    preds = np.asarray(predictions)
    expected = {
        "folder": name,
        "flavor": flavor,
        "notes": notes,
        "columns": columns,
        "rows": rows,
        # float32 and float64 values written as the doubles they are (repr round-trips them)
        "predictions": [json_value(p) if preds.ndim == 1 else [json_value(x) for x in p] for p in preds],
        # Bodies exactly as a Python client sends them (requests.post(data=json.dumps(...)),
        # df.to_csv()): NaN as Python's json spells it, the frame's index included.
        "request_split": json.dumps({"dataframe_split": frame.to_dict(orient="split")}),
        "request_csv": frame.to_csv(index=False),
        "request_csv_with_index": frame.to_csv(),
    }
    if extra:
        expected.update(extra)
    with open(os.path.join(OUT, f"{name}.expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


def write_refused(name, must_name, notes):
    with open(os.path.join(OUT, f"{name}.expected.json"), "w") as f:
        json.dump({"folder": name, "refused": must_name, "notes": notes}, f, indent=1)
        f.write("\n")


# ---- data ----

rng = np.random.default_rng(20240402)
FEATURES = ["age", "income", "debt_ratio", "tenure_years", "score"]


def frame(n, with_nan=False):
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(np.int64),
            "income": np.round(rng.lognormal(10, 0.6, n), 2),
            "debt_ratio": np.round(rng.uniform(0, 1.5, n), 4),
            "tenure_years": np.round(rng.exponential(5, n), 3),
            "score": np.round(rng.normal(600, 80, n), 1),
        }
    )
    if with_nan:
        mask = rng.random((n, len(FEATURES))) < 0.08
        for j, col in enumerate(FEATURES):
            if j > 0:  # age stays an int64 column (assigning NaN, even nowhere, would make it float)
                df.loc[mask[:, j], col] = np.nan
    return df


def target(df):
    z = 0.03 * (df.age - 45) + 0.8 * np.log(df.income.fillna(20000)) - 2.5 * df.debt_ratio.fillna(0.5) + 0.01 * (df.score.fillna(600) - 600) - 7.4
    return (z + rng.normal(0, 0.7, len(df)) > 0).astype(int)


TRAIN = frame(600, with_nan=True)
Y = target(TRAIN)
Y3 = pd.cut(TRAIN.debt_ratio.fillna(0.7) + 0.002 * (TRAIN.score.fillna(600) - 600), [-10, 0.5, 1.0, 10], labels=False).astype(int)
TEST = frame(40, with_nan=True)
TEST_NO_NAN = frame(40)
COLUMN_SIG = [col_spec("age", "long")] + [col_spec(c, "double") for c in FEATURES[1:]]


# ---- XGBoost (mlflow/xgboost/__init__.py) ----


def xgb_folder(name, model, model_format, sig, example, metadata=None):
    path = fresh(name)
    data = f"model.{model_format}"
    model.save_model(os.path.join(path, data))
    model_class = f"{type(model).__module__}.{type(model).__name__}"
    flavors = {
        "python_function": pyfunc_flavor("mlflow.xgboost", data=data),
        "xgboost": {"code": None, "data": data, "model_class": model_class, "model_format": model_format, "xgb_version": xgb.__version__},
    }
    info = save_example(path, TEST.head(3)) if example else None
    env_files(path, [f"xgboost=={xgb.__version__}"])
    write_mlmodel(path, name, flavors, sig, info, metadata)
    # As the pyfunc wrapper loads it back: the class named in the flavor, load_model(file).
    loaded = type(model)()
    loaded.load_model(os.path.join(path, data))
    return path, loaded


def make_xgboost():
    # A Booster (xgb.train) on a DataFrame with names, saved with MLflow 2.x's default model_format
    # "xgb": XGBoost 1.7 writes the legacy binary format, which keeps no feature names.
    dtrain = xgb.DMatrix(TRAIN, label=Y)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3}, dtrain, 30)
    sig = signature(COLUMN_SIG, [tensor_spec("float32", [-1])])
    path, loaded = xgb_folder("xgboost-booster-binary", booster, "xgb", sig, True)
    x = enforce_columns(TEST, json.loads(sig["inputs"]))
    write_expected(
        "xgboost-booster-binary",
        FEATURES,
        TEST,
        loaded.predict(xgb.DMatrix(x)),
        "xgboost",
        "xgb.train binary:logistic, model.xgb in XGBoost 1.7's legacy binary format; the pyfunc answers probabilities",
    )

    # A multi-class Booster saved as JSON, without an input example, with custom metadata.
    dtrain3 = xgb.DMatrix(TRAIN, label=Y3)
    booster3 = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.3}, dtrain3, 12)
    sig3 = signature(COLUMN_SIG, [tensor_spec("float32", [-1, 3])])
    path, loaded = xgb_folder("xgboost-booster-multiclass-json", booster3, "json", sig3, False, metadata={"team": "risk", "stage": "canary"})
    write_expected(
        "xgboost-booster-multiclass-json",
        FEATURES,
        TEST,
        loaded.predict(xgb.DMatrix(enforce_columns(TEST, json.loads(sig3["inputs"])))),
        "xgboost",
        "multi:softprob Booster in model.json: three probabilities per row",
    )

    # An XGBClassifier (scikit-learn API) with early stopping, saved as UBJSON: its predict answers
    # class indices, from the best iteration's trees only.
    clf = xgb.XGBClassifier(n_estimators=60, max_depth=3, learning_rate=0.3, early_stopping_rounds=4)
    clf.fit(TRAIN[:450], Y[:450], eval_set=[(TRAIN[450:], Y[450:])], verbose=False)
    assert clf.best_iteration + 1 < clf.get_booster().num_boosted_rounds(), "early stopping must cut trees"
    sig_c = signature(COLUMN_SIG, [col_spec(None, "long")])
    path, loaded = xgb_folder("xgboost-classifier-ubj", clf, "ubj", sig_c, True)
    x = enforce_columns(TEST, json.loads(sig_c["inputs"]))
    write_expected(
        "xgboost-classifier-ubj",
        FEATURES,
        TEST,
        loaded.predict(x),
        "xgboost",
        f"XGBClassifier, early stopping (best_iteration {clf.best_iteration} of {clf.get_booster().num_boosted_rounds()} rounds), model.ubj; the pyfunc answers class indices",
        {"best_iteration": clf.best_iteration},
    )

    # An XGBRegressor in model.json without a signature: columns are matched by the model's own
    # feature names.
    reg = xgb.XGBRegressor(n_estimators=25, max_depth=4, learning_rate=0.2)
    reg.fit(TRAIN, TRAIN.score.fillna(600) / 100 + Y)
    path, loaded = xgb_folder("xgboost-regressor-nosig", reg, "json", None, False)
    write_expected(
        "xgboost-regressor-nosig",
        FEATURES,
        TEST,
        loaded.predict(TEST),
        "xgboost",
        "XGBRegressor in model.json, no signature: rows by the model's feature names",
    )

    # A Booster trained on a numpy array (no feature names), with a tensor signature as
    # infer_signature(ndarray) writes it, and an ndarray input example; legacy binary file.
    arr = TRAIN.to_numpy(dtype=np.float64)
    booster_t = xgb.train({"objective": "reg:squarederror", "max_depth": 3, "eta": 0.3}, xgb.DMatrix(arr, label=Y * 2.0 + TRAIN.debt_ratio.fillna(0).to_numpy()), 15)
    sig_t = signature([tensor_spec("float64", [-1, 5])], [tensor_spec("float32", [-1])])
    name = "xgboost-booster-tensor"
    path = fresh(name)
    booster_t.save_model(os.path.join(path, "model.xgb"))
    with open(os.path.join(path, "input_example.json"), "w") as f:
        json.dump({"inputs": [[None if np.isnan(v) else float(v) for v in row] for row in TEST.head(2).to_numpy(dtype=np.float64)]}, f)
    info = {"artifact_path": "input_example.json", "type": "ndarray", "format": "tf-serving"}
    flavors = {
        "python_function": pyfunc_flavor("mlflow.xgboost", data="model.xgb"),
        "xgboost": {"code": None, "data": "model.xgb", "model_class": "xgboost.core.Booster", "model_format": "xgb", "xgb_version": xgb.__version__},
    }
    env_files(path, [f"xgboost=={xgb.__version__}"])
    write_mlmodel(path, name, flavors, sig_t, info)
    loaded = xgb.Booster()
    loaded.load_model(os.path.join(path, "model.xgb"))
    write_expected(
        name,
        FEATURES,
        TEST,
        loaded.predict(xgb.DMatrix(TEST.to_numpy(dtype=np.float64))),
        "xgboost",
        "Booster trained on an ndarray, tensor signature float64 [-1, 5], legacy binary model.xgb",
    )


# ---- scikit-learn (mlflow/sklearn/__init__.py) ----


def sklearn_folder(name, model, serialization_format, sig, example, predict_fn="predict"):
    path = fresh(name)
    pickle_lib = cloudpickle if serialization_format == "cloudpickle" else pickle
    with open(os.path.join(path, "model.pkl"), "wb") as f:
        pickle_lib.dump(model, f, protocol=pickle.DEFAULT_PROTOCOL)
    flavors = {
        "python_function": pyfunc_flavor("mlflow.sklearn", model_path="model.pkl", predict_fn=predict_fn),
        "sklearn": {"code": None, "pickled_model": "model.pkl", "serialization_format": serialization_format, "sklearn_version": sklearn.__version__},
    }
    info = save_example(path, TEST.head(3)) if example else None
    reqs = [f"scikit-learn=={sklearn.__version__}"] + (["cloudpickle==2.2.0"] if serialization_format == "cloudpickle" else [])
    env_files(path, reqs)
    write_mlmodel(path, name, flavors, sig, info)
    with open(os.path.join(path, "model.pkl"), "rb") as f:
        return pickle_lib.load(f)


def make_sklearn():
    # The default: a Pipeline, cloudpickle (importable classes by reference), string labels.
    labels = np.where(Y == 1, "approve", "decline")
    pipe = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("model", GradientBoostingClassifier(n_estimators=25, max_depth=3, random_state=0)),
        ]
    ).fit(TRAIN, labels)
    sig = signature(COLUMN_SIG, [col_spec(None, "string")])
    loaded = sklearn_folder("sklearn-pipeline-cloudpickle", pipe, "cloudpickle", sig, True)
    write_expected(
        "sklearn-pipeline-cloudpickle",
        FEATURES,
        TEST,
        loaded.predict(enforce_columns(TEST, json.loads(sig["inputs"]))),
        "sklearn",
        "Pipeline(SimpleImputer, StandardScaler, GradientBoostingClassifier) with string labels, cloudpickle by reference; the pyfunc answers labels",
    )

    # Plain pickle, a regressor fitted on an ndarray (no feature names), an unnamed column signature.
    rf = RandomForestRegressor(n_estimators=12, max_depth=5, random_state=0).fit(TRAIN.fillna(0).to_numpy(), TRAIN.score.fillna(600))
    sig_u = signature([col_spec(None, "double") for _ in FEATURES], [col_spec(None, "double")])
    loaded = sklearn_folder("sklearn-forest-pickle", rf, "pickle", sig_u, False)
    write_expected(
        "sklearn-forest-pickle",
        FEATURES,
        TEST_NO_NAN,
        loaded.predict(TEST_NO_NAN.to_numpy(dtype=np.float64)),
        "sklearn",
        "RandomForestRegressor fitted on an ndarray, plain pickle, unnamed column signature (by position)",
    )

    # predict_fn predict_proba: the pyfunc answers probabilities.
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(TRAIN.fillna(0), Y3)
    sig_p = signature(COLUMN_SIG, [tensor_spec("float64", [-1, 3])])
    loaded = sklearn_folder("sklearn-forest-proba", forest, "cloudpickle", sig_p, False, predict_fn="predict_proba")
    write_expected(
        "sklearn-forest-proba",
        FEATURES,
        TEST_NO_NAN,
        loaded.predict_proba(enforce_columns(TEST_NO_NAN, json.loads(sig_p["inputs"]))),
        "sklearn",
        "RandomForestClassifier saved with pyfunc_predict_fn='predict_proba': three probabilities per row",
    )


class Doubler:
    """A class defined in __main__: cloudpickle can only pickle it by value (its code)."""

    def fit(self, x, y=None):
        return self

    def transform(self, x):
        return x * 2


def make_refused():
    # A lambda in a FunctionTransformer: the transformer itself is refused first, by name.
    pipe = Pipeline([("f", FunctionTransformer(lambda x: x * 2)), ("m", RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0))]).fit(TRAIN.fillna(0), Y)
    sklearn_folder("refused-sklearn-lambda", pipe, "cloudpickle", None, False)
    write_refused("refused-sklearn-lambda", ["FunctionTransformer"], "a lambda in a FunctionTransformer: a step forestd does not read")
    # A lambda kept on an estimator forestd reads: cloudpickle writes the lambda's code.
    forest = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(TRAIN.fillna(0), Y)
    forest.threshold_fn = lambda p: p > 0.3
    sklearn_folder("refused-sklearn-lambda-by-value", forest, "cloudpickle", None, False)
    write_refused("refused-sklearn-lambda-by-value", ["cloudpickle", "by value"], "a lambda on a RandomForestClassifier, pickled by value by cloudpickle")
    pipe = Pipeline([("f", Doubler()), ("m", RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0))]).fit(TRAIN.fillna(0), Y)
    sklearn_folder("refused-sklearn-main-class", pipe, "cloudpickle", None, False)
    write_refused("refused-sklearn-main-class", ["cloudpickle", "by value"], "a class defined in __main__, pickled by value")

    # A python_function flavor alone: custom Python code (mlflow.pyfunc.log_model(python_model=...)).
    name = "refused-pyfunc-only"
    path = fresh(name)
    with open(os.path.join(path, "python_model.pkl"), "wb") as f:
        cloudpickle.dump(Doubler(), f, protocol=pickle.DEFAULT_PROTOCOL)
    flavors = {"python_function": pyfunc_flavor("mlflow.pyfunc.model", cloudpickle_version="2.2.0", code=None, python_model="python_model.pkl")}
    env_files(path, ["cloudpickle==2.2.0"])
    write_mlmodel(path, name, flavors)
    write_refused(name, ["python_function", "custom Python code"], "mlflow.pyfunc.log_model(python_model=...): only a python_function flavor")

    # A flavor forestd does not serve at all.
    name = "refused-tensorflow"
    path = fresh(name)
    os.makedirs(os.path.join(path, "data"))
    flavors = {
        "python_function": pyfunc_flavor("mlflow.tensorflow", data="data"),
        "tensorflow": {"code": None, "model_type": "tf2-module", "saved_model_dir": "tf2model"},
    }
    env_files(path, ["tensorflow==2.15.0"])
    write_mlmodel(path, name, flavors)
    write_refused(name, ["tensorflow"], "a TensorFlow model: a flavor forestd cannot serve")


# ---- LightGBM (mlflow/lightgbm/__init__.py) ----


def make_lightgbm():
    try:
        import lightgbm as lgb
    except ImportError:
        print("LightGBM is not on PYTHONPATH: the lightgbm folders are left as they are", file=sys.stderr)
        return
    version_file = os.path.join(os.path.dirname(lgb.__file__), "VERSION.txt")
    lgb_version = open(version_file).read().strip() if os.path.exists(version_file) else "4.6.0.99"
    for name, params, label, rounds, notes in [
        ("lightgbm-booster-binary", {"objective": "binary", "num_leaves": 15, "learning_rate": 0.2, "verbose": -1}, Y, 30, "lgb.train binary: probabilities"),
        ("lightgbm-booster-multiclass", {"objective": "multiclass", "num_class": 3, "num_leaves": 7, "learning_rate": 0.2, "verbose": -1}, Y3, 10, "lgb.train multiclass: three probabilities per row"),
    ]:
        booster = lgb.train(params, lgb.Dataset(TRAIN, label=label), rounds)
        path = fresh(name)
        booster.save_model(os.path.join(path, "model.lgb"))
        outputs = [tensor_spec("float64", [-1] if params["objective"] == "binary" else [-1, 3])]
        sig = signature(COLUMN_SIG, outputs)
        flavors = {
            "lightgbm": {"code": None, "data": "model.lgb", "lgb_version": lgb_version, "model_class": "lightgbm.basic.Booster"},
            "python_function": pyfunc_flavor("mlflow.lightgbm", data="model.lgb"),
        }
        info = save_example(path, TEST.head(3))
        env_files(path, [f"lightgbm=={lgb_version}"])
        write_mlmodel(path, name, flavors, sig, info)
        loaded = lgb.Booster(model_file=os.path.join(path, "model.lgb"))
        write_expected(name, FEATURES, TEST, loaded.predict(enforce_columns(TEST, json.loads(sig["inputs"])), num_threads=1), "lightgbm", notes)


def make_xgboost_binary():
    """More legacy binary files than the folders hold (dart, multi-class, parallel trees, a
    log-link objective), each with XGBoost's own predictions and margins after loading the file."""
    out = os.path.join(OUT, "xgboost-binary")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    counts = np.floor(TRAIN.tenure_years.fillna(1).to_numpy())
    for name, params, label, rounds in [
        ("dart", {"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.2, "max_depth": 3, "seed": 1}, Y, 12),
        ("multiclass", {"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, Y3, 8),
        ("forest", {"objective": "reg:squarederror", "num_parallel_tree": 4, "subsample": 0.8, "colsample_bynode": 0.8, "max_depth": 4, "seed": 2}, TRAIN.score.fillna(600), 3),
        ("poisson", {"objective": "count:poisson", "max_depth": 3}, counts, 10),
    ]:
        booster = xgb.train(params, xgb.DMatrix(TRAIN.to_numpy(dtype=np.float64), label=label), rounds)
        path = os.path.join(out, f"{name}.xgb")
        booster.save_model(path)
        loaded = xgb.Booster()
        loaded.load_model(path)
        data = xgb.DMatrix(TEST.to_numpy(dtype=np.float64))
        rows = [[json_value(v) for v in row] for row in TEST.to_numpy(dtype=np.float64)]
        with open(os.path.join(out, f"{name}.expected.json"), "w") as f:
            json.dump(
                {
                    "objective": params["objective"],
                    "rows": rows,
                    "predictions": loaded.predict(data).ravel().tolist(),
                    "margins": loaded.predict(data, output_margin=True).ravel().tolist(),
                },
                f,
            )
            f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    make_xgboost()
    make_xgboost_binary()
    make_sklearn()
    make_refused()
    make_lightgbm()


if __name__ == "__main__":
    main()
