#!/usr/bin/python3
"""Train scikit-learn tree ensembles and write them as ONNX-ML files laid out as skl2onnx does.

Run with Debian's system python3 (python3-sklearn, python3-onnx, python3-xgboost), then record
onnxruntime-node's outputs on the same files:

    npm run fixtures:onnx                                       # both steps below
    /usr/bin/python3 scripts/make_onnx_fixtures.py              # test fixtures (test/fixtures/onnx)
    /usr/bin/python3 scripts/make_onnx_fixtures.py --bench-only # the bench's ONNX models (not committed)
    npm run build && node dist/scripts/record-onnx-truth.js     # onnxruntime-node's outputs → *.expected.json

Debian has no skl2onnx, so the tree → attribute translation below follows skl2onnx's own
(skl2onnx/common/tree_ensemble.py and operator_converters/{decision_tree,random_forest,
gradient_boosting}.py): BRANCH_LEQ nodes whose float32 thresholds are moved so that
(float)x <= t' decides as scikit-learn's (float)x <= double t does (`sklearn_threshold`); leaf
class counts normalised and scaled by 1/n_estimators for forests; binary classifiers keep only
the positive class's weight (class id 0); gradient boosting leaves scaled by the learning rate
with the initial raw prediction as base_values; HistGradientBoosting's missing_go_to_left as
missing_value_tracks_true. Outputs: `label` and `probabilities` (ZipMap off) or `output_label`
and `output_probability` (ZipMap on); regressors `variable`.

Beside each model, `<name>.expected.json` holds the test rows (null = missing), and
scikit-learn's predict / predict_proba (float64 input, as a user calls them). The recording script
adds onnxruntime-node's outputs, the ground truth forestd must equal bit for bit.
"""
import argparse
import gzip
import json
import os
import tempfile
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures", "onnx")
BENCH_DIR = os.path.join(ROOT, "test", "fixtures", "bench")
XGB_FIXTURES = os.path.join(ROOT, "test", "fixtures", "models")
TRUTH_TWINS = os.path.join(tempfile.gettempdir(), "forestd-onnx-truth")


# ---- skl2onnx's threshold adjustment (common/tree_ensemble.py) ----

def sklearn_threshold_f32(dy):
    """The float32 w with (float)x <= dy <=> (float)x <= w (skl2onnx's sklearn_threshold, float32)."""
    fy = np.float32(dy)
    if fy == dy or fy < dy:
        return np.float32(fy)
    eps = max(abs(fy), np.finfo(np.float32).eps) * 10
    return np.nextafter(np.array([fy], dtype=np.float32), np.array([fy - eps], dtype=np.float32))[0]


class Attrs:
    def __init__(self, classifier):
        self.classifier = classifier
        self.a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes",
                                  "nodes_values", "nodes_truenodeids", "nodes_falsenodeids",
                                  "nodes_missing_value_tracks_true", "nodes_hitrates")}
        p = "class" if classifier else "target"
        self.p = p
        for k in ("treeids", "nodeids", "ids", "weights"):
            self.a[f"{p}_{k}"] = []

    def node(self, tree_id, node_id, feature, mode, value, true_id, false_id, missing=0):
        a = self.a
        a["nodes_treeids"].append(tree_id)
        a["nodes_nodeids"].append(node_id)
        a["nodes_featureids"].append(int(feature))
        a["nodes_modes"].append(mode)
        a["nodes_values"].append(float(value))
        a["nodes_truenodeids"].append(int(true_id))
        a["nodes_falsenodeids"].append(int(false_id))
        a["nodes_missing_value_tracks_true"].append(int(missing))
        a["nodes_hitrates"].append(1.0)

    def leaf(self, tree_id, node_id, weights, bias=0):
        p = self.p
        for i, w in enumerate(weights):
            self.a[f"{p}_treeids"].append(tree_id)
            self.a[f"{p}_nodeids"].append(node_id)
            self.a[f"{p}_ids"].append(i + bias)
            self.a[f"{p}_weights"].append(float(np.float32(w)))


def add_sklearn_tree(attrs, tree, tree_id, tree_weight, bias, counts, adjust=True):
    """skl2onnx's add_tree_to_attribute_pairs for a sklearn.tree._tree.Tree."""
    for i in range(tree.node_count):
        if tree.children_left[i] > i or tree.children_right[i] > i:
            t = sklearn_threshold_f32(tree.threshold[i]) if adjust else np.float32(tree.threshold[i])
            attrs.node(tree_id, i, tree.feature[i], "BRANCH_LEQ", t, tree.children_left[i], tree.children_right[i])
        else:
            attrs.node(tree_id, i, 0, "LEAF", 0.0, 0, 0)
            w = tree.value[i].flatten()
            factor = tree_weight
            if counts:
                s = float(sum(w))
                factor /= s if s != 0.0 else 1.0
            w = [x * factor for x in w]
            if len(w) == 2 and attrs.classifier:
                w = [w[1]]
            attrs.leaf(tree_id, i, w, bias)


def add_hgb_tree(attrs, predictor, tree_id, bias):
    """skl2onnx's add_tree_to_attribute_pairs_hist_gradient_boosting (float32 input: adjusted)."""
    for i, node in enumerate(predictor.nodes):
        if node["is_leaf"]:
            attrs.node(tree_id, i, 0, "LEAF", 0.0, 0, 0)
            attrs.leaf(tree_id, i, [node["value"]], bias)
        else:
            t = sklearn_threshold_f32(node["num_threshold"])
            attrs.node(tree_id, i, node["feature_idx"], "BRANCH_LEQ", t, node["left"], node["right"],
                       int(node["missing_go_to_left"]))


# ---- ONNX graphs as skl2onnx builds them ----

def make_model(op, attrs, n_features, input_name, ml_opset, zipmap, labels=None):
    inp = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [None, n_features])
    nodes = []
    outputs = []
    if op == "TreeEnsembleRegressor":
        n_targets = attrs["n_targets"]
        nodes.append(helper.make_node(op, [input_name], ["variable"], domain="ai.onnx.ml",
                                      name="TreeEnsembleRegressor", **attrs))
        outputs.append(helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, n_targets]))
    else:
        strings = "classlabels_strings" in attrs
        label_type = TensorProto.STRING if strings else TensorProto.INT64
        n_classes = len(labels)
        if zipmap:
            nodes.append(helper.make_node(op, [input_name], ["label", "probabilities"], domain="ai.onnx.ml",
                                          name="TreeEnsembleClassifier", **attrs))
            if strings:
                nodes.append(helper.make_node("Identity", ["label"], ["output_label"], name="Identity"))
            else:
                nodes.append(helper.make_node("Cast", ["label"], ["output_label"], name="Cast", to=TensorProto.INT64))
            zm = {"classlabels_strings": labels} if strings else {"classlabels_int64s": labels}
            nodes.append(helper.make_node("ZipMap", ["probabilities"], ["output_probability"],
                                          domain="ai.onnx.ml", name="ZipMap", **zm))
            outputs.append(helper.make_tensor_value_info("output_label", label_type, [None]))
            key = TensorProto.STRING if strings else TensorProto.INT64
            seq_of_maps = onnx.ValueInfoProto(name="output_probability")
            seq_of_maps.type.sequence_type.elem_type.map_type.key_type = key
            seq_of_maps.type.sequence_type.elem_type.map_type.value_type.tensor_type.elem_type = TensorProto.FLOAT
            outputs.append(seq_of_maps)
        else:
            nodes.append(helper.make_node(op, [input_name], ["label", "probabilities"], domain="ai.onnx.ml",
                                          name="TreeEnsembleClassifier", **attrs))
            outputs.append(helper.make_tensor_value_info("label", label_type, [None]))
            outputs.append(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, n_classes]))
    graph = helper.make_graph(nodes, "forestd_fixture", [inp], outputs)
    model = helper.make_model(graph, producer_name="skl2onnx", producer_version="1.16.0",
                              opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", ml_opset)])
    model.ir_version = 8
    return model


def classifier_attrs(est):
    """Empty classifier attributes and the estimator's labels (ints, or strings), as skl2onnx sets them."""
    attrs = Attrs(True)
    classes = est.classes_
    if all(isinstance(c, str) for c in classes):
        labels = [str(c) for c in classes]
        extra = {"classlabels_strings": labels}
    else:
        labels = [int(c) for c in classes]
        extra = {"classlabels_int64s": labels}
    return attrs, labels, extra


def finish(attrs, extra, post_transform, base_values=None):
    out = dict(attrs.a)
    out.update(extra)
    out["post_transform"] = post_transform
    if base_values is not None:
        out["base_values"] = [float(np.float32(v)) for v in base_values]
    return out


def convert_forest_classifier(est):
    attrs, labels, extra = classifier_attrs(est)
    trees = est.estimators_ if hasattr(est, "estimators_") else [est]
    weight = 1.0 / len(trees) if hasattr(est, "estimators_") else 1.0
    for t, tree in enumerate(trees):
        add_sklearn_tree(attrs, tree.tree_, t, weight, 0, True)
    return "TreeEnsembleClassifier", finish(attrs, extra, "NONE"), labels


def convert_forest_regressor(est):
    attrs = Attrs(False)
    trees = est.estimators_ if hasattr(est, "estimators_") else [est]
    weight = 1.0 / len(trees) if hasattr(est, "estimators_") else 1.0
    for t, tree in enumerate(trees):
        add_sklearn_tree(attrs, tree.tree_, t, weight, 0, False)
    out = dict(attrs.a)
    out["n_targets"] = int(est.n_outputs_)
    out["post_transform"] = "NONE"
    return "TreeEnsembleRegressor", out, None


def convert_gb_classifier(est):
    attrs, labels, extra = classifier_attrs(est)
    base = est._raw_predict_init(np.zeros((1, est.n_features_in_))).ravel()
    if est.n_classes_ == 2:
        for t in range(est.n_estimators_):
            add_sklearn_tree(attrs, est.estimators_[t][0].tree_, t, est.learning_rate, 0, False)
    else:
        for i in range(est.n_estimators_):
            for c in range(est.n_classes_):
                add_sklearn_tree(attrs, est.estimators_[i][c].tree_, i * est.n_classes_ + c, est.learning_rate, c, False)
    post = "LOGISTIC" if est.n_classes_ == 2 else "SOFTMAX"
    return "TreeEnsembleClassifier", finish(attrs, extra, post, base), labels


def convert_gb_regressor(est):
    attrs = Attrs(False)
    for t in range(est.n_estimators_):
        add_sklearn_tree(attrs, est.estimators_[t][0].tree_, t, est.learning_rate, 0, False)
    out = dict(attrs.a)
    out["n_targets"] = 1
    out["post_transform"] = "NONE"
    out["base_values"] = [float(np.float32(est.init_.constant_.ravel()[0]))]
    return "TreeEnsembleRegressor", out, None


def convert_hgb_classifier(est):
    attrs, labels, extra = classifier_attrs(est)
    k = est.n_trees_per_iteration_
    for i, preds in enumerate(est._predictors):
        if len(preds) == 1:
            add_hgb_tree(attrs, preds[0], i, 0)
        else:
            for c, p in enumerate(preds):
                add_hgb_tree(attrs, p, i * k + c, c)
    post = "LOGISTIC" if k == 1 else "SOFTMAX"
    base = np.asarray(est._baseline_prediction).ravel()
    return "TreeEnsembleClassifier", finish(attrs, extra, post, base), labels


def convert_hgb_regressor(est):
    attrs = Attrs(False)
    for i, preds in enumerate(est._predictors):
        add_hgb_tree(attrs, preds[0], i, 0)
    out = dict(attrs.a)
    out["n_targets"] = 1
    out["post_transform"] = "NONE"
    out["base_values"] = [float(np.float32(np.asarray(est._baseline_prediction).ravel()[0]))]
    return "TreeEnsembleRegressor", out, None


def convert_xgboost(model_json_path):
    """onnxmltools' XGBoost converter layout: BRANCH_LT, default_left as missing_value_tracks_true."""
    opener = gzip.open if model_json_path.endswith(".gz") else open
    with opener(model_json_path, "rt") as fh:
        m = json.load(fh)
    learner = m["learner"]
    objective = learner["objective"]["name"]
    base_score = float(learner["learner_model_param"]["base_score"])
    n_class = int(learner["learner_model_param"]["num_class"])
    trees = learner["gradient_booster"]["model"]["trees"]
    info = learner["gradient_booster"]["model"]["tree_info"]
    classifier = objective in ("binary:logistic", "multi:softprob")
    attrs = Attrs(classifier)
    for t, tree in enumerate(trees):
        for i, left in enumerate(tree["left_children"]):
            if left == -1:
                attrs.node(t, i, 0, "LEAF", 0.0, 0, 0)
                attrs.leaf(t, i, [tree["split_conditions"][i]],
                           info[t] if n_class > 1 else 0)
            else:
                attrs.node(t, i, tree["split_indices"][i], "BRANCH_LT", np.float32(tree["split_conditions"][i]),
                           left, tree["right_children"][i], int(tree["default_left"][i]))
    out = dict(attrs.a)
    if objective == "binary:logistic":
        out["classlabels_int64s"] = [0, 1]
        out["post_transform"] = "LOGISTIC"
        out["base_values"] = [float(np.float32(-np.log(1.0 / base_score - 1.0)))]
        return "TreeEnsembleClassifier", out, [0, 1]
    if objective == "multi:softprob":
        out["classlabels_int64s"] = list(range(n_class))
        out["post_transform"] = "SOFTMAX"
        out["base_values"] = [float(np.float32(base_score))] * n_class
        return "TreeEnsembleClassifier", out, list(range(n_class))
    out["n_targets"] = 1
    out["post_transform"] = "NONE"
    out["base_values"] = [float(np.float32(base_score))]
    return "TreeEnsembleRegressor", out, None


# ---- data ----

def dataset(seed, n, f, classes=None, missing=0.0):
    rng = np.random.RandomState(seed)
    X = rng.normal(0, 1, size=(n, f)) * rng.uniform(0.5, 20, size=f) + rng.uniform(-10, 10, size=f)
    w = rng.normal(size=f)
    z = (X - X.mean(0)) / X.std(0) @ w + rng.normal(0, 0.5, size=n)
    if classes is None:
        y = z * 3.0 + 10.0
    else:
        qs = np.quantile(z, np.linspace(0, 1, len(classes) + 1)[1:-1])
        y = np.array(classes, dtype=object)[np.searchsorted(qs, z)]
        if all(isinstance(c, (int, np.integer)) for c in classes):
            y = y.astype(np.int64)
    if missing:
        X[rng.rand(n, f) < missing] = np.nan
    return X, y


def threshold_rows(onnx_attrs, X, rng, limit=30):
    """Rows with a feature exactly on a split threshold, and one float32 step either side."""
    feats = onnx_attrs["nodes_featureids"]
    vals = onnx_attrs["nodes_values"]
    modes = onnx_attrs["nodes_modes"]
    splits = [(feats[i], np.float32(vals[i])) for i in range(len(modes)) if modes[i] != "LEAF"]
    rng.shuffle(splits)
    out = []
    for k, (f, t) in enumerate(splits[:limit]):
        for v in (t, np.nextafter(t, np.float32(-np.inf)), np.nextafter(t, np.float32(np.inf))):
            row = X[k % len(X)].copy()
            row[f] = float(v)
            out.append(row)
    return np.array(out)


def rows_json(X):
    return [[None if np.isnan(v) else float(v) for v in row] for row in X]


def write(name, est, convert, X_test, *, input_name="input", ml_opset=3, zipmap=False, notes="", n_features=None):
    op, attrs, labels = convert(est)
    n_features = n_features or X_test.shape[1]
    model = make_model(op, attrs, n_features, input_name, ml_opset, zipmap, labels)
    onnx.checker.check_model(model)
    os.makedirs(FIXTURES, exist_ok=True)
    path = os.path.join(FIXTURES, name + ".onnx")
    onnx.save(model, path)
    if zipmap:
        # onnxruntime-node cannot hand a ZipMap's sequence of maps to JavaScript: the recorder reads
        # the probabilities from this twin, the same ensemble with its probability tensor as output.
        os.makedirs(TRUTH_TWINS, exist_ok=True)
        onnx.save(make_model(op, attrs, n_features, input_name, ml_opset, False, labels),
                  os.path.join(TRUTH_TWINS, name + ".onnx"))
    rng = np.random.RandomState(zlib.crc32(name.encode()))
    X_all = np.vstack([X_test, threshold_rows(attrs, X_test, rng)])
    expected = {"model": name, "notes": notes, "rows": rows_json(X_all)}
    if est is not None and hasattr(est, "predict"):
        # scikit-learn's own answers on float32-rounded rows (what forestd and ONNX see).
        X32 = X_all.astype(np.float32).astype(np.float64)
        pred = est.predict(X32)
        expected["sklearn_predict"] = [p if isinstance(p, str) else float(p) for p in np.ravel(pred)] \
            if np.ndim(pred) == 1 else [[float(v) for v in r] for r in pred]
        if hasattr(est, "predict_proba"):
            expected["sklearn_proba"] = [[float(v) for v in r] for r in est.predict_proba(X32)]
    with open(os.path.join(FIXTURES, name + ".expected.json"), "w") as fh:
        json.dump(expected, fh, separators=(",", ":"))
    return path


class XGBoostSource:
    """Stands in for an estimator: converts an XGBoost fixture (no scikit-learn answers)."""

    def __init__(self, name):
        self.path = os.path.join(XGB_FIXTURES, name + ".json")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", action="store_true", help="also the ONNX bench models")
    parser.add_argument("--bench-only", action="store_true", help="only the ONNX bench models")
    args = parser.parse_args()
    if args.bench_only:
        return bench_models()

    X, y = dataset(1, 400, 6, classes=[0, 1])
    dt = DecisionTreeClassifier(max_depth=6, random_state=0).fit(X, y)
    write("dt_binary_zipmap", dt, convert_forest_classifier, X[:40], ml_opset=1, zipmap=True,
          notes="DecisionTreeClassifier, int labels 0/1, ZipMap, ai.onnx.ml opset 1")

    X, y = dataset(2, 400, 5, classes=["bird", "cat", "dog"])
    rf = RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0).fit(X, y)
    write("rf_multiclass_strings", rf, convert_forest_classifier, X[:40], input_name="float_input",
          notes="RandomForestClassifier, three string labels, ZipMap off, input named float_input")

    X, y = dataset(3, 400, 4, classes=["no", "yes"])
    et = ExtraTreesClassifier(n_estimators=6, max_depth=5, random_state=0).fit(X, y)
    write("et_binary_strings_zipmap", et, convert_forest_classifier, X[:40], zipmap=True,
          notes="ExtraTreesClassifier, binary string labels, ZipMap")

    X, y = dataset(4, 400, 6, classes=[0, 1])
    gb = GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0).fit(X, y)
    write("gb_binary", gb, convert_gb_classifier, X[:40],
          notes="GradientBoostingClassifier, binary: one score column, LOGISTIC, base_values")

    X, y = dataset(5, 400, 5, classes=[3, 5, 7])
    gb3 = GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0).fit(X, y)
    write("gb_multiclass_ints", gb3, convert_gb_classifier, X[:40], zipmap=True,
          notes="GradientBoostingClassifier, labels 3/5/7, SOFTMAX, ZipMap")

    X, y = dataset(6, 500, 5, classes=[0, 1], missing=0.15)
    hgb = HistGradientBoostingClassifier(max_iter=15, max_depth=4, random_state=0).fit(X, y)
    write("hgb_binary_nan", hgb, convert_hgb_classifier, X[:50],
          notes="HistGradientBoostingClassifier with NaNs: missing_value_tracks_true")

    X, y = dataset(7, 500, 5, classes=[0, 1, 2], missing=0.15)
    hgb3 = HistGradientBoostingClassifier(max_iter=6, max_depth=3, random_state=0).fit(X, y)
    write("hgb_multiclass_nan", hgb3, convert_hgb_classifier, X[:50],
          notes="HistGradientBoostingClassifier, 3 classes, NaNs")

    X, y = dataset(8, 500, 5, missing=0.15)
    hgbr = HistGradientBoostingRegressor(max_iter=15, max_depth=4, random_state=0).fit(X, y)
    write("hgb_regressor_nan", hgbr, convert_hgb_regressor, X[:50], notes="HistGradientBoostingRegressor with NaNs")

    X, y = dataset(9, 400, 6)
    rfr = RandomForestRegressor(n_estimators=8, max_depth=6, random_state=0).fit(X, y)
    write("rf_regressor", rfr, convert_forest_regressor, X[:40], ml_opset=1, notes="RandomForestRegressor")

    X, y = dataset(10, 400, 6)
    gbr = GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    write("gb_regressor", gbr, convert_gb_regressor, X[:40], notes="GradientBoostingRegressor, base_values")

    X, y = dataset(11, 400, 4)
    Y = np.stack([y, -2 * y + 1], axis=1)
    dtr = DecisionTreeRegressor(max_depth=5, random_state=0).fit(X, Y)
    write("dt_regressor_2targets", dtr, convert_forest_regressor, X[:40], notes="DecisionTreeRegressor, n_targets=2")

    for name in ("binary_logistic", "multi_softprob", "reg_squarederror"):
        src = os.path.join(XGB_FIXTURES, name + ".json")
        if not os.path.exists(src):
            continue
        exp = json.load(open(os.path.join(XGB_FIXTURES, name + ".expected.json")))
        X_src = np.array([[np.nan if v is None else v for v in r] for r in exp["rows"]], dtype=np.float64)[:60]
        nf = int(json.load(open(src))["learner"]["learner_model_param"]["num_feature"])
        write("xgb_" + name, XGBoostSource(name), lambda s: convert_xgboost(s.path), X_src, n_features=nf,
              notes=f"XGBoost fixture {name} in onnxmltools' layout (BRANCH_LT, default_left as missing_value_tracks_true)")

    if args.bench:
        bench_models()


def bench_models():
    """A 500-tree RandomForest (depth 8, 20 features) and the bench's 1000-tree XGBoost model, as ONNX."""
    # Standard-normal features, as the bench's rows (scripts/bench-model.ts makeRows).
    rng = np.random.RandomState(12)
    X = rng.normal(size=(20000, 20))
    y = (X @ rng.normal(size=20) + rng.normal(0, 0.5, size=20000) > 0).astype(np.int64)
    rf500 = RandomForestClassifier(n_estimators=500, max_depth=8, random_state=0, n_jobs=1).fit(X, y)
    op, attrs, labels = convert_forest_classifier(rf500)
    os.makedirs(BENCH_DIR, exist_ok=True)
    onnx.save(make_model(op, attrs, 20, "input", 3, False, labels), os.path.join(BENCH_DIR, "rf500.onnx"))
    # The bench's 1000-tree XGBoost model, in onnxmltools' layout.
    src = os.path.join(BENCH_DIR, "large.json.gz")
    op, attrs, labels = convert_xgboost(src)
    with gzip.open(src, "rt") as fh:
        nf = int(json.load(fh)["learner"]["learner_model_param"]["num_feature"])
    onnx.save(make_model(op, attrs, nf, "input", 3, False, labels), os.path.join(BENCH_DIR, "large.onnx"))


if __name__ == "__main__":
    main()
