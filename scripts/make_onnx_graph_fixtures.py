#!/usr/bin/python3
"""ONNX graphs beyond one float tree ensemble, written as the real converters write them.

    /usr/bin/python3 scripts/make_onnx_graph_fixtures.py               # test/fixtures/onnx/graphs
    /usr/bin/python3 scripts/make_onnx_graph_fixtures.py --bench-only  # test/fixtures/bench/lgbm500.onnx
    npm run build && node dist/scripts/record-onnx-truth.js            # onnxruntime-node's outputs

Debian has neither skl2onnx nor onnxmltools, so this script follows their source and writes the
same nodes with onnx.helper:

- LightGBM (onnxmltools convert/lightgbm/operator_converters/LightGbm.py, convert_lightgbm):
  dump_model() JSON; a categorical split "a||b||c" unfolded into a chain of BRANCH_EQ nodes whose
  true branches all point at the one shared left child (modify_tree_for_rule_in_set, use_float);
  node ids handed out two children at a time, a shared child keeping its first id; thresholds as
  float attributes; missing_value_tracks_true from default_left (except missing type None with a
  negative threshold); class id = tree % classes; LOGISTIC / SOFTMAX / NONE; the label through
  Identity and Cast(int64), probabilities through ZipMap or, with zipmap=False, Mul by 1.
- scikit-learn (skl2onnx operator_converters/): StandardScaler -> Scaler (float inputs) or Sub + Div
  (double inputs), SimpleImputer -> Imputer, Normalizer, Binarizer, OneHotEncoder on strings
  (Gather per column when the input has several, then OneHotEncoder, Concat, Reshape), OrdinalEncoder
  -> LabelEncoder per column + Reshape + Concat + Cast, ColumnTransformer -> ArrayFeatureExtractor
  per column block and Concat, several inputs into one transformer -> Concat, a Scaler fed by several
  inputs -> FeatureVectorizer (concatenate_variables); double inputs: trees with *_as_tensor double
  attributes and thresholds moved as skl2onnx's sklearn_threshold does for float64.
- ai.onnx.ml opset 5 TreeEnsemble with BRANCH_MEMBER sets and double splits (the spec's layout:
  membership_values separated by NaN, leaves by nodes_trueleafs / nodes_falseleafs).
- Aggregates MIN / MAX, and Normalizer / Softmax nodes after an ensemble.

Each fixture is `<name>.onnx` + `<name>.expected.json`: the graph's inputs (name, type, width), the
test rows (single numeric input: arrays, null = NaN; otherwise objects by input name, a scalar for
a width-1 input, an array for wider ones, strings for string inputs), rows onnxruntime refuses
(`error_rows`), and, after record-onnx-truth.ts, onnxruntime-node's outputs ("onnxruntime").
Rows hit every category, unseen and non-integer categories, NaN, unseen strings, and values exactly
at split thresholds (mapped back through scalers where a column feeds one) and one float step
either side.
"""
import argparse
import json
import os
import sys
import tempfile
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_onnx_fixtures as base  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures", "onnx", "graphs")
BENCH_DIR = os.path.join(ROOT, "test", "fixtures", "bench")
TWINS = os.path.join(tempfile.gettempdir(), "forestd-onnx-truth", "graphs")
LIGHTGBM = "/work/tools/lightgbm/src/python-package"

F32 = np.float32
ELEM = {"float": TensorProto.FLOAT, "double": TensorProto.DOUBLE, "string": TensorProto.STRING,
        "int64": TensorProto.INT64}


# ---------------------------------------------------------------------------------------------
# A graph, built node by node as the converters' containers do.

class Graph:
    def __init__(self, name):
        self.name = name
        self.nodes = []
        self.inits = []
        self.inputs = []  # (name, type, width)
        self.outputs = []
        self.count = 0

    def unique(self, stem):
        self.count += 1
        return f"{stem}{self.count}"

    def input(self, name, type_, width):
        self.inputs.append((name, type_, width))
        return name

    def const(self, stem, array, elem):
        name = self.unique(stem)
        array = np.asarray(array)
        self.inits.append(helper.make_tensor(name, elem, list(array.shape), array.ravel().tolist()))
        return name

    def node(self, op, inputs, outputs=None, domain="", **attrs):
        outputs = outputs or [self.unique(op.lower() + "_out")]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=self.unique(op), domain=domain, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def output(self, name, elem=TensorProto.FLOAT, width=None, zipmap_key=None):
        if zipmap_key is not None:
            v = onnx.ValueInfoProto(name=name)
            v.type.sequence_type.elem_type.map_type.key_type = zipmap_key
            v.type.sequence_type.elem_type.map_type.value_type.tensor_type.elem_type = TensorProto.FLOAT
            self.outputs.append(v)
        else:
            self.outputs.append(helper.make_tensor_value_info(name, elem, [None] if width is None else [None, width]))

    def model(self, ml_opset=3, opset=15, producer=("skl2onnx", "1.17.0")):
        inputs = [helper.make_tensor_value_info(n, ELEM[t], [None, w]) for n, t, w in self.inputs]
        graph = helper.make_graph(self.nodes, self.name, inputs, self.outputs, initializer=self.inits)
        m = helper.make_model(graph, producer_name=producer[0], producer_version=producer[1],
                              opset_imports=[helper.make_opsetid("", opset),
                                             helper.make_opsetid("ai.onnx.ml", ml_opset)])
        m.ir_version = 8
        return m


def zipmap_twin(model):
    """The same graph with every ZipMap removed and its input tensor as the graph output: what
    onnxruntime-node can hand to JavaScript (ZipMap only repackages that tensor)."""
    twin = onnx.ModelProto()
    twin.CopyFrom(model)
    g = twin.graph
    keep = []
    renamed = {}
    for n in g.node:
        if n.op_type == "ZipMap":
            renamed[n.output[0]] = n.input[0]
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    for o in g.output:
        if o.name in renamed:
            # The ZipMap's output name, now carrying its input tensor.
            g.node.append(helper.make_node("Identity", [renamed[o.name]], [o.name]))
            o.CopyFrom(helper.make_tensor_value_info(o.name, TensorProto.FLOAT, [None, None]))
    return twin


# ---------------------------------------------------------------------------------------------
# Tree-ensemble attributes.

class Ensemble:
    """nodes_* / class_* or target_* attributes, in float32 (opset 1/3) or double (*_as_tensor)."""

    def __init__(self, classifier, double=False):
        self.classifier = classifier
        self.double = double
        self.p = "class" if classifier else "target"
        self.a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes",
                                  "nodes_values", "nodes_truenodeids", "nodes_falsenodeids",
                                  "nodes_missing_value_tracks_true", "nodes_hitrates")}
        for k in ("treeids", "nodeids", "ids", "weights"):
            self.a[f"{self.p}_{k}"] = []
        self.extra = {}

    def split(self, tree, node, feature, mode, value, true_id, false_id, missing=0):
        a = self.a
        a["nodes_treeids"].append(int(tree))
        a["nodes_nodeids"].append(int(node))
        a["nodes_featureids"].append(int(feature))
        a["nodes_modes"].append(mode)
        a["nodes_values"].append(float(value))
        a["nodes_truenodeids"].append(int(true_id))
        a["nodes_falsenodeids"].append(int(false_id))
        a["nodes_missing_value_tracks_true"].append(int(missing))
        a["nodes_hitrates"].append(1.0)

    def leaf(self, tree, node, weights, bias=0):
        self.split(tree, node, 0, "LEAF", 0.0, 0, 0)
        for i, w in enumerate(weights):
            self.a[f"{self.p}_treeids"].append(int(tree))
            self.a[f"{self.p}_nodeids"].append(int(node))
            self.a[f"{self.p}_ids"].append(int(i + bias))
            self.a[f"{self.p}_weights"].append(float(w))

    def attributes(self):
        out = {}
        for k, v in self.a.items():
            if self.double and k in ("nodes_values", "nodes_hitrates", f"{self.p}_weights"):
                out[k + "_as_tensor"] = helper.make_tensor(k + "_as_tensor", TensorProto.DOUBLE, [len(v)], v)
            elif k in ("nodes_values", "nodes_hitrates", f"{self.p}_weights"):
                out[k] = [float(F32(x)) for x in v]
            else:
                out[k] = v
        for k, v in self.extra.items():
            if k == "base_values" and self.double:
                out["base_values_as_tensor"] = helper.make_tensor("base_values_as_tensor", TensorProto.DOUBLE,
                                                                  [len(v)], [float(x) for x in v])
            elif k == "base_values":
                out[k] = [float(F32(x)) for x in v]
            else:
                out[k] = v
        return out

    def splits(self):
        """(feature, threshold, mode) of every split, thresholds as the model holds them."""
        a = self.a
        cast = float if self.double else (lambda v: float(F32(v)))
        return [(a["nodes_featureids"][i], cast(a["nodes_values"][i]), a["nodes_modes"][i])
                for i in range(len(a["nodes_modes"])) if a["nodes_modes"][i] != "LEAF"]


def sklearn_threshold_f64(dy):
    """skl2onnx's sklearn_threshold for float64 inputs: the double w with (float)x <= dy <=> x <= w
    (scikit-learn trees compare float32 copies of the input)."""

    def switch_point(fy, nfy):
        a, b = np.float64(fy), np.float64(nfy)
        fa = F32(a)
        a0 = b0 = None
        while a != a0 or b != b0:
            a0, b0 = a, b
            m = (a + b) / 2
            if F32(m) == fa:
                a = m
            else:
                b = m
        return a

    fy = F32(dy)
    eps = max(abs(fy), np.finfo(np.float32).eps) * 10
    afy = np.nextafter(np.array([fy], dtype=F32), np.array([fy - eps], dtype=F32))[0]
    afy2 = switch_point(afy, fy)
    if fy > dy > afy2:
        return afy2
    bfy = np.nextafter(np.array([fy], dtype=F32), np.array([fy + eps], dtype=F32))[0]
    bfy2 = switch_point(fy, bfy)
    if fy <= dy <= bfy2:
        return bfy2
    return np.float64(fy)


def add_sklearn_tree(ens, tree, tree_id, weight, bias, counts):
    """skl2onnx's add_tree_to_attribute_pairs (thresholds adjusted for the input type)."""
    for i in range(tree.node_count):
        if tree.children_left[i] > i or tree.children_right[i] > i:
            t = sklearn_threshold_f64(tree.threshold[i]) if ens.double else base.sklearn_threshold_f32(tree.threshold[i])
            ens.split(tree_id, i, tree.feature[i], "BRANCH_LEQ", t, tree.children_left[i], tree.children_right[i])
        else:
            w = tree.value[i].flatten()
            factor = weight
            if counts:
                s = float(sum(w))
                factor /= s if s != 0.0 else 1.0
            w = [x * factor for x in w]
            if len(w) == 2 and ens.classifier:
                w = [w[1]]
            ens.leaf(tree_id, i, w, bias)


def classifier_labels(est):
    classes = est.classes_
    if all(isinstance(c, str) for c in classes):
        labels = [str(c) for c in classes]
        return labels, {"classlabels_strings": labels}
    labels = [int(c) for c in classes]
    return labels, {"classlabels_int64s": labels}


def sklearn_forest(est, double=False):
    """RandomForest / ExtraTrees / DecisionTree classifier or regressor."""
    classifier = hasattr(est, "classes_")
    ens = Ensemble(classifier, double)
    trees = est.estimators_ if hasattr(est, "estimators_") else [est]
    weight = 1.0 / len(trees) if hasattr(est, "estimators_") else 1.0
    for t, tree in enumerate(trees):
        add_sklearn_tree(ens, tree.tree_, t, weight, 0, classifier)
    ens.extra["post_transform"] = "NONE"
    if classifier:
        labels, extra = classifier_labels(est)
        ens.extra.update(extra)
        return "TreeEnsembleClassifier", ens, labels
    ens.extra["n_targets"] = int(est.n_outputs_)
    return "TreeEnsembleRegressor", ens, None


def sklearn_gb(est, double=False):
    """GradientBoosting classifier (binary / multi-class) or regressor."""
    classifier = hasattr(est, "classes_")
    ens = Ensemble(classifier, double)
    if classifier:
        k = 1 if est.n_classes_ == 2 else est.n_classes_
        for i in range(est.n_estimators_):
            for c in range(k):
                add_sklearn_tree(ens, est.estimators_[i][c].tree_, i * k + c, est.learning_rate, c, False)
        labels, extra = classifier_labels(est)
        ens.extra.update(extra)
        ens.extra["post_transform"] = "LOGISTIC" if k == 1 else "SOFTMAX"
        ens.extra["base_values"] = list(est._raw_predict_init(np.zeros((1, est.n_features_in_))).ravel())
        return "TreeEnsembleClassifier", ens, labels
    for i in range(est.n_estimators_):
        add_sklearn_tree(ens, est.estimators_[i][0].tree_, i, est.learning_rate, 0, False)
    ens.extra.update(n_targets=1, post_transform="NONE", base_values=[float(est.init_.constant_.ravel()[0])])
    return "TreeEnsembleRegressor", ens, None


def sklearn_hgb(est, double=False):
    """HistGradientBoosting (missing_go_to_left as missing_value_tracks_true; float64 thresholds
    kept for double inputs, moved for float32 ones)."""
    classifier = hasattr(est, "classes_")
    ens = Ensemble(classifier, double)
    k = est.n_trees_per_iteration_
    for i, preds in enumerate(est._predictors):
        for c, p in enumerate(preds):
            tree_id = i * k + c
            for n, node in enumerate(p.nodes):
                if node["is_leaf"]:
                    ens.leaf(tree_id, n, [node["value"]], c)
                else:
                    t = node["num_threshold"] if double else base.sklearn_threshold_f32(node["num_threshold"])
                    ens.split(tree_id, n, node["feature_idx"], "BRANCH_LEQ", t, node["left"], node["right"],
                              int(node["missing_go_to_left"]))
    base_values = list(np.asarray(est._baseline_prediction).ravel())
    if classifier:
        labels, extra = classifier_labels(est)
        ens.extra.update(extra)
        ens.extra.update(post_transform="LOGISTIC" if k == 1 else "SOFTMAX", base_values=base_values)
        return "TreeEnsembleClassifier", ens, labels
    ens.extra.update(n_targets=1, post_transform="NONE", base_values=base_values)
    return "TreeEnsembleRegressor", ens, None


def add_ensemble(g, op, ens, features, zipmap, labels):
    """The ensemble node and what skl2onnx puts after it; returns the graph's output names."""
    attrs = ens.attributes()
    if op == "TreeEnsembleRegressor":
        g.node(op, [features], ["variable"], domain="ai.onnx.ml", **attrs)
        g.output("variable", width=attrs["n_targets"])
        return
    strings = "classlabels_strings" in attrs
    key = TensorProto.STRING if strings else TensorProto.INT64
    if zipmap:
        g.node(op, [features], ["label", "probability_tensor"], domain="ai.onnx.ml", **attrs)
        if strings:
            g.node("Identity", ["label"], ["output_label"])
        else:
            g.node("Cast", ["label"], ["output_label"], to=TensorProto.INT64)
        zm = {"classlabels_strings": labels} if strings else {"classlabels_int64s": labels}
        g.node("ZipMap", ["probability_tensor"], ["output_probability"], domain="ai.onnx.ml", **zm)
        g.output("output_label", key)
        g.output("output_probability", zipmap_key=key)
    else:
        g.node(op, [features], ["label", "probabilities"], domain="ai.onnx.ml", **attrs)
        g.output("label", key)
        g.output("probabilities", width=len(labels))


# ---------------------------------------------------------------------------------------------
# LightGBM, as onnxmltools converts it.

def unfold_categorical_sets(node):
    """onnxmltools' modify_tree_for_rule_in_set(use_float=True): a "==" split on "a||b||c" becomes
    a chain: this node tests a, its right child is a copy testing "b||c" with the SAME left child
    object (so the left subtree is shared, not copied), and so on."""
    if "decision_type" not in node:
        return
    th = node["threshold"]
    if node["decision_type"] == "==" and isinstance(th, str) and "||" in th:
        first, rest = th.split("||", 1)
        copy = dict(node)
        copy["threshold"] = rest if "||" in rest else float(rest)
        node["threshold"] = float(first)
        node["right_child"] = copy
    unfold_categorical_sets(node["left_child"])
    unfold_categorical_sets(node["right_child"])


def lightgbm_tree(ens, tree_id, class_id, root):
    """onnxmltools' _parse_tree_structure / _parse_node: ids from a pool, both children of a split
    numbered before either is walked; a child seen before (a shared left child) keeps its id and is
    not walked again. Returns nothing; writes into `ens` in walk order."""
    ids = {}
    counter = [0]

    def new_id(obj):
        ids[id(obj)] = counter[0]
        counter[0] += 1
        return ids[id(obj)]

    def walk(node, node_id):
        if "left_child" not in node:
            ens.leaf(tree_id, node_id, [float(node["leaf_value"])], class_id)
            return
        children = []
        for side in ("left_child", "right_child"):
            child = node[side]
            fresh = id(child) not in ids
            children.append((child, new_id(child) if fresh else ids[id(child)], fresh))
        th = float(node["threshold"])
        mode = {"<=": "BRANCH_LEQ", "==": "BRANCH_EQ"}[node["decision_type"]]
        if node["default_left"]:
            missing = 0 if node["missing_type"] == "None" and th < 0.0 else 1
        else:
            missing = 0
        ens.split(tree_id, node_id, node["split_feature"], mode, th, children[0][1], children[1][1], missing)
        for child, cid, fresh in children:
            if fresh:
                walk(child, cid)

    walk(root, new_id(root))


def sort_nodes_by_tree_and_id(ens):
    """onnxmltools sorts every nodes_* attribute by (tree, node id) after the walk."""
    a = ens.a
    order = sorted(range(len(a["nodes_treeids"])), key=lambda i: (a["nodes_treeids"][i], a["nodes_nodeids"][i]))
    for k in list(a):
        if k.startswith("nodes_"):
            a[k] = [a[k][i] for i in order]


def lightgbm_to_onnx(booster, name, zipmap=True, producer=("onnxmltools", "1.12.0")):
    """convert_lightgbm: returns (model, ensemble, labels or None)."""
    dump = booster.dump_model()
    for tree in dump["tree_info"]:
        unfold_categorical_sets(tree["tree_structure"])
    objective = dump["objective"]
    n_features = dump["max_feature_idx"] + 1
    if objective.startswith("binary"):
        n_classes, post, classifier = 1, "LOGISTIC", True
    elif objective.startswith("multiclass"):
        n_classes, post, classifier = dump["num_class"], "SOFTMAX", True
    elif objective.startswith(("regression", "quantile", "huber", "lambdarank")):
        n_classes, post, classifier = 1, "NONE", False
    else:
        raise ValueError(objective)
    ens = Ensemble(classifier)
    for i, tree in enumerate(dump["tree_info"]):
        lightgbm_tree(ens, i, i % n_classes, tree["tree_structure"])
    sort_nodes_by_tree_and_id(ens)
    ens.extra["post_transform"] = post
    g = Graph(name)
    g.input("input", "float", n_features)
    if classifier:
        labels = [0, 1] if n_classes == 1 else list(range(n_classes))
        ens.extra["classlabels_int64s"] = labels
        g.node("TreeEnsembleClassifier", ["input"], ["label_tensor", "probability_tensor"], domain="ai.onnx.ml",
               **ens.attributes())
        g.node("Identity", ["label_tensor"], ["lgbmlabel"])
        g.node("Identity", ["probability_tensor"], ["lgbmprobabilities"])
        g.node("Cast", ["lgbmlabel"], ["label"], to=TensorProto.INT64)
        if zipmap:
            g.node("ZipMap", ["lgbmprobabilities"], ["probabilities"], domain="ai.onnx.ml", classlabels_int64s=labels)
            g.output("label", TensorProto.INT64)
            g.output("probabilities", zipmap_key=TensorProto.INT64)
        else:
            one = g.const("one", np.array(1.0, dtype=F32), TensorProto.FLOAT)
            g.node("Mul", ["lgbmprobabilities", one], ["probabilities"])
            g.output("label", TensorProto.INT64)
            g.output("probabilities", width=len(labels))
        return g.model(ml_opset=3, producer=producer), ens, labels
    ens.extra["n_targets"] = 1
    g.node("TreeEnsembleRegressor", ["input"], ["output"], domain="ai.onnx.ml", **ens.attributes())
    g.node("Identity", ["output"], ["variable"])
    g.output("variable", width=1)
    return g.model(ml_opset=3, producer=producer), ens, None


# ---------------------------------------------------------------------------------------------
# Rows.

def steps_around(t, dtype, k=1):
    """t and the values k float steps either side, in `dtype`."""
    t = dtype(t)
    out = [t]
    lo = hi = t
    for _ in range(k):
        lo = np.nextafter(lo, dtype(-np.inf))
        hi = np.nextafter(hi, dtype(np.inf))
        out += [lo, hi]
    return [float(v) for v in out]


def invert_monotone(f, t, guess, dtype=F32, span=64):
    """Inputs x near `guess` (dtype values) where the monotone increasing f(x) crosses t: the last
    x with f(x) <= t (often f(x) == t exactly), the one after, and one more step either side."""
    x = dtype(guess)
    if not np.isfinite(x):
        return []
    xs = [x]
    lo = hi = x
    for _ in range(span):
        lo = np.nextafter(lo, dtype(-np.inf))
        hi = np.nextafter(hi, dtype(np.inf))
        xs = [lo] + xs + [hi]
    vals = [f(v) for v in xs]
    below = [i for i, v in enumerate(vals) if v <= t]
    if not below or below[-1] + 1 >= len(xs):
        return [float(x)]
    i = below[-1]
    return [float(xs[j]) for j in range(max(0, i - 1), min(len(xs), i + 3))]


def threshold_values(ens, feature, limit, rng, dtype):
    """Split thresholds on `feature` (a sample), each with one step either side."""
    ts = sorted({t for f, t, m in ens.splits() if f == feature and m != "BRANCH_EQ"})
    if len(ts) > limit:
        ts = sorted(rng.choice(ts, limit, replace=False))
    return [v for t in ts for v in steps_around(t, dtype)]


def json_number(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def rows_json(X):
    return [[json_number(float(v)) for v in row] for row in X]


# ---------------------------------------------------------------------------------------------
# Writing fixtures.

def save(name, model, expected, *, check=True):
    os.makedirs(FIXTURES, exist_ok=True)
    if check:
        onnx.checker.check_model(model)
    onnx.save(model, os.path.join(FIXTURES, name + ".onnx"))
    if any(n.op_type == "ZipMap" for n in model.graph.node):
        os.makedirs(TWINS, exist_ok=True)
        onnx.save(zipmap_twin(model), os.path.join(TWINS, name + ".onnx"))
    expected = {"model": name, **expected}
    with open(os.path.join(FIXTURES, name + ".expected.json"), "w") as fh:
        json.dump(expected, fh, separators=(",", ":"))
    size = os.path.getsize(os.path.join(FIXTURES, name + ".onnx"))
    print(f"{name}: {len(expected['rows'])} rows, {size} bytes")


def inputs_json(g):
    return [{"name": n, "type": t, "width": w} for n, t, w in g.inputs]


def rng_for(name):
    return np.random.RandomState(zlib.crc32(name.encode()))


# ---------------------------------------------------------------------------------------------
# LightGBM fixtures.

def lightgbm():
    sys.path.insert(0, LIGHTGBM)
    import lightgbm as lgb  # noqa: E402

    return lgb


def categorical_rows(X_base, ens, cat_feature, n_cats, rng, numeric_features, dtype=F32):
    """Every category, unseen / negative / non-integer / NaN categories, categories one float32 step
    off, numeric thresholds with one step either side, NaNs in numeric features."""
    rows = []
    base_rows = X_base[:20]
    cat_values = list(range(n_cats)) + [n_cats, n_cats + 7, 1000, -1, -0.5, 0.5, 2.5, float("nan"), 1e10]
    cat_values += [v for c in (0, 1, n_cats // 2, n_cats - 1) for v in steps_around(c, dtype)[1:]]
    for k, v in enumerate(cat_values):
        row = base_rows[k % len(base_rows)].copy()
        row[cat_feature] = v
        rows.append(row)
    for f in numeric_features:
        for k, v in enumerate(threshold_values(ens, f, 12, rng, dtype)):
            row = base_rows[k % len(base_rows)].copy()
            row[f] = v
            rows.append(row)
        row = base_rows[0].copy()
        row[f] = np.nan
        rows.append(row)
    return np.vstack([X_base, np.array(rows)])


def lgbm_data(seed, n, n_cats, classes=None, small_cats=0):
    """Features 0-1 numeric (NaNs in 1), 2 numeric or (small_cats > 0) categorical, 3 categorical."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4)) * [1, 2, 0.5, 1]
    X[:, 3] = rng.randint(0, n_cats, size=n)
    X[rng.rand(n) < 0.05, 1] = np.nan
    effect = rng.normal(size=n_cats) * 1.5
    z = X[:, 0] + np.nan_to_num(X[:, 1]) * 0.5 + effect[X[:, 3].astype(int)] + rng.normal(size=n) * 0.3
    if small_cats:
        X[:, 2] = rng.randint(0, small_cats, size=n)
        z += rng.normal(size=small_cats)[X[:, 2].astype(int)]
    if classes is None:
        return X, z
    return X, np.digitize(z, np.quantile(z, np.linspace(0, 1, classes + 1)[1:-1]))


def lightgbm_fixtures():
    lgb = lightgbm()
    params = {"num_leaves": 12, "verbose": -1, "min_data_per_group": 10, "cat_smooth": 1, "seed": 1,
              "deterministic": True, "num_threads": 1}

    X, y = lgbm_data(21, 3000, 4, classes=2)
    b = lgb.train({**params, "objective": "binary"}, lgb.Dataset(X, y, categorical_feature=[3]), 12)
    model, ens, _ = lightgbm_to_onnx(b, "lgbm_binary_cat_few", zipmap=True)
    rows = categorical_rows(X[:30], ens, 3, 4, rng_for("few"), [0, 1, 2])
    save("lgbm_binary_cat_few", model, {
        "notes": "LightGBM binary, one categorical feature with 4 categories (one-vs-rest BRANCH_EQ splits), "
                 "onnxmltools' layout, ZipMap",
        "inputs": [{"name": "input", "type": "float", "width": 4}],
        "rows": rows_json(rows),
        "lightgbm_predict": [float(v) for v in b.predict(rows.astype(F32).astype(np.float64))],
    })

    X, y = lgbm_data(22, 4000, 60, classes=3)
    b = lgb.train({**params, "objective": "multiclass", "num_class": 3}, lgb.Dataset(X, y, categorical_feature=[3]), 8)
    model, ens, _ = lightgbm_to_onnx(b, "lgbm_multiclass_cat_many", zipmap=False)
    rows = categorical_rows(X[:30], ens, 3, 60, rng_for("many"), [0, 1])
    save("lgbm_multiclass_cat_many", model, {
        "notes": "LightGBM multiclass (3), one categorical feature with 60 categories: sets unfolded into "
                 "BRANCH_EQ chains sharing their true child; zipmap=False (Mul by 1)",
        "inputs": [{"name": "input", "type": "float", "width": 4}],
        "rows": rows_json(rows),
        "lightgbm_predict": [[float(v) for v in r] for r in b.predict(rows.astype(F32).astype(np.float64))],
    })

    X, y = lgbm_data(23, 4000, 40)
    b = lgb.train({**params, "objective": "regression", "max_cat_to_onehot": 8},
                  lgb.Dataset(X, y, categorical_feature=[3]), 15)
    model, ens, _ = lightgbm_to_onnx(b, "lgbm_regression_cat", zipmap=False)
    rows = categorical_rows(X[:30], ens, 3, 40, rng_for("reg"), [0, 1, 2])
    save("lgbm_regression_cat", model, {
        "notes": "LightGBM regression, 40 categories, NaN in a numeric feature (missing type NaN)",
        "inputs": [{"name": "input", "type": "float", "width": 4}],
        "rows": rows_json(rows),
        "lightgbm_predict": [float(v) for v in b.predict(rows.astype(F32).astype(np.float64))],
    })
    return b


def lightgbm_bench():
    """A 500-tree, 63-leaf LightGBM binary model on 20 standard-normal features (the bench's rows)
    with two categorical features, converted as onnxmltools does."""
    lgb = lightgbm()
    rng = np.random.RandomState(12)
    n = 20000
    X = rng.normal(size=(n, 20))
    X[:, 18] = rng.randint(0, 30, size=n)
    X[:, 19] = rng.randint(0, 6, size=n)
    w = rng.normal(size=18)
    effect = rng.normal(size=30)
    y = (X[:, :18] @ w + effect[X[:, 18].astype(int)] + 0.3 * X[:, 19] + rng.normal(0, 0.5, size=n) > 0)
    b = lgb.train({"objective": "binary", "num_leaves": 63, "verbose": -1, "num_threads": 1, "seed": 1,
                   "min_data_per_group": 20, "deterministic": True},
                  lgb.Dataset(X, y.astype(int), categorical_feature=[18, 19]), 500)
    model, _, _ = lightgbm_to_onnx(b, "lgbm500", zipmap=False)
    os.makedirs(BENCH_DIR, exist_ok=True)
    path = os.path.join(BENCH_DIR, "lgbm500.onnx")
    onnx.save(model, path)
    print(f"{path}: {os.path.getsize(path)} bytes")


# ---------------------------------------------------------------------------------------------
# opset 5 TreeEnsemble: BRANCH_MEMBER sets, double splits.

V5_MODES = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4,
            "BRANCH_NEQ": 5, "BRANCH_MEMBER": 6}


def v5_from_lightgbm(booster, double):
    """The spec's TreeEnsemble for a LightGBM dump: "a||b||c" as one BRANCH_MEMBER node."""
    dump = booster.dump_model()
    nodes = {k: [] for k in ("featureids", "modes", "splits", "truenodeids", "falsenodeids", "trueleafs",
                             "falseleafs", "missing")}
    leaves_w, leaves_t, members, roots = [], [], [], []

    def walk(node):
        """Returns (index, is_leaf)."""
        if "left_child" not in node:
            leaves_w.append(float(node["leaf_value"]))
            leaves_t.append(0)
            return len(leaves_w) - 1, True
        i = len(nodes["featureids"])
        for k in nodes:
            nodes[k].append(0)
        nodes["featureids"][i] = node["split_feature"]
        th = node["threshold"]
        if node["decision_type"] == "==":
            values = [float(v) for v in str(th).split("||")]
            nodes["modes"][i] = V5_MODES["BRANCH_MEMBER"]
            nodes["splits"][i] = 0.0
            members.extend(values + [float("nan")])
        else:
            nodes["modes"][i] = V5_MODES["BRANCH_LEQ"]
            nodes["splits"][i] = float(th) if double else float(F32(th))
        nodes["missing"][i] = 1 if node["default_left"] and not (node["missing_type"] == "None" and float(th) < 0) else 0
        left, left_leaf = walk(node["left_child"])
        right, right_leaf = walk(node["right_child"])
        nodes["truenodeids"][i], nodes["trueleafs"][i] = left, int(left_leaf)
        nodes["falsenodeids"][i], nodes["falseleafs"][i] = right, int(right_leaf)
        return i, False

    for tree in dump["tree_info"]:
        root, is_leaf = walk(tree["tree_structure"])
        assert not is_leaf
        roots.append(root)
    elem = TensorProto.DOUBLE if double else TensorProto.FLOAT
    attrs = dict(
        n_targets=1, aggregate_function=1, post_transform=0, tree_roots=roots,
        nodes_featureids=nodes["featureids"],
        nodes_modes=helper.make_tensor("nodes_modes", TensorProto.UINT8, [len(nodes["modes"])], nodes["modes"]),
        nodes_splits=helper.make_tensor("nodes_splits", elem, [len(nodes["splits"])], nodes["splits"]),
        nodes_truenodeids=nodes["truenodeids"], nodes_falsenodeids=nodes["falsenodeids"],
        nodes_trueleafs=nodes["trueleafs"], nodes_falseleafs=nodes["falseleafs"],
        nodes_missing_value_tracks_true=nodes["missing"],
        leaf_targetids=leaves_t,
        leaf_weights=helper.make_tensor("leaf_weights", elem, [len(leaves_w)], leaves_w),
        membership_values=helper.make_tensor("membership_values", elem, [len(members)], members),
    )
    return attrs, nodes


def v5_fixtures():
    lgb = lightgbm()
    params = {"num_leaves": 10, "verbose": -1, "min_data_per_group": 10, "cat_smooth": 1, "seed": 2,
              "deterministic": True, "num_threads": 1, "objective": "regression", "max_cat_threshold": 48}
    for double in (False, True):
        name = "v5_member_double" if double else "v5_member_float"
        X, y = lgbm_data(31 + double, 4000, 60, small_cats=12)
        b = lgb.train(params, lgb.Dataset(X, y, categorical_feature=[2, 3]), 10)
        attrs, nodes = v5_from_lightgbm(b, double)
        g = Graph(name)
        g.input("X", "double" if double else "float", 4)
        g.node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
        g.output("Y", TensorProto.DOUBLE if double else TensorProto.FLOAT, 1)
        # Thresholds for rows, with steps in the input's precision.
        dtype = np.float64 if double else F32
        ens = Ensemble(False, double)
        for f, m, s in zip(nodes["featureids"], nodes["modes"], nodes["splits"]):
            ens.split(0, 0, f, "BRANCH_LEQ" if m == 0 else "BRANCH_EQ", s, 0, 0)
        rng = rng_for(name)
        rows = categorical_rows(categorical_rows(X[:30], ens, 3, 60, rng, [0, 1], dtype), ens, 2, 12, rng, [], dtype)
        if double:
            for k, t in enumerate(sorted({s for f, m, s in zip(nodes["featureids"], nodes["modes"], nodes["splits"])
                                          if m == 0})[:25]):
                f = [nf for nf, m, s in zip(nodes["featureids"], nodes["modes"], nodes["splits"]) if s == t][0]
                for v in steps_around(t, np.float64):
                    row = X[k % 30].copy()
                    row[f] = v
                    rows = np.vstack([rows, row])
        save(name, g.model(ml_opset=5, opset=21), {
            "notes": "ai.onnx.ml opset 5 TreeEnsemble from a LightGBM dump: categorical sets as BRANCH_MEMBER "
                     "(feature 2: 12 categories, small sets; feature 3: 60 categories, sets past 30), "
                     + ("double input, double splits and weights" if double else "float input"),
            "inputs": inputs_json(g),
            "rows": rows_json(rows),
        }, check=False)

    # MIN / MAX aggregates and two targets, double, opset 5 (aggregate_function 2 = MIN, 3 = MAX).
    from sklearn.ensemble import RandomForestRegressor

    X, y = base.dataset(41, 400, 5)
    Y = np.stack([y, np.sin(y)], axis=1)
    rf = RandomForestRegressor(n_estimators=6, max_depth=4, random_state=0).fit(X, Y)
    for agg, code in (("max", 3),):
        name = f"v5_double_{agg}_2targets"
        feat, modes, splits, tn, fn, tl, fl = [], [], [], [], [], [], []
        lw, lt, roots = [], [], []
        for est in rf.estimators_:
            tr = est.tree_

            def walk(i):
                if tr.children_left[i] == -1:
                    for target in range(2):
                        lw.append(float(tr.value[i][target][0]))
                        lt.append(target)
                    return len(lw) - 2, True
                j = len(feat)
                feat.append(int(tr.feature[i]))
                modes.append(0)
                splits.append(float(tr.threshold[i]))
                tn.append(0), fn.append(0), tl.append(0), fl.append(0)
                left, ll = walk(tr.children_left[i])
                right, rl = walk(tr.children_right[i])
                tn[j], tl[j], fn[j], fl[j] = left, int(ll), right, int(rl)
                return j, False

            roots.append(walk(0)[0])
        # A leaf carries one weight in opset 5: the second target's weights are separate leaves,
        # so each tree is written twice, once per target (as converters for several targets do).
        feat2, modes2, splits2, tn2, fn2, tl2, fl2, lw2, lt2, roots2 = [], [], [], [], [], [], [], [], [], []
        for target in range(2):
            offset_nodes = len(feat2)
            leaf_map = {}
            for k in range(len(lw)):
                if lt[k] == target:
                    leaf_map[k] = len(lw2)
                    lw2.append(lw[k])
                    lt2.append(target)
            for j in range(len(feat)):
                feat2.append(feat[j])
                modes2.append(modes[j])
                splits2.append(splits[j])
                tl2.append(tl[j])
                fl2.append(fl[j])
                tn2.append(leaf_map[tn[j] + target] if tl[j] else tn[j] + offset_nodes)
                fn2.append(leaf_map[fn[j] + target] if fl[j] else fn[j] + offset_nodes)
            roots2 += [r + offset_nodes for r in roots]
        attrs = dict(
            n_targets=2, aggregate_function=code, post_transform=0, tree_roots=roots2,
            nodes_featureids=feat2,
            nodes_modes=helper.make_tensor("nodes_modes", TensorProto.UINT8, [len(modes2)], modes2),
            nodes_splits=helper.make_tensor("nodes_splits", TensorProto.DOUBLE, [len(splits2)], splits2),
            nodes_truenodeids=tn2, nodes_falsenodeids=fn2, nodes_trueleafs=tl2, nodes_falseleafs=fl2,
            leaf_targetids=lt2,
            leaf_weights=helper.make_tensor("leaf_weights", TensorProto.DOUBLE, [len(lw2)], lw2),
        )
        g = Graph(name)
        g.input("X", "double", 5)
        g.node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
        g.output("Y", TensorProto.DOUBLE, 2)
        rng = rng_for(name)
        rows = [X[k] for k in range(40)]
        for k, j in enumerate(rng.choice(len(feat), min(30, len(feat)), replace=False)):
            for v in steps_around(splits[j], np.float64):
                row = X[k].copy()
                row[feat[j]] = v
                rows.append(row)
        save(name, g.model(ml_opset=5, opset=21), {
            "notes": f"opset 5 TreeEnsemble, aggregate {agg.upper()}, two targets, double splits and weights "
                     "(a RandomForestRegressor's trees)",
            "inputs": inputs_json(g),
            "rows": rows_json(np.array(rows)),
        }, check=False)


# ---------------------------------------------------------------------------------------------
# Double-precision opset-3 ensembles, MIN/MAX aggregates, nodes after the ensemble.

def single_input_fixture(name, est, convert, X, *, double=False, notes, agg=None, post=None, zipmap=False,
                         extra_rows=None):
    op, ens, labels = convert(est, double)
    if agg:
        ens.extra["aggregate_function"] = agg
    g = Graph(name)
    g.input("input", "double" if double else "float", X.shape[1])
    if post is None:
        add_ensemble(g, op, ens, "input", zipmap, labels)
    else:
        width = len(labels) if labels else ens.extra["n_targets"]
        if op == "TreeEnsembleRegressor":
            g.node(op, ["input"], ["scores"], domain="ai.onnx.ml", **ens.attributes())
        else:
            g.node(op, ["input"], ["label", "scores"], domain="ai.onnx.ml", **ens.attributes())
            g.output("label", TensorProto.STRING if "classlabels_strings" in ens.extra else TensorProto.INT64)
        kind, arg = post
        if kind == "Normalizer":
            g.node("Normalizer", ["scores"], ["normalized"], domain="ai.onnx.ml", norm=arg)
            g.output("normalized", width=width)
        else:
            g.node("Softmax", ["scores"], ["softmax"], axis=arg)
            g.output("softmax", width=width)
    dtype = np.float64 if double else F32
    rng = rng_for(name)
    rows = [X]
    splits = ens.splits()
    for k, j in enumerate(rng.choice(len(splits), min(30, len(splits)), replace=False)):
        f, t, _ = splits[j]
        for v in steps_around(t, dtype):
            row = X[k % len(X)].copy()
            row[f] = v
            rows.append(row[None, :])
    if extra_rows is not None:
        rows.append(extra_rows)
    rows = np.vstack(rows)
    expected = {"notes": notes, "inputs": inputs_json(g), "rows": rows_json(rows)}
    Xs = rows if double else rows.astype(F32).astype(np.float64)
    if post is None and agg is None and (hasattr(est, "_predictors") or not np.isnan(Xs).any()):
        # scikit-learn's own answers (float64 arithmetic), for reference only.
        expected["sklearn_predict"] = [p if isinstance(p, str) else (float(p) if np.ndim(p) == 0 else
                                                                     [float(x) for x in p])
                                       for p in est.predict(Xs)]
    save(name, g.model(), expected)


def double_and_aggregate_fixtures():
    from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                                  RandomForestRegressor)

    X, y = base.dataset(51, 400, 5)
    rf = RandomForestRegressor(n_estimators=8, max_depth=5, random_state=0).fit(X, y)
    single_input_fixture("rf_regressor_double", rf, sklearn_forest, X[:40], double=True,
                         notes="RandomForestRegressor on a tensor(double) input: *_as_tensor double thresholds "
                               "(skl2onnx's float64 sklearn_threshold) and weights")

    X, y = base.dataset(52, 400, 6, classes=[0, 1])
    gb = GradientBoostingClassifier(n_estimators=12, max_depth=3, random_state=0).fit(X, y)
    single_input_fixture("gb_binary_double", gb, sklearn_gb, X[:40], double=True, zipmap=True,
                         notes="GradientBoostingClassifier, double input and attributes, LOGISTIC, ZipMap")

    X, y = base.dataset(53, 500, 5, classes=["a", "b", "c"], missing=0.1)
    hgb = HistGradientBoostingClassifier(max_iter=8, max_depth=3, random_state=0).fit(X, y)
    single_input_fixture("hgb_multiclass_double_nan", hgb, sklearn_hgb, X[:50], double=True,
                         notes="HistGradientBoostingClassifier, 3 string classes, double input with NaN, "
                               "float64 thresholds unmoved, SOFTMAX")

    X, y = base.dataset(54, 400, 4)
    rf = RandomForestRegressor(n_estimators=7, max_depth=4, random_state=0).fit(X, y)
    single_input_fixture("rf_regressor_min", rf, sklearn_forest, X[:40], agg="MIN",
                         notes="TreeEnsembleRegressor aggregate_function MIN (float)")
    Y = np.stack([y, -0.5 * y + 3], axis=1)
    rf2 = RandomForestRegressor(n_estimators=7, max_depth=4, random_state=1).fit(X, Y)
    single_input_fixture("rf_regressor_max_2targets", rf2, sklearn_forest, X[:40], agg="MAX",
                         notes="TreeEnsembleRegressor aggregate_function MAX, two targets (float)")
    single_input_fixture("rf_regressor_min_double", rf, sklearn_forest, X[:40], double=True, agg="MIN",
                         notes="TreeEnsembleRegressor aggregate_function MIN, double")

    # After the ensemble: Normalizer (L1, L2, MAX) on a regressor's three targets, Softmax on a
    # classifier's raw scores.
    Y3 = np.stack([y, np.abs(y) * 0.3 - 2, np.cos(y) * 4], axis=1)
    rf3 = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=2).fit(X, Y3)
    zeros = np.zeros((1, 4))
    for norm in ("L1", "L2", "MAX"):
        single_input_fixture(f"post_normalizer_{norm.lower()}", rf3, sklearn_forest, X[:40], post=("Normalizer", norm),
                             notes=f"TreeEnsembleRegressor (3 targets) followed by Normalizer norm={norm}",
                             extra_rows=zeros)
    X4, y4 = base.dataset(55, 500, 5, classes=[0, 1, 2, 3])
    gb4 = GradientBoostingClassifier(n_estimators=6, max_depth=3, random_state=0).fit(X4, y4)

    def raw_gb(est, double=False):
        op, ens, labels = sklearn_gb(est, double)
        ens.extra["post_transform"] = "NONE"
        return op, ens, labels

    single_input_fixture("post_softmax", gb4, raw_gb, X4[:40], post=("Softmax", 1),
                         notes="GradientBoostingClassifier (4 classes) with post_transform NONE followed by "
                               "Softmax(axis=1) on its scores")
    single_input_fixture("post_softmax_last_axis", rf3, sklearn_forest, X[:40], post=("Softmax", -1),
                         notes="TreeEnsembleRegressor (3 targets) followed by Softmax(axis=-1)")
    # 29 targets: onnxruntime's softmax kernel sums 24 lanes, then 8, then a partial vector.
    Y29 = np.stack([np.sin(y * (k + 1) / 7) * (k % 5) for k in range(29)], axis=1)
    rf29 = RandomForestRegressor(n_estimators=3, max_depth=4, random_state=3).fit(X, Y29)
    single_input_fixture("post_softmax_29_targets", rf29, sklearn_forest, X[:40], post=("Softmax", 1),
                         notes="TreeEnsembleRegressor (29 targets) followed by Softmax(axis=1): every path of "
                               "onnxruntime's vectorised softmax (24-wide, 8-wide, partial)")


# ---------------------------------------------------------------------------------------------
# Pipelines and ColumnTransformers, as skl2onnx writes them.

def scaler_float(g, x, sc):
    """StandardScaler on a float tensor: ai.onnx.ml Scaler with offset = mean_, scale = 1/scale_."""
    return g.node("Scaler", [x], domain="ai.onnx.ml", offset=[float(F32(v)) for v in sc.mean_],
                  scale=[float(F32(v)) for v in (1.0 / sc.scale_).astype(F32)])


def scaler_double(g, x, sc):
    """StandardScaler on a double tensor: Sub(mean_) then Div(scale_) (skl2onnx does not use Scaler,
    whose output is float)."""
    mean = g.const("mean", sc.mean_.astype(np.float64), TensorProto.DOUBLE)
    scale = g.const("scale", sc.scale_.astype(np.float64), TensorProto.DOUBLE)
    return g.node("Div", [g.node("Sub", [x, mean]), scale])


def imputer(g, x, imp):
    return g.node("Imputer", [x], domain="ai.onnx.ml", imputed_value_floats=[float(F32(v)) for v in imp.statistics_],
                  replaced_value_float=float("nan"))


def reshape(g, x, shape):
    return g.node("Reshape", [x, g.const("shape", np.array(shape, dtype=np.int64), TensorProto.INT64)])


def concat(g, xs, axis=1):
    return xs[0] if len(xs) == 1 else g.node("Concat", xs, axis=axis)


def one_hot_strings(g, inputs, ohe):
    """OneHotEncoder on string inputs: one OneHotEncoder per column (Gather first when an input has
    several columns), Concat(axis=-1), Reshape(-1, total)."""
    outs = []
    k = 0
    for name, width in inputs:
        for col in range(width):
            src = name
            if width > 1:
                src = g.node("Gather", [name, g.const("idx", np.array([col], dtype=np.int64), TensorProto.INT64)],
                             axis=1)
            cats = [str(c) for c in ohe.categories_[k]]
            outs.append(g.node("OneHotEncoder", [src], domain="ai.onnx.ml", cats_strings=cats,
                               zeros=1 if ohe.handle_unknown == "ignore" else 0))
            k += 1
    total = sum(len(c) for c in ohe.categories_)
    return reshape(g, concat(g, outs, axis=-1), [-1, total])


def ordinal_strings(g, inputs, enc):
    """OrdinalEncoder on string inputs: LabelEncoder per column (ArrayFeatureExtractor with a scalar
    index when the input has several), Reshape(-1, 1), Concat(axis=1), Cast(float)."""
    outs = []
    k = 0
    for name, width in inputs:
        for col in range(width):
            src = name
            if width > 1:
                src = g.node("ArrayFeatureExtractor", [name, g.const("index", np.array(col, dtype=np.int64),
                                                                     TensorProto.INT64)], domain="ai.onnx.ml")
            cats = [str(c) for c in enc.categories_[k]]
            attrs = {"keys_strings": cats, "values_int64s": list(range(len(cats)))}
            if enc.handle_unknown == "use_encoded_value":
                attrs["default_int64"] = int(enc.unknown_value)
            le = g.node("LabelEncoder", [src], domain="ai.onnx.ml", **attrs)
            outs.append(reshape(g, le, [-1, 1]))
            k += 1
    return g.node("Cast", [concat(g, outs, axis=1)], to=TensorProto.FLOAT)


def extract(g, x, columns):
    return g.node("ArrayFeatureExtractor", [x, g.const("column_indices", np.array(columns, dtype=np.int64),
                                                       TensorProto.INT64)], domain="ai.onnx.ml")


def boundary_rows(ens, feature_source, base_row, limit, rng):
    """Rows whose input value maps exactly onto a split threshold (where one does) and one step
    either side. feature_source(feature) -> (key, column or None, f, guess_fn) or None."""
    out = []
    splits = [s for s in ens.splits()]
    rng.shuffle(splits)
    for f, t, _ in splits[:limit]:
        src = feature_source(f)
        if src is None:
            continue
        key, col, fn, inverse = src
        for v in invert_monotone(fn, F32(t), inverse(t)):
            row = json.loads(json.dumps(base_row))
            if col is None:
                row[key] = v
            else:
                row[key][col] = v
            out.append(row)
    return out


def scaled_f32(mean, inv_scale):
    """onnxruntime's Scaler on a float: (x - offset) * scale, each rounded to float32."""
    off, sc = F32(mean), F32(inv_scale)
    return lambda x: F32(F32(F32(x) - off) * sc)


def pipeline_fixtures():
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier, GradientBoostingRegressor,
                                  RandomForestClassifier, RandomForestRegressor)
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import Binarizer, Normalizer, OneHotEncoder, OrdinalEncoder, StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    # 1. Pipeline(StandardScaler, RandomForestClassifier) on one float input; ZipMap.
    name = "pipe_scaler_rf"
    X, y = base.dataset(61, 500, 5, classes=[0, 1, 2])
    pipe = Pipeline([("scale", StandardScaler()), ("rf", RandomForestClassifier(n_estimators=6, max_depth=5,
                                                                                 random_state=0))]).fit(X, y)
    g = Graph(name)
    g.input("input", "float", 5)
    op, ens, labels = sklearn_forest(pipe["rf"])
    add_ensemble(g, op, ens, scaler_float(g, "input", pipe["scale"]), True, labels)
    sc = pipe["scale"]
    rows = rows_json(X[:40])
    rng = rng_for(name)
    for f, t, _ in [ens.splits()[j] for j in rng.choice(len(ens.splits()), 30, replace=False)]:
        fn = scaled_f32(sc.mean_[f], 1.0 / sc.scale_[f])
        for v in invert_monotone(fn, F32(t), t * sc.scale_[f] + sc.mean_[f]):
            row = list(rows[0])
            row[f] = v
            rows.append(row)
    rows.append([None] * 5)
    save(name, g.model(), {"notes": "Pipeline(StandardScaler, RandomForestClassifier): Scaler -> "
                                    "TreeEnsembleClassifier, ZipMap; rows mapped onto thresholds through the Scaler",
                           "inputs": inputs_json(g), "rows": rows})

    # 2. Pipeline(SimpleImputer, StandardScaler, GradientBoostingRegressor), NaNs.
    name = "pipe_imputer_scaler_gb"
    X, y = base.dataset(62, 500, 4, missing=0.1)
    pipe = Pipeline([("imp", SimpleImputer()), ("scale", StandardScaler()),
                     ("gb", GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=0))]).fit(X, y)
    g = Graph(name)
    g.input("input", "float", 4)
    op, ens, labels = sklearn_gb(pipe["gb"])
    add_ensemble(g, op, ens, scaler_float(g, imputer(g, "input", pipe["imp"]), pipe["scale"]), False, labels)
    rows = rows_json(X[:40])
    sc = pipe["scale"]
    for f, t, _ in ens.splits()[:40]:
        fn = scaled_f32(sc.mean_[f], 1.0 / sc.scale_[f])
        for v in invert_monotone(fn, F32(t), t * sc.scale_[f] + sc.mean_[f]):
            row = list(rows[1])
            row[f] = v
            rows.append(row)
    rows += [[None] * 4, [float(F32(pipe["imp"].statistics_[0])), None, None, None]]
    save(name, g.model(), {"notes": "Pipeline(SimpleImputer, StandardScaler, GradientBoostingRegressor): Imputer "
                                    "(NaN -> column mean) -> Scaler -> TreeEnsembleRegressor",
                           "inputs": inputs_json(g), "rows": rows,
                           "sklearn_predict": [float(v) for v in pipe.predict(np.array(
                               [[np.nan if v is None else v for v in r] for r in rows], dtype=F32).astype(np.float64))]})

    # 3. ColumnTransformer: two float inputs (imputed, scaled) + two string inputs one-hot encoded
    #    (unknown ignored) -> RandomForestClassifier with string labels, ZipMap.
    name = "coltrans_num_str"
    rng = np.random.RandomState(63)
    n = 600
    cities = np.array(["paris", "lyon", "nice", "lille", "brest"])
    colors = np.array(["red", "green", "blue"])
    import pandas as pd

    df = pd.DataFrame({"age": rng.uniform(18, 80, n).round(1), "income": rng.lognormal(10, 0.5, n),
                       "city": cities[rng.randint(0, 5, n)], "color": colors[rng.randint(0, 3, n)]})
    df.loc[rng.rand(n) < 0.08, "income"] = np.nan
    z = (df.age - 45) / 10 + (df.city == "nice") * 1.5 - (df.color == "blue") + np.nan_to_num(np.log(df.income) - 10)
    yl = np.where(z > 0.5, "high", np.where(z > -0.5, "mid", "low"))
    ct = ColumnTransformer([
        ("num", Pipeline([("imp", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), ["age", "income"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "color"]),
    ])
    pipe = Pipeline([("ct", ct), ("rf", RandomForestClassifier(n_estimators=6, max_depth=6, random_state=0))])
    pipe.fit(df, yl)
    g = Graph(name)
    for c, t in (("age", "float"), ("income", "float"), ("city", "string"), ("color", "string")):
        g.input(c, t, 1)
    num = pipe["ct"].named_transformers_["num"]
    merged = concat(g, ["age", "income"], axis=1)
    num_out = scaler_float(g, imputer(g, merged, num["imp"]), num["scale"])
    cat_out = one_hot_strings(g, [("city", 1), ("color", 1)], pipe["ct"].named_transformers_["cat"])
    op, ens, labels = sklearn_forest(pipe["rf"])
    add_ensemble(g, op, ens, concat(g, [num_out, cat_out], axis=1), True, labels)
    rows = [{"age": float(F32(a)), "income": json_number(float(F32(i))) if not np.isnan(i) else None, "city": c,
             "color": k} for a, i, c, k in zip(df.age[:40], df.income[:40], df.city[:40], df.color[:40])]
    rows += [{**rows[0], "city": "tokyo"}, {**rows[1], "color": ""}, {**rows[2], "city": "PARIS", "color": "purple"},
             {**rows[3], "age": None, "income": None}]
    for c in cities:
        for k in colors:
            rows.append({**rows[5], "city": str(c), "color": str(k)})
    sc = num["scale"]
    src = {0: "age", 1: "income"}
    for f, t, _ in ens.splits():
        if f in src and len(rows) < 160:
            fn = scaled_f32(sc.mean_[f], 1.0 / sc.scale_[f])
            for v in invert_monotone(fn, F32(t), t * sc.scale_[f] + sc.mean_[f]):
                rows.append({**rows[6], src[f]: v})
    save(name, g.model(), {"notes": "ColumnTransformer: age, income (float inputs, merged by Concat) -> Imputer "
                                    "(median) -> Scaler; city, color (string inputs) -> OneHotEncoder "
                                    "(handle_unknown=ignore) -> Concat -> Reshape; Concat -> RandomForestClassifier "
                                    "(string labels), ZipMap",
                           "inputs": inputs_json(g), "rows": rows})

    # 4. OrdinalEncoder on a two-column string input (ArrayFeatureExtractor + LabelEncoder per
    #    column, unknown -> -1), an int64 input cast to float, a float input; multi-class GB.
    name = "coltrans_ordinal_int64"
    rng = np.random.RandomState(64)
    n = 600
    sizes = np.array(["S", "M", "L", "XL"])
    shapes = np.array(["round", "square", "oval", "star", "heart"])
    S = np.stack([sizes[rng.randint(0, 4, n)], shapes[rng.randint(0, 5, n)]], axis=1)
    counts = rng.randint(0, 50, n).astype(np.int64)
    w = rng.normal(size=n)
    cls = (np.searchsorted(sizes, S[:, 0]) + (S[:, 1] == "star") * 2 + counts / 20 + w > 2.5).astype(int) + \
        (counts > 30).astype(int)
    enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(S)
    Xf = np.hstack([enc.transform(S), counts[:, None].astype(np.float64), w[:, None]])
    gb = GradientBoostingClassifier(n_estimators=6, max_depth=3, random_state=0).fit(Xf, cls)
    g = Graph(name)
    g.input("labels", "string", 2)
    g.input("count", "int64", 1)
    g.input("weight", "float", 1)
    ords = ordinal_strings(g, [("labels", 2)], enc)
    count_f = g.node("Cast", ["count"], to=TensorProto.FLOAT)
    op, ens, labels = sklearn_gb(gb)
    add_ensemble(g, op, ens, concat(g, [ords, count_f, "weight"], axis=1), False, labels)
    rows = [{"labels": [str(a), str(b)], "count": int(c), "weight": float(F32(x))}
            for (a, b), c, x in zip(S[:40], counts[:40], w[:40])]
    rows += [{**rows[0], "labels": ["XXL", "round"]}, {**rows[1], "labels": ["S", "hexagon"]},
             {**rows[2], "labels": ["", ""]}, {**rows[3], "count": 0}, {**rows[4], "count": 2 ** 40},
             {**rows[5], "count": -7}, {**rows[6], "weight": None}]
    for a in sizes:
        for b in shapes:
            rows.append({**rows[7], "labels": [str(a), str(b)]})
    for f, t, _ in ens.splits():
        if f == 3 and len(rows) < 150:
            for v in steps_around(t, F32):
                rows.append({**rows[8], "weight": v})
        if f == 2:
            for c in (int(np.floor(t)), int(np.ceil(t))):
                rows.append({**rows[9], "count": c})
    save(name, g.model(), {"notes": "OrdinalEncoder (LabelEncoder per column of a 2-column string input, "
                                    "ArrayFeatureExtractor with a scalar index, unknown -> -1), an int64 input "
                                    "cast to float, a float input, Concat -> GradientBoostingClassifier (3 classes)",
                           "inputs": inputs_json(g), "rows": rows})

    # 5. ColumnTransformer on one float input: Normalizer(l2) on columns 0-2, Binarizer on 3-4,
    #    column 5 passed through -> DecisionTreeRegressor. Binarizer refuses NaN rows.
    name = "coltrans_normalizer_binarizer"
    X, y = base.dataset(65, 500, 6)
    ct = ColumnTransformer([("norm", Normalizer(norm="l2"), [0, 1, 2]), ("bin", Binarizer(threshold=0.5), [3, 4]),
                            ("pass", "passthrough", [5])])
    pipe = Pipeline([("ct", ct), ("dt", DecisionTreeRegressor(max_depth=6, random_state=0))]).fit(X, y)
    g = Graph(name)
    g.input("input", "float", 6)
    parts = [g.node("Normalizer", [extract(g, "input", [0, 1, 2])], domain="ai.onnx.ml", norm="L2"),
             g.node("Binarizer", [extract(g, "input", [3, 4])], domain="ai.onnx.ml", threshold=0.5),
             extract(g, "input", [5])]
    op, ens, labels = sklearn_forest(pipe["dt"])
    add_ensemble(g, op, ens, concat(g, parts, axis=1), False, labels)
    rows = rows_json(X[:50])
    for v in steps_around(0.5, F32):
        rows.append(rows[0][:3] + [v, -v] + rows[0][5:])
    rows += [[0, 0, 0] + rows[1][3:], [None] + rows[2][1:], [3e38, 3e38] + rows[3][2:]]
    save(name, g.model(), {"notes": "ColumnTransformer on one input: ArrayFeatureExtractor blocks; Normalizer(L2) "
                                    "on 3 columns, Binarizer(0.5) on 2, one passed through; Concat -> "
                                    "DecisionTreeRegressor. onnxruntime's Binarizer refuses NaN",
                           "inputs": inputs_json(g), "rows": rows,
                           "error_rows": [[1.0, 2.0, 3.0, None, 0.0, 1.0]]})

    # 6. Several inputs into one Normalizer(max): FeatureVectorizer (skl2onnx's
    #    concatenate_variables), then ExtraTreesClassifier.
    name = "pipe_featurevectorizer_normalizer"
    X, y = base.dataset(66, 500, 3, classes=[0, 1])
    pipe = Pipeline([("norm", Normalizer(norm="max")), ("et", ExtraTreesClassifier(n_estimators=5, max_depth=5,
                                                                                    random_state=0))]).fit(X, y)
    g = Graph(name)
    g.input("x12", "float", 2)
    g.input("x3", "float", 1)
    fv = g.node("FeatureVectorizer", ["x12", "x3"], domain="ai.onnx.ml", inputdimensions=[2, 1])
    op, ens, labels = sklearn_forest(pipe["et"])
    add_ensemble(g, op, ens, g.node("Normalizer", [fv], domain="ai.onnx.ml", norm="MAX"), False, labels)
    rows = [{"x12": [float(F32(a)), float(F32(b))], "x3": float(F32(c))} for a, b, c in X[:50]]
    rows += [{"x12": [-1.0, -2.0], "x3": -3.0}, {"x12": [0.0, 0.0], "x3": 0.0}, {"x12": [None, 1.0], "x3": 2.0},
             {"x12": [5.0, -7.0], "x3": None}]
    save(name, g.model(), {"notes": "Pipeline(Normalizer(max), ExtraTreesClassifier) on two inputs: "
                                    "FeatureVectorizer(inputdimensions=[2, 1]) -> Normalizer(MAX) -> ensemble",
                           "inputs": inputs_json(g), "rows": rows})

    # 7. Double input: StandardScaler as Sub + Div in double, then a double RandomForestRegressor.
    name = "pipe_double_scaler_rf"
    X, y = base.dataset(67, 400, 4)
    pipe = Pipeline([("scale", StandardScaler()), ("rf", RandomForestRegressor(n_estimators=5, max_depth=5,
                                                                                random_state=0))]).fit(X, y)
    g = Graph(name)
    g.input("input", "double", 4)
    op, ens, labels = sklearn_forest(pipe["rf"], double=True)
    add_ensemble(g, op, ens, scaler_double(g, "input", pipe["scale"]), False, labels)
    rows = rows_json(X[:40])
    sc = pipe["scale"]
    for f, t, _ in ens.splits()[:40]:
        fn = lambda x, m=sc.mean_[f], s=sc.scale_[f]: (np.float64(x) - m) / s  # noqa: E731
        for v in invert_monotone(fn, t, t * sc.scale_[f] + sc.mean_[f], dtype=np.float64):
            row = list(rows[2])
            row[f] = v
            rows.append(row)
    rows.append([None, 1.0, 2.0, 3.0])
    save(name, g.model(), {"notes": "Pipeline(StandardScaler, RandomForestRegressor) on a double input: Sub and "
                                    "Div with double initializers (skl2onnx's double path), double trees",
                           "inputs": inputs_json(g), "rows": rows,
                           "sklearn_predict": [float(v) for v in pipe.predict(np.array(
                               [[np.nan if v is None else v for v in r] for r in rows[:-1]]))]})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", action="store_true", help="also the 500-tree LightGBM bench model")
    parser.add_argument("--bench-only", action="store_true", help="only the 500-tree LightGBM bench model")
    args = parser.parse_args()
    if args.bench_only:
        return lightgbm_bench()
    lightgbm_fixtures()
    v5_fixtures()
    double_and_aggregate_fixtures()
    pipeline_fixtures()
    if args.bench:
        lightgbm_bench()


if __name__ == "__main__":
    main()
