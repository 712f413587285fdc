#!/usr/bin/python3
"""scikit-learn models saved as users save them (joblib.dump, pickle.dump), with scikit-learn's own answers.

Run with Debian's system python3 (python3-sklearn 1.2.1, python3-joblib 1.2.0, python3-lz4):

    /usr/bin/python3 scripts/make_sklearn_fixtures.py     # writes test/fixtures/sklearn/

Every model is trained with fixed seeds and n_jobs=1. Beside each model file, `<name>.expected.json`
holds the test rows (null = missing; rows exactly at, and one float step either side of, split
thresholds) and scikit-learn's own predict / predict_proba / decision_function / score_samples on
them, as float64 printed with repr (Python's json does), so they round-trip exactly.

Versions newer than Debian's 1.2.1 are written by rewriting 1.2.1's pickles the way the newer
release writes them, from that release's source (sklearn/tree/_tree.pyx, `Tree.__reduce__` and
`__getstate__`; `BaseEstimator.__getstate__` for `_sklearn_version`):
  - 1.3: the node record gains `missing_go_to_left` (uint8, after weighted_n_node_samples; the
    struct grows from 56 to 64 bytes, numpy's aligned layout of `Node` in _tree.pxd); tree values
    are still weighted class counts.
  - 1.4 and later: the same node record; classifier tree values are class fractions (each node's
    counts divided by their sum) instead of counts.
The rewrite happens in a pickler's `reducer_override` (the Tree's state dict and the estimators'
`_sklearn_version`), so the file is byte for byte what joblib writes for such objects. Its ground
truth comes from scikit-learn 1.2.1 itself, run on the same trees with the rewritten values set
back into them (1.2.1's predict_proba normalises each leaf and averages, the same code as 1.4's),
so no prediction here is computed by this script.

The hostile set (test/fixtures/sklearn/hostile/) is made from raw pickle opcodes or by pickling
objects whose __reduce__ names a dangerous callable. NOTHING here ever loads those files.
"""
import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import shutil
import struct
import sys
import types
import zipfile
import zlib

import joblib
import numpy as np
import pandas as pd
import sklearn
import sklearn._loss.loss
from joblib.numpy_pickle import NumpyPickler
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor
from sklearn.tree._tree import Tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "sklearn")
HOSTILE = os.path.join(OUT, "hostile")
# The file an attack in the hostile set would create if anything ran it; the tests check it is absent.
PWNED = "/tmp/forestd-sklearn-pwned"

assert sklearn.__version__ == "1.2.1", f"expected Debian's scikit-learn 1.2.1, got {sklearn.__version__}"


# ---------------------------------------------------------------------------------------------
# Data

def height_weight_shoe(n, seed):
    rng = np.random.RandomState(seed)
    male = rng.rand(n) < 0.5
    height = np.where(male, rng.normal(178, 7, n), rng.normal(165, 6, n))
    weight = np.where(male, rng.normal(80, 10, n), rng.normal(64, 9, n))
    shoe = np.where(male, rng.normal(43.5, 1.5, n), rng.normal(38.5, 1.5, n))
    X = np.column_stack([height, weight, shoe])
    return X, male.astype(int)


def house_prices(n, seed):
    rng = np.random.RandomState(seed)
    area = rng.uniform(30, 250, n)
    rooms = rng.randint(1, 8, n).astype(float)
    age = rng.uniform(0, 100, n)
    dist = rng.exponential(10, n)
    price = 2000 * area + 15000 * rooms - 800 * age - 3000 * dist + rng.normal(0, 20000, n)
    return np.column_stack([area, rooms, age, dist]), price


def test_rows(model_trees, X, n=40, seed=7, dtype=np.float32):
    """Rows from X, plus rows at and one float step either side of split thresholds.

    Trees compare float32(x) <= double t: the rows put x at t, at float32(t) and at float32's and
    float64's neighbours of t, so both roundings are exercised. HistGradientBoosting compares
    double x <= double t (dtype=np.float64).
    """
    rng = np.random.RandomState(seed)
    rows = [X[i].copy() for i in rng.choice(len(X), size=min(n, len(X)), replace=False)]
    base = X[0].copy()
    added = 0
    for feature, threshold in model_trees:
        if added >= 24:
            break
        t = float(threshold)
        candidates = {t, float(np.nextafter(t, np.inf)), float(np.nextafter(t, -np.inf))}
        if dtype == np.float32:
            f = np.float32(t)
            candidates |= {float(f), float(np.nextafter(f, np.float32(np.inf))), float(np.nextafter(f, np.float32(-np.inf)))}
        for c in sorted(candidates):
            row = base.copy()
            row[feature] = c
            rows.append(row)
            added += 1
    return np.array(rows, dtype=np.float64)


def tree_splits(tree):
    t = tree.tree_
    return [(int(t.feature[i]), float(t.threshold[i])) for i in range(t.node_count) if t.children_left[i] != -1][:4]


def forest_splits(estimators):
    out = []
    for e in estimators[:3]:
        out += tree_splits(e)
    return out


def hgb_splits(model):
    out = []
    for predictors in model._predictors[:3]:
        nodes = predictors[0].nodes
        for node in nodes[:6]:
            if not node["is_leaf"] and not node["is_categorical"]:
                out.append((int(node["feature_idx"]), float(node["num_threshold"])))
    return out


# ---------------------------------------------------------------------------------------------
# Writing

def jsonable(v):
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()] if v.ndim else jsonable(v.item())
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return None if np.isnan(v) else v
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.str_,)):
        return str(v)
    return v


def expected_for(model, rows, columns=None):
    """scikit-learn's own outputs on `rows` (float64; a DataFrame when the model was fitted on one)."""
    X = pd.DataFrame(rows, columns=columns) if columns is not None else rows
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    out = {"estimator": type(final).__name__, "rows": jsonable(rows), "predict": jsonable(model.predict(X))}
    if hasattr(final, "classes_"):
        out["classes"] = jsonable(final.classes_)
    if hasattr(model, "predict_proba") and hasattr(final, "classes_"):
        out["predict_proba"] = jsonable(model.predict_proba(X))
    if hasattr(final, "decision_function") and not isinstance(final, (RandomForestClassifier, ExtraTreesClassifier)):
        out["decision_function"] = jsonable(model.decision_function(X))
    if hasattr(final, "score_samples"):
        out["score_samples"] = jsonable(model.score_samples(X))
    if columns is not None:
        out["feature_names"] = list(columns)
    for k in ("predict", "predict_proba", "decision_function", "score_samples"):
        if k in out:
            json.dumps(out[k], allow_nan=False)  # no NaN in scikit-learn's answers
    return out


def write_expected(name, model_file, expected, notes=None):
    expected = dict(expected)
    expected["model"] = model_file
    expected["sklearn_version"] = sklearn.__version__
    if notes:
        expected["notes"] = notes
    with open(os.path.join(OUT, name + ".expected.json"), "w") as f:
        json.dump(expected, f, indent=None, separators=(",", ":"), allow_nan=False)
        f.write("\n")


def save(name, model, rows, columns=None, compress=0, protocol=None, how="joblib", ext=None, notes=None):
    ext = ext or {"joblib": ".joblib", "pickle": ".pkl"}[how]
    path = os.path.join(OUT, name + ext)
    if how == "joblib":
        joblib.dump(model, path, compress=compress, protocol=protocol)
    else:
        with open(path, "wb") as f:
            pickle.dump(model, f, protocol=protocol)
    write_expected(name, name + ext, expected_for(model, rows, columns), notes)
    return path


# ---------------------------------------------------------------------------------------------
# Newer releases' layouts (see the module docstring)

NODE_DTYPE_13 = np.dtype(
    {
        "names": ["left_child", "right_child", "feature", "threshold", "impurity", "n_node_samples",
                  "weighted_n_node_samples", "missing_go_to_left"],
        "formats": [np.intp, np.intp, np.intp, np.float64, np.float64, np.intp, np.float64, np.uint8],
        "offsets": [0, 8, 16, 24, 32, 40, 48, 56],
        "itemsize": 64,
    }
)


def nodes_13(nodes, missing_left=None):
    out = np.zeros(nodes.shape, dtype=NODE_DTYPE_13)
    for name in nodes.dtype.names:
        out[name] = nodes[name]
    if missing_left is not None:
        out["missing_go_to_left"] = missing_left
    return out


def fractions(values):
    sums = values.sum(axis=-1, keepdims=True)
    sums[sums == 0] = 1
    return values / sums


# GradientBoosting from 1.4 keeps its loss as a sklearn._loss object (1.2.1 has these classes too;
# for the binomial and regression losses the init link and the probabilities are the same formulas
# as _gb_losses', so 1.2.1's answers are 1.4's).
GB_LOSSES_14 = {
    "BinomialDeviance": lambda est: sklearn._loss.loss.HalfBinomialLoss(),
    "LeastSquaresError": lambda est: sklearn._loss.loss.HalfSquaredError(),
    "LeastAbsoluteError": lambda est: sklearn._loss.loss.AbsoluteError(),
    "QuantileLossFunction": lambda est: sklearn._loss.loss.PinballLoss(quantile=est.alpha),
}


def rewrite(obj, proto, version, classifier):
    """reducer_override's body: trees and versions as a newer scikit-learn writes them."""
    if isinstance(obj, Tree):
        cls, args, state = obj.__reduce__()
        state = dict(state)
        nodes = state["nodes"]
        # 1.4 sends NaN to the child with more samples when the feature had no missing values in fit
        left = nodes["left_child"]
        right = nodes["right_child"]
        go_left = np.zeros(len(nodes), dtype=np.uint8)
        split = left != -1
        go_left[split] = nodes["n_node_samples"][left[split]] >= nodes["n_node_samples"][right[split]]
        state["nodes"] = nodes_13(nodes, go_left)
        if classifier and version >= "1.4" and state["values"].shape[2] > 1:  # classification trees only
            state["values"] = fractions(state["values"])
        return (cls, args, state)
    if isinstance(obj, sklearn.base.BaseEstimator):
        reduced = obj.__reduce_ex__(proto)
        state = dict(reduced[2])
        state["_sklearn_version"] = version
        if version >= "1.4" and isinstance(obj, (GradientBoostingClassifier, GradientBoostingRegressor)):
            state["_loss"] = GB_LOSSES_14[type(state["_loss"]).__name__](obj)
        return (reduced[0], reduced[1], state) + tuple(reduced[3:])
    return NotImplemented


class RewritingPickler(NumpyPickler):
    """joblib's pickler, writing trees and versions as a newer scikit-learn does."""

    def __init__(self, fp, version, classifier, protocol=None):
        super().__init__(fp, protocol=protocol)
        self.version = version
        self.classifier = classifier

    def reducer_override(self, obj):
        return rewrite(obj, self.proto, self.version, self.classifier)


class RewritingPlainPickler(pickle.Pickler):
    """The same for the nested pickles joblib writes for object arrays (GradientBoosting's trees)."""

    def __init__(self, fp, protocol, version, classifier):
        super().__init__(fp, protocol=protocol)
        self.version = version
        self.classifier = classifier
        self.proto_ = protocol

    def reducer_override(self, obj):
        return rewrite(obj, self.proto_, self.version, self.classifier)


def save_as_version(name, model, rows, version, classifier):
    if classifier and version >= "1.4" and hasattr(model, "estimators_") and isinstance(model.estimators_, list):
        # scikit-learn 1.2.1 on the rewritten values gives 1.4's answers (module docstring)
        for est in model.estimators_:
            state = est.tree_.__getstate__()
            state["values"] = fractions(state["values"])
            est.tree_.__setstate__(state)
    expected = expected_for(model, rows)
    path = os.path.join(OUT, name + ".joblib")
    plain = joblib.numpy_pickle.pickle
    shim = types.SimpleNamespace(**{k: getattr(plain, k) for k in dir(plain) if not k.startswith("__")})
    shim.dump = lambda obj, f, protocol=None: RewritingPlainPickler(f, protocol, version, classifier).dump(obj)
    joblib.numpy_pickle.pickle = shim  # joblib's write_array pickles object arrays with pickle.dump
    try:
        with open(path, "wb") as f:
            RewritingPickler(f, version, classifier).dump(model)
    finally:
        joblib.numpy_pickle.pickle = plain
    write_expected(name, name + ".joblib", expected, f"rewritten as scikit-learn {version} writes it")


# ---------------------------------------------------------------------------------------------
# Hostile files: raw pickle opcodes

def proto(n):
    return b"\x80" + bytes([n])


def short_unicode(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def stack_global(module, name):
    return short_unicode(module) + short_unicode(name) + b"\x93"


def binint(n):
    return b"J" + struct.pack("<i", n)


def long1(n):
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b


class Evil:
    """Pickles as a call to os.system; only ever pickled here, never unpickled."""

    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


def hostile():
    os.makedirs(HOSTILE, exist_ok=True)
    files = {}
    cmd = f"touch {PWNED}"
    # os.system at the top level, protocol 0 text opcodes
    files["os_system.pkl"] = b"cos\nsystem\n(V" + cmd.encode() + b"\ntR."
    # builtins.eval via STACK_GLOBAL, protocol 4
    files["eval.pkl"] = proto(4) + stack_global("builtins", "eval") + short_unicode(
        f"__import__('os').system('{cmd}')") + b"\x85R."
    # subprocess.check_call, protocol 2 GLOBAL
    files["subprocess.pkl"] = proto(2) + b"csubprocess\ncheck_call\n" + b"X" + struct.pack(
        "<I", len(cmd)) + cmd.encode() + b"\x85R."
    # an allowed constructor given a disallowed one as argument (posix.system spelled directly)
    files["posix_system_reduce.pkl"] = proto(2) + b"cposix\nsystem\n" + b"X" + struct.pack(
        "<I", len(cmd)) + cmd.encode() + b"\x85R."
    # a 2^40-element shape for numpy's _reconstruct + BUILD
    files["shape_2_40.pkl"] = (
        proto(2) + b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + b"K\x00\x85"
        + b"C\x01b" + b"\x87R"
        + b"(K\x01" + long1(2 ** 40) + b"\x85" + b"cnumpy\ndtype\n" + b"X\x02\x00\x00\x00f8\x89\x88\x87R"
        + b"(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + b"\x89C\x08" + b"\x00" * 8 + b"tb."
    )
    # 100 000 nested lists
    files["nested_lists.pkl"] = proto(2) + b"]" * 100_000 + b"a" * 99_999 + b"."
    # memo index out of range
    files["memo_out_of_range.pkl"] = proto(2) + b"]q\x00h\xc8."
    # an unknown opcode
    files["unknown_opcode.pkl"] = proto(4) + b"]\xff."
    # persistent ids and extension codes
    files["persid.pkl"] = proto(0) + b"Pobject-42\n."
    files["ext1.pkl"] = proto(2) + b"\x82\x01."
    # out-of-band buffers
    files["next_buffer.pkl"] = proto(5) + b"\x97."
    # truncated in the middle of a string
    files["truncated.pkl"] = proto(4) + b"\x8c\x10abc"
    for name, data in files.items():
        with open(os.path.join(HOSTILE, name), "wb") as f:
            f.write(data)

    X, y = height_weight_shoe(200, 3)

    # os.system nested inside an estimator's object array (classes_: a nested pickle in joblib)
    clf = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, np.where(y == 1, "male", "female"))
    clf.classes_ = np.array([Evil(), "male"], dtype=object)
    joblib.dump(clf, os.path.join(HOSTILE, "nested_os_system.joblib"))

    # a joblib array wrapper claiming 2^40 elements
    wrapper = joblib.numpy_pickle.NumpyArrayWrapper(np.ndarray, (2 ** 40,), "C", np.dtype("f8"))
    with open(os.path.join(HOSTILE, "wrapper_2_40.joblib"), "wb") as f:
        pickle.dump(wrapper, f, protocol=2)  # no frames: the array bytes follow BUILD, as joblib writes
        f.write(b"\x0f" + b"\xff" * 15 + b"\x00" * 64)

    # compression bombs: far more output than the bound allows, from a small file
    with open(os.path.join(HOSTILE, "bomb.joblib.bz2"), "wb") as f:
        comp = bz2.BZ2Compressor(9)
        chunk = b"\x00" * (1 << 24)
        for _ in range(256):  # 4 GiB of zeros
            f.write(comp.compress(chunk))
        f.write(comp.flush())
    with open(os.path.join(HOSTILE, "bomb.joblib.gz"), "wb") as f:
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        chunk = b"\x00" * (1 << 24)
        for _ in range(5):  # 80 MiB of zeros, ~80 KB compressed
            f.write(comp.compress(chunk))
        f.write(comp.flush())

    # __proto__ / constructor keys in an estimator's state: harmless data, the model still loads
    polluted = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    polluted.__dict__["__proto__"] = {"polluted": True}
    polluted.__dict__["constructor"] = {"prototype": {"polluted": True}}
    joblib.dump(polluted, os.path.join(HOSTILE, "proto_keys.joblib"))
    write_expected_hostile("proto_keys", "proto_keys.joblib", expected_for(polluted, test_rows(tree_splits(polluted), X)))

    # broken trees
    def broken_tree(name, mutate):
        model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)

        class Breaker(NumpyPickler):
            def reducer_override(self, obj):
                if isinstance(obj, Tree):
                    cls, args, state = obj.__reduce__()
                    state = dict(state)
                    state["nodes"] = state["nodes"].copy()
                    state["values"] = state["values"].copy()
                    mutate(state)
                    return (cls, args, state)
                return NotImplemented

        with open(os.path.join(HOSTILE, name + ".joblib"), "wb") as f:
            Breaker(f).dump(model)

    def cycle(state):
        state["nodes"]["left_child"][2] = 0

    def out_of_range(state):
        state["nodes"]["right_child"][0] = 1_000_000

    def negative_feature(state):
        state["nodes"]["feature"][0] = -5

    def values_mismatch(state):
        state["values"] = state["values"][:-2]

    def node_count_mismatch(state):
        state["node_count"] = state["node_count"] + 5

    broken_tree("tree_cycle", cycle)
    broken_tree("children_out_of_range", out_of_range)
    broken_tree("negative_feature", negative_feature)
    broken_tree("values_mismatch", values_mismatch)
    broken_tree("node_count_mismatch", node_count_mismatch)

    # an estimator this reader does not score, and a custom class
    joblib.dump(LogisticRegression().fit(X, y), os.path.join(HOSTILE, "logistic_regression.joblib"))
    joblib.dump(Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(X, y),
                os.path.join(HOSTILE, "pipeline_logistic.joblib"))
    joblib.dump(SVC().fit(X, y), os.path.join(HOSTILE, "svc.joblib"))
    ct = ColumnTransformer([("scale", StandardScaler(), [0, 1])], remainder="passthrough")
    joblib.dump(Pipeline([("columns", ct), ("rf", RandomForestClassifier(n_estimators=2, random_state=0))]).fit(X, y),
                os.path.join(HOSTILE, "pipeline_column_transformer.joblib"))
    with open(os.path.join(HOSTILE, "custom_class.pkl"), "wb") as f:
        f.write(proto(4) + stack_global("mypackage.models", "MyForest") + b")\x81}b.")


def write_expected_hostile(name, model_file, expected):
    expected = dict(expected)
    expected["model"] = model_file
    expected["sklearn_version"] = sklearn.__version__
    with open(os.path.join(HOSTILE, name + ".expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# The fixtures

def main():
    # start afresh, except for the skops files when this run cannot rewrite them (no SKOPS_SRC)
    keep_skops = not os.environ.get("SKOPS_SRC")
    if os.path.exists(OUT):
        for root, _dirs, files in os.walk(OUT):
            for name in files:
                if not (keep_skops and ("_skops." in name or name.startswith("skops_"))):
                    os.remove(os.path.join(root, name))
    os.makedirs(HOSTILE, exist_ok=True)

    Xb, yb = height_weight_shoe(300, 1)
    Xm, ym = make_classification(n_samples=300, n_features=5, n_informative=3, n_redundant=0, n_classes=3,
                                 n_clusters_per_class=1, random_state=2)
    iris = load_iris()
    Xs, ys = iris.data, iris.target_names[iris.target]  # string labels
    Xr, yr = house_prices(300, 4)
    Xr2, yr2 = make_regression(n_samples=200, n_features=4, n_targets=2, noise=5.0, random_state=5)

    # single trees
    m = DecisionTreeClassifier(max_depth=5, random_state=0).fit(Xb, yb)
    save("dt_clf_binary", m, test_rows(tree_splits(m), Xb))
    m = DecisionTreeClassifier(max_depth=4, random_state=0).fit(Xs, ys)
    save("dt_clf_strings", m, test_rows(tree_splits(m), Xs))
    m = DecisionTreeRegressor(max_depth=5, random_state=0).fit(Xr, yr)
    save("dt_reg", m, test_rows(tree_splits(m), Xr))
    m = ExtraTreeClassifier(max_depth=5, random_state=0).fit(Xm, ym)
    save("extratree_clf_multiclass", m, test_rows(tree_splits(m), Xm))
    m = ExtraTreeRegressor(max_depth=5, random_state=0).fit(Xr, yr)
    save("extratree_reg", m, test_rows(tree_splits(m), Xr))

    # forests
    m = RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0, n_jobs=1).fit(Xb, yb)
    rf_binary = m
    save("rf_clf_binary", m, test_rows(forest_splits(m.estimators_), Xb))
    m = RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0, n_jobs=1).fit(Xm, ym)
    save("rf_clf_multiclass", m, test_rows(forest_splits(m.estimators_), Xm))
    m = RandomForestClassifier(n_estimators=6, max_depth=4, random_state=0, n_jobs=1).fit(Xs, ys)
    save("rf_clf_strings", m, test_rows(forest_splits(m.estimators_), Xs))
    m = RandomForestRegressor(n_estimators=8, max_depth=6, random_state=0, n_jobs=1).fit(Xr, yr)
    save("rf_reg", m, test_rows(forest_splits(m.estimators_), Xr))
    m = RandomForestRegressor(n_estimators=5, max_depth=5, random_state=0, n_jobs=1).fit(Xr2, yr2)
    save("rf_reg_multioutput", m, test_rows(forest_splits(m.estimators_), Xr2))
    m = ExtraTreesClassifier(n_estimators=8, max_depth=5, random_state=0, n_jobs=1).fit(Xm, ym)
    save("et_clf_multiclass", m, test_rows(forest_splits(m.estimators_), Xm))
    m = ExtraTreesRegressor(n_estimators=8, max_depth=5, random_state=0, n_jobs=1).fit(Xr, yr)
    save("et_reg", m, test_rows(forest_splits(m.estimators_), Xr))
    m = ExtraTreesRegressor(n_estimators=4, max_depth=4, random_state=0, n_jobs=1).fit(Xr2, yr2)
    save("et_reg_multioutput", m, test_rows(forest_splits(m.estimators_), Xr2))

    # gradient boosting: every loss, init estimator or 'zero'
    def gb_rows(m, X):
        return test_rows(forest_splits(m.estimators_[:, 0]), X)

    for loss in ("log_loss", "exponential"):
        m = GradientBoostingClassifier(loss=loss, n_estimators=10, max_depth=3, random_state=0).fit(Xb, yb)
        save(f"gb_clf_binary_{loss}", m, gb_rows(m, Xb))
    m = GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0).fit(Xm, ym)
    save("gb_clf_multiclass", m, gb_rows(m, Xm))
    m = GradientBoostingClassifier(n_estimators=6, max_depth=2, random_state=0).fit(Xs, ys)
    save("gb_clf_strings", m, gb_rows(m, Xs))
    m = GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0, init="zero").fit(Xb, yb)
    save("gb_clf_init_zero", m, gb_rows(m, Xb))
    m = GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0,
                                   init=DummyClassifier(strategy="prior")).fit(Xm, ym)
    save("gb_clf_init_dummy", m, gb_rows(m, Xm))
    for loss in ("squared_error", "absolute_error", "huber", "quantile"):
        m = GradientBoostingRegressor(loss=loss, n_estimators=10, max_depth=3, random_state=0, alpha=0.8).fit(Xr, yr)
        save(f"gb_reg_{loss}", m, gb_rows(m, Xr))
    m = GradientBoostingRegressor(n_estimators=8, max_depth=3, random_state=0, init="zero").fit(Xr, yr)
    save("gb_reg_init_zero", m, gb_rows(m, Xr))
    m = GradientBoostingRegressor(n_estimators=8, max_depth=3, random_state=0, subsample=0.7,
                                  init=DummyRegressor(strategy="median")).fit(Xr, yr)
    save("gb_reg_init_dummy_median", m, gb_rows(m, Xr))

    # histogram gradient boosting: NaN, categorical features
    rng = np.random.RandomState(9)
    Xn = Xb.copy()
    Xn[rng.rand(*Xn.shape) < 0.15] = np.nan
    m = HistGradientBoostingClassifier(max_iter=10, max_depth=4, random_state=0).fit(Xn, yb)
    rows = test_rows(hgb_splits(m), Xn, dtype=np.float64)
    save("hgb_clf_binary_nan", m, rows)
    m = HistGradientBoostingClassifier(max_iter=6, max_depth=3, random_state=0).fit(Xm, ym)
    save("hgb_clf_multiclass", m, test_rows(hgb_splits(m), Xm, dtype=np.float64))
    m = HistGradientBoostingClassifier(max_iter=5, max_depth=3, random_state=0).fit(Xs, ys)
    save("hgb_clf_strings", m, test_rows(hgb_splits(m), Xs, dtype=np.float64))
    Xrn = Xr.copy()
    Xrn[rng.rand(*Xrn.shape) < 0.1] = np.nan
    m = HistGradientBoostingRegressor(max_iter=10, max_depth=4, random_state=0).fit(Xrn, yr)
    save("hgb_reg_nan", m, test_rows(hgb_splits(m), Xrn, dtype=np.float64))
    m = HistGradientBoostingRegressor(loss="poisson", max_iter=8, max_depth=3, random_state=0).fit(Xr, np.abs(yr) / 1e4)
    save("hgb_reg_poisson", m, test_rows(hgb_splits(m), Xr, dtype=np.float64))
    m = HistGradientBoostingRegressor(loss="absolute_error", max_iter=8, max_depth=3, random_state=0).fit(Xr, yr)
    save("hgb_reg_absolute_error", m, test_rows(hgb_splits(m), Xr, dtype=np.float64))
    # categorical: column 0 holds categories 0..6 (5 and 6 rare), NaN allowed
    cat = rng.randint(0, 7, 400).astype(float)
    cat[rng.rand(400) < 0.05] = np.nan
    other = rng.normal(0, 1, 400)
    yc = ((np.nan_to_num(cat, nan=3) % 3 == 0) ^ (other > 0.3)).astype(int)
    Xc = np.column_stack([cat, other])
    m = HistGradientBoostingClassifier(max_iter=8, max_depth=3, categorical_features=[0], random_state=0).fit(Xc, yc)
    rows = test_rows(hgb_splits(m), Xc, dtype=np.float64)
    extra = [[c, 0.0] for c in (0, 1, 2, 3, 4, 5, 6, 7, 9, 200, 255, 256, 300, -1, -0.5, 2.5, 3.9, np.nan, 1e9)]
    save("hgb_clf_categorical", m, np.vstack([rows, np.array(extra, dtype=np.float64)]))
    m = HistGradientBoostingRegressor(max_iter=8, max_depth=3, categorical_features=[0], random_state=0).fit(
        Xc, other * 3 + np.nan_to_num(cat, nan=1))
    save("hgb_reg_categorical", m, np.vstack([test_rows(hgb_splits(m), Xc, dtype=np.float64), np.array(extra)]))

    # arrays joblib writes in Fortran order and big-endian (what a model from a big-endian machine
    # holds): HistGradientBoosting's categorical bitsets (n, 8) in Fortran order and its baseline
    # big-endian; a scaler's statistics big-endian. The answers are scikit-learn's on the model before
    # the change (the same numbers; its predictor wants C-contiguous bitsets).
    m = HistGradientBoostingClassifier(max_iter=6, max_depth=3, categorical_features=[0], random_state=0).fit(Xc, yc)
    rows = np.vstack([test_rows(hgb_splits(m), Xc, dtype=np.float64), np.array(extra[:13], dtype=np.float64)])
    expected = expected_for(m, rows)
    for predictors in m._predictors:
        predictors[0].raw_left_cat_bitsets = np.asfortranarray(predictors[0].raw_left_cat_bitsets)
    m._baseline_prediction = m._baseline_prediction.astype(">f8")
    joblib.dump(m, os.path.join(OUT, "hgb_clf_categorical_fortran_bigendian.joblib"))
    write_expected("hgb_clf_categorical_fortran_bigendian", "hgb_clf_categorical_fortran_bigendian.joblib", expected,
                   "bitsets in Fortran order, baseline big-endian")
    Xf = np.nan_to_num(Xc)
    scaler = StandardScaler().fit(Xf)
    scaler.mean_ = scaler.mean_.astype(">f8")
    scaler.scale_ = scaler.scale_.astype(">f8")
    rf = RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0, n_jobs=1).fit(scaler.transform(Xf), yc)
    save("pipeline_bigendian_standard_rf", Pipeline([("scale", scaler), ("rf", rf)]), test_rows([], Xf))

    # isolation forest
    m = IsolationForest(n_estimators=10, max_samples=64, random_state=0).fit(Xb)
    save("iforest", m, test_rows(forest_splits(m.estimators_), Xb))
    m = IsolationForest(n_estimators=6, max_samples=32, max_features=2, contamination=0.1, random_state=0).fit(Xr)
    save("iforest_max_features", m, test_rows(forest_splits(m.estimators_), Xr))

    # pipelines
    for name, pre in (
        ("standard", [StandardScaler()]),
        ("minmax", [MinMaxScaler()]),
        ("maxabs", [MaxAbsScaler()]),
        ("robust", [RobustScaler()]),
        ("impute_mean_standard", [SimpleImputer(strategy="mean"), StandardScaler()]),
        ("impute_median", [SimpleImputer(strategy="median")]),
        ("impute_constant", [SimpleImputer(strategy="constant", fill_value=-1.0)]),
        ("impute_most_frequent", [SimpleImputer(strategy="most_frequent")]),
    ):
        steps = [(type(p).__name__.lower(), p) for p in pre]
        m = Pipeline(steps + [("rf", RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0, n_jobs=1))])
        Xp = Xn if "impute" in name else Xb
        m.fit(Xp, yb)
        rows = test_rows([], Xp)
        save(f"pipeline_{name}_rf", m, rows)
    m = Pipeline([("scale", StandardScaler()),
                  ("gb", GradientBoostingRegressor(n_estimators=6, max_depth=3, random_state=0))]).fit(Xr, yr)
    save("pipeline_standard_gb_reg", m, test_rows([], Xr))
    # an imputer whose column was all missing at fit drops it (a select step)
    Xe = Xb.copy()
    Xe[:, 1] = np.nan
    m = Pipeline([("impute", SimpleImputer()), ("dt", DecisionTreeClassifier(max_depth=4, random_state=0))]).fit(Xe, yb)
    save("pipeline_impute_empty_column_dt", m, test_rows([], Xe))

    # a model fitted on a pandas DataFrame: feature names, rows by name
    cols = ["height", "weight", "shoe_size"]
    df = pd.DataFrame(Xb, columns=cols)
    m = RandomForestClassifier(n_estimators=6, max_depth=4, random_state=0, n_jobs=1).fit(df, np.where(yb == 1, "male", "female"))
    save("rf_clf_pandas", m, test_rows(forest_splits(m.estimators_), Xb), columns=cols)
    m = Pipeline([("scale", StandardScaler()),
                  ("hgb", HistGradientBoostingClassifier(max_iter=5, random_state=0))]).fit(df, yb)
    save("pipeline_pandas_hgb", m, test_rows([], Xb), columns=cols)

    # every joblib compression, and pickle protocols (joblib and plain pickle.dump)
    rows = test_rows(forest_splits(rf_binary.estimators_), Xb)
    for method, ext in (("zlib", ".joblib.z"), ("gzip", ".joblib.gz"), ("bz2", ".joblib.bz2"),
                        ("lzma", ".joblib.lzma"), ("xz", ".joblib.xz"), ("lz4", ".joblib.lz4")):
        path = os.path.join(OUT, f"rf_clf_binary_{method}{ext}")
        joblib.dump(rf_binary, path, compress=(method, 3))
        write_expected(f"rf_clf_binary_{method}", os.path.basename(path), expected_for(rf_binary, rows))
    gbm = GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0).fit(Xs, ys)
    for p in (2, 3, 4, 5):
        save(f"rf_clf_binary_joblib_p{p}", rf_binary, rows, protocol=p)
        save(f"gb_clf_strings_pickle_p{p}", gbm, test_rows([], Xs), protocol=p, how="pickle")
    small = DecisionTreeClassifier(max_depth=3, random_state=0).fit(Xs, ys)
    for p in (0, 1):
        save(f"dt_clf_strings_pickle_p{p}", small, test_rows(tree_splits(small), Xs), protocol=p, how="pickle")
    # joblib's zlib with an object array (a nested pickle inside a compressed stream)
    save("gb_clf_strings_gzip", gbm, test_rows([], Xs), compress=("gzip", 3), ext=".joblib.gz")

    # newer releases' layouts (module docstring)
    for version in ("1.3.2", "1.5.2"):
        m = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0, n_jobs=1).fit(Xm, ym)
        tag = version.replace(".", "_")
        save_as_version(f"rf_clf_multiclass_v{tag}", m, test_rows(forest_splits(m.estimators_), Xm), version, True)
        m = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0, n_jobs=1).fit(Xr, yr)
        save_as_version(f"rf_reg_v{tag}", m, test_rows(forest_splits(m.estimators_), Xr), version, False)
        m = GradientBoostingClassifier(n_estimators=6, max_depth=3, random_state=0).fit(Xs, np.where(ys == "setosa", "setosa", "other"))
        save_as_version(f"gb_clf_binary_strings_v{tag}", m, test_rows(forest_splits(m.estimators_[:, 0]), Xs), version, True)
        m = GradientBoostingRegressor(loss="quantile", alpha=0.7, n_estimators=6, max_depth=3, random_state=0).fit(Xr, yr)
        save_as_version(f"gb_reg_quantile_v{tag}", m, test_rows(forest_splits(m.estimators_[:, 0]), Xr), version, False)

    hostile()
    skops_fixtures()


# ---------------------------------------------------------------------------------------------
# skops (a zip of schema.json and .npy files). Debian has no skops: point SKOPS_SRC at a checkout of
# github.com/skops-dev/skops (its Python sources run on Debian's numpy and scikit-learn) to write
# these; without it they are left as they are.

SKOPS_MODELS = ["rf_clf_strings", "gb_clf_strings", "hgb_clf_categorical", "iforest", "pipeline_impute_mean_standard_rf",
                "rf_clf_pandas", "hgb_reg_poisson", "gb_reg_huber"]


def skops_fixtures():
    src = os.environ.get("SKOPS_SRC")
    if not src:
        print("SKOPS_SRC not set: skops fixtures not rewritten", file=sys.stderr)
        return
    sys.path.insert(0, src)
    import skops
    import skops.io as sio

    for name in SKOPS_MODELS:
        with open(os.path.join(OUT, name + ".expected.json")) as f:
            expected = json.load(f)
        model = joblib.load(os.path.join(OUT, expected["model"]))  # our own file, just written
        sio.dump(model, os.path.join(OUT, name + "_skops.skops"))
        expected["model"] = name + "_skops.skops"
        expected["notes"] = f"skops {skops.__version__} dump of {name}"
        with open(os.path.join(OUT, name + "_skops.expected.json"), "w") as f:
            json.dump(expected, f, separators=(",", ":"), allow_nan=False)
            f.write("\n")
    # hostile skops files, written with zipfile (never loaded)
    def archive(path, schema, extra=()):
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("schema.json", json.dumps(schema))
            for entry, data in extra:
                z.writestr(entry, data)
    node = {"__class__": "system", "__module__": "os", "__loader__": "ObjectNode",
            "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {}},
            "protocol": 2, "_skops_version": "0.11"}
    archive(os.path.join(HOSTILE, "skops_os_system.skops"), node)
    archive(os.path.join(HOSTILE, "skops_function_node.skops"),
            {"__class__": "system", "__module__": "os", "__loader__": "FunctionNode", "content": {}, "protocol": 2})
    buf = io.BytesIO()
    np.save(buf, np.zeros(10 * 2 ** 20))  # 80 MiB of zeros, ~80 KB deflated
    archive(os.path.join(HOSTILE, "skops_bomb.skops"),
            {"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "numpy",
             "file": "zeros.npy", "protocol": 2}, [("zeros.npy", buf.getvalue())])


if __name__ == "__main__":
    sys.exit(main())
