#!/usr/bin/python3
"""Train forestd's fixture models with XGBoost itself and record XGBoost's own outputs.

Run with Debian's system python3 (python3-xgboost 1.7.x, python3-pandas):

    /usr/bin/python3 scripts/make_fixtures.py            # test fixtures + default model
    /usr/bin/python3 scripts/make_fixtures.py --bench    # also the two benchmark models

Every model is written by XGBoost's `save_model` in both formats (.json and .ubj). Beside it,
`<name>.expected.json` holds the test rows (null = missing) and XGBoost's predictions and margins
for them, as float32 values widened exactly to float64, so the tap suite needs no Python.

Rows include values exactly on split thresholds and one float64 step either side of them: XGBoost
rounds inputs to float32 before comparing, so those rows catch an engine that compares in float64.
"""
import argparse
import gzip
import json
import os
import sys
import zlib

import numpy as np
import xgboost as xgb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures", "models")
DEFAULT_MODEL_DIR = os.path.join(ROOT, "model", "default")
BENCH_DIR = os.path.join(ROOT, "test", "fixtures", "bench")


def f32_list(a):
    """float32 values as JSON numbers: float(np.float32) widens exactly, repr round-trips."""
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def rows_json(X):
    return [[None if np.isnan(v) else float(v) for v in row] for row in X]


def features(rng, n, f, missing=0.1):
    X = rng.normal(0, 1, size=(n, f)) * rng.uniform(0.5, 20, size=f) + rng.uniform(-10, 10, size=f)
    if missing:
        X[rng.rand(n, f) < missing] = np.nan
    return X


def numeric_thresholds(model_json):
    """(feature, float32 threshold) for every numerical split of every tree."""
    gb = model_json["learner"]["gradient_booster"]
    trees = (gb["gbtree"] if gb["name"] == "dart" else gb)["model"]["trees"]
    out = []
    for t in trees:
        for i, left in enumerate(t["left_children"]):
            if left != -1 and t["split_type"][i] == 0:
                out.append((t["split_indices"][i], np.float32(t["split_conditions"][i])))
    return out


def threshold_rows(rng, base_rows, model_json, limit=40):
    """Rows whose value sits on a threshold, and one float64 step below and above it."""
    th = numeric_thresholds(model_json)
    rng.shuffle(th)
    out = []
    for k, (f, t) in enumerate(th[:limit]):
        t64 = float(t)
        for v in (t64, np.nextafter(t64, -np.inf), np.nextafter(t64, np.inf)):
            row = base_rows[k % len(base_rows)].copy()
            row[f] = v
            out.append(row)
    return np.array(out) if out else np.zeros((0, base_rows.shape[1]))


def write_case(name, bst, X_test, notes, feature_types=None, synth=None):
    """Save both formats and the expected outputs, computed by XGBoost on a float64 DMatrix."""
    os.makedirs(FIXTURES, exist_ok=True)
    base = os.path.join(FIXTURES, name)
    bst.save_model(base + ".json")
    bst.save_model(base + ".ubj")
    model_json = json.load(open(base + ".json"))
    rng = np.random.RandomState(zlib.crc32(name.encode()))
    X_all = np.vstack([X_test, threshold_rows(rng, X_test, model_json)])
    dm = xgb.DMatrix(X_all, missing=np.nan, feature_names=bst.feature_names, feature_types=feature_types,
                     enable_categorical=feature_types is not None)
    preds = bst.predict(dm)
    margins = bst.predict(dm, output_margin=True)
    n_out = 1 if preds.ndim == 1 else preds.shape[1]
    n_margin = 1 if margins.ndim == 1 else margins.shape[1]
    expected = {
        "model": name,
        "xgboost": xgb.__version__,
        "objective": model_json["learner"]["objective"]["name"],
        "notes": notes,
        "rows": rows_json(X_all),
        "num_outputs": n_margin,
        "prediction_width": n_out,
        "predictions": f32_list(preds),
        "margins": f32_list(margins),
    }
    if synth:
        expected["synthetic"] = synth
    with open(base + ".expected.json", "w") as fh:
        json.dump(expected, fh, separators=(",", ":"))
    return base


def train(params, X, y, rounds, feature_names=None, feature_types=None, group=None, dm_extra=None):
    p = {"nthread": 1, "seed": 7}
    p.update(params)
    dm = xgb.DMatrix(X, y, missing=np.nan, feature_names=feature_names,
                     feature_types=feature_types, enable_categorical=feature_types is not None)
    if group is not None:
        dm.set_group(group)
    for k, v in (dm_extra or {}).items():
        dm.set_float_info(k, v)
    return xgb.train(p, dm, rounds)


def synthesize(src_name, dst_name, rewrite, notes):
    """A model in a newer XGBoost's spelling, made from a 1.7 one whose predictions it must keep.

    Debian ships XGBoost 1.7; the 2.x/3.x spellings (vector base_score, iteration_indptr,
    reg:quantileerror) change no arithmetic, so XGBoost 1.7's outputs for the source model are
    the expected outputs of the rewritten one.
    """
    src = os.path.join(FIXTURES, src_name)
    model = json.load(open(src + ".json"))
    rewrite(model)
    dst = os.path.join(FIXTURES, dst_name)
    with open(dst + ".json", "w") as fh:
        json.dump(model, fh)
    with open(dst + ".ubj", "wb") as fh:
        fh.write(ubjson_typed(model))
    expected = json.load(open(src + ".expected.json"))
    expected["model"] = dst_name
    expected["objective"] = model["learner"]["objective"]["name"]
    expected["synthetic"] = {"from": src_name, "notes": notes}
    with open(dst + ".expected.json", "w") as fh:
        json.dump(expected, fh, separators=(",", ":"))


# Arrays that XGBoost 2.x+ writes as typed UBJSON containers, and their element types.
_TYPED_FIELDS = {
    "split_conditions": "d", "base_weights": "d", "loss_changes": "d", "sum_hessian": "d",
    "left_children": "l", "right_children": "l", "parents": "l", "split_indices": "l",
    "default_left": "U", "split_type": "U", "categories_segments": "L", "categories_sizes": "L",
    "categories_nodes": "l", "categories": "l", "tree_info": "l", "iteration_indptr": "l",
}
_TYPED_FMT = {"d": ">f", "l": ">i", "U": ">B", "L": ">q"}


def ubjson_typed(value, key=None):
    """UBJSON as XGBoost 2.x+ writes it: typed ([$d#L...) numeric arrays, L-length strings."""
    import struct

    def length(n):
        return b"L" + struct.pack(">q", n)

    if isinstance(value, dict):
        out = b"{"
        for k, v in value.items():
            kb = k.encode()
            out += length(len(kb)) + kb + ubjson_typed(v, k)  # keys carry no 'S' marker
        return out + b"}"
    if isinstance(value, list):
        t = _TYPED_FIELDS.get(key)
        if t is not None:
            fmt = _TYPED_FMT[t]
            body = b"".join(struct.pack(fmt, (float(x) if t == "d" else int(x))) for x in value)
            return b"[$" + t.encode() + b"#" + length(len(value)) + body
        return b"[#" + length(len(value)) + b"".join(ubjson_typed(v) for v in value)
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if isinstance(value, int):
        return b"L" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"d" + struct.pack(">f", value)
    if isinstance(value, str):
        vb = value.encode()
        return b"S" + length(len(vb)) + vb
    if value is None:
        return b"Z"
    raise TypeError(type(value))


def binary_label(X, rng):
    z = np.nan_to_num(X[:, 0]) * 0.3 - np.nan_to_num(X[:, 1]) * 0.2 + rng.normal(0, 1, len(X))
    return (z > np.median(z)).astype(float)


def make_test_fixtures():
    rng = np.random.RandomState(42)
    n, f = 600, 6
    X = features(rng, n, f)
    Xt = features(rng, 60, f)
    Xt[0, :] = np.nan  # a row with every feature missing
    yb = binary_label(X, rng)
    signal = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 2]) - 0.3 * np.nan_to_num(X[:, 3])
    yr = signal + rng.normal(0, 1, n)
    ypos = np.exp(signal / (np.abs(signal).max() + 1e-9)) + rng.exponential(0.3, n)
    ycount = rng.poisson(np.exp(signal / (np.abs(signal).max() + 1e-9) * 2))
    yc = rng.randint(0, 3, n) * 0 + np.digitize(np.nan_to_num(X[:, 0]) + rng.normal(0, 2, n),
                                                np.percentile(np.nan_to_num(X[:, 0]), [33, 66]))
    names = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    depth = {"max_depth": 4, "eta": 0.3}

    cases = [
        ("binary_logistic", {"objective": "binary:logistic", **depth}, yb, 20, names),
        ("binary_logistic_base", {"objective": "binary:logistic", "base_score": 0.3, **depth}, yb, 15, None),
        ("binary_logitraw", {"objective": "binary:logitraw", "base_score": 0.3, **depth}, yb, 15, None),
        ("binary_hinge", {"objective": "binary:hinge", **depth}, yb, 15, None),
        ("reg_squarederror", {"objective": "reg:squarederror", "base_score": 1.25, **depth}, yr, 25, names),
        ("reg_linear_alias", {"objective": "reg:linear", **depth}, yr, 10, None),
        ("reg_squaredlogerror", {"objective": "reg:squaredlogerror", **depth}, ypos, 15, None),
        ("reg_absoluteerror", {"objective": "reg:absoluteerror", **depth}, yr, 15, None),
        ("reg_pseudohubererror", {"objective": "reg:pseudohubererror", "huber_slope": 2.0, **depth}, yr, 15, None),
        ("reg_logistic", {"objective": "reg:logistic", **depth}, yb * 0.8 + 0.1, 15, None),
        ("reg_gamma", {"objective": "reg:gamma", "base_score": 1.7, **depth}, ypos, 15, None),
        ("reg_tweedie", {"objective": "reg:tweedie", "tweedie_variance_power": 1.4, **depth}, ycount.astype(float), 15, None),
        ("count_poisson", {"objective": "count:poisson", "base_score": 2.0, **depth}, ycount.astype(float), 15, None),
        ("multi_softprob", {"objective": "multi:softprob", "num_class": 3, **depth}, yc, 12, names),
        ("multi_softmax", {"objective": "multi:softmax", "num_class": 3, **depth}, yc, 12, None),
        ("multi_softprob_parallel", {"objective": "multi:softprob", "num_class": 3, "num_parallel_tree": 3,
                                     "subsample": 0.7, "colsample_bynode": 0.7, **depth}, yc, 5, None),
        ("random_forest", {"objective": "binary:logistic", "num_parallel_tree": 8, "subsample": 0.6,
                           "colsample_bynode": 0.6, "eta": 1.0, "max_depth": 6}, yb, 1, None),
        ("deep_trees", {"objective": "reg:squarederror", "max_depth": 12, "eta": 0.1, "min_child_weight": 0}, yr, 10, None),
        ("dart_binary", {"booster": "dart", "objective": "binary:logistic", "rate_drop": 0.3, "skip_drop": 0.0,
                         "one_drop": 1, **depth}, yb, 15, None),
        ("dart_regression", {"booster": "dart", "objective": "reg:squarederror", "rate_drop": 0.2,
                             "normalize_type": "forest", "sample_type": "weighted", **depth}, yr, 15, None),
        ("dart_multi", {"booster": "dart", "objective": "multi:softprob", "num_class": 3, "rate_drop": 0.25,
                        **depth}, yc, 10, None),
    ]
    for name, params, y, rounds, fnames in cases:
        bst = train(params, X, y, rounds, feature_names=fnames)
        write_case(name, bst, Xt, params)
        print("wrote", name, file=sys.stderr)

    # Cox: negative labels mark right-censored times.
    times = ypos * 10
    cens = np.where(rng.rand(n) < 0.3, -times, times)
    bst = train({"objective": "survival:cox", **depth}, X, cens, 15)
    write_case("survival_cox", bst, Xt, {"objective": "survival:cox"})

    # AFT (not in the brief's list, but XGBoost writes it and users ship it).
    lower = times
    upper = np.where(rng.rand(n) < 0.3, np.inf, times)
    bst = train({"objective": "survival:aft", "aft_loss_distribution": "normal", **depth}, X, None, 15,
                dm_extra={"label_lower_bound": lower, "label_upper_bound": upper})
    write_case("survival_aft", bst, Xt, {"objective": "survival:aft"})

    # Ranking: groups of 20 rows, graded relevance.
    rel = np.clip(np.round(signal / (np.abs(signal).max() + 1e-9) * 2 + 2 + rng.normal(0, 0.5, n)), 0, 4)
    group = [20] * (n // 20)
    for obj in ("rank:pairwise", "rank:ndcg", "rank:map"):
        y = (rel > 2).astype(float) if obj == "rank:map" else rel
        bst = train({"objective": obj, **depth}, X, y, 15, group=group)
        write_case(obj.replace(":", "_"), bst, Xt, {"objective": obj})

    # Categorical splits: partition-based (many categories) and one-hot (few categories).
    nc = 800
    Xc = np.column_stack([
        rng.randint(0, 12, nc).astype(float),   # 12 categories, partition splits
        rng.normal(0, 3, nc),
        rng.randint(0, 3, nc).astype(float),    # 3 categories, one-hot splits
        rng.uniform(0, 100, nc),
    ])
    Xc[rng.rand(nc, 4) < 0.05] = np.nan
    effect = np.array([3, -2, 0, 1, 4, -3, 2, 0, -1, 5, -4, 1], dtype=float)
    c0 = np.nan_to_num(Xc[:, 0], nan=0).astype(int)
    yc_bin = ((effect[c0] + np.nan_to_num(Xc[:, 1]) + (np.nan_to_num(Xc[:, 2]) == 1) * 2
               + rng.normal(0, 1, nc)) > 0.5).astype(float)
    ftypes = ["c", "q", "c", "q"]
    Xct = np.column_stack([
        np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 40, -1, np.nan, 2.5, 7.9] * 3, dtype=float),
        rng.normal(0, 3, 54),
        np.array([0, 1, 2, 3, np.nan, -2] * 9, dtype=float),
        rng.uniform(0, 100, 54),
    ])
    cat_names = ["colour", "size", "shape", "price"]
    for name, extra in (("categorical_partition", {"max_cat_to_onehot": 1}),
                        ("categorical_onehot", {"max_cat_to_onehot": 16})):
        params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 5, "eta": 0.3, **extra}
        bst = train(params, Xc, yc_bin, 15, feature_names=cat_names, feature_types=ftypes)
        write_case(name, bst, Xct, params, feature_types=ftypes)
        print("wrote", name, file=sys.stderr)

    # A randomised zoo: shapes and hyper-parameters nobody picked by hand.
    zoo_rng = np.random.RandomState(2024)
    objectives = ["binary:logistic", "reg:squarederror", "multi:softprob", "count:poisson", "reg:gamma",
                  "binary:logitraw", "reg:tweedie", "multi:softmax"]
    for k in range(12):
        obj = objectives[k % len(objectives)]
        fz = int(zoo_rng.randint(1, 30))
        nz = 400
        Xz = features(zoo_rng, nz, fz, missing=float(zoo_rng.choice([0, 0.05, 0.3])))
        s = np.nan_to_num(Xz[:, 0])
        s = s / (np.abs(s).max() + 1e-9)
        if obj.startswith("binary"):
            yz = (s + zoo_rng.normal(0, 0.3, nz) > 0).astype(float)
        elif obj.startswith("multi"):
            yz = np.digitize(s + zoo_rng.normal(0, 0.3, nz), [-0.3, 0.0, 0.3]).astype(float)
        elif obj in ("count:poisson", "reg:tweedie"):
            yz = zoo_rng.poisson(np.exp(s * 2)).astype(float)
        elif obj == "reg:gamma":
            yz = np.exp(s) + 0.01
        else:
            yz = s * 10 + zoo_rng.normal(0, 1, nz)
        params = {"objective": obj, "max_depth": int(zoo_rng.randint(1, 10)),
                  "eta": float(zoo_rng.uniform(0.05, 0.5)),
                  "num_parallel_tree": int(zoo_rng.choice([1, 1, 2])),
                  "subsample": float(zoo_rng.uniform(0.5, 1)),
                  "colsample_bytree": float(zoo_rng.uniform(0.5, 1)),
                  "tree_method": str(zoo_rng.choice(["exact", "hist", "approx"])),
                  "booster": str(zoo_rng.choice(["gbtree", "gbtree", "dart"]))}
        if obj.startswith("multi"):
            params["num_class"] = 4
        if params["booster"] == "dart":
            params["rate_drop"] = 0.2
        bst = train(params, Xz, yz, int(zoo_rng.randint(1, 30)))
        write_case("zoo_%02d" % k, bst, features(zoo_rng, 40, fz, missing=0.1), params)
        print("wrote zoo", k, obj, file=sys.stderr)

    # Newer XGBoost spellings, synthesised from 1.7 models (see synthesize()).
    def vector_base_score(m):
        bs = m["learner"]["learner_model_param"]["base_score"]
        m["learner"]["learner_model_param"]["base_score"] = "[" + bs + "]"
        m["version"] = [3, 1, 0]

    def with_indptr(m):
        gb = m["learner"]["gradient_booster"]["model"]
        per_iter = len(set(gb["tree_info"])) * int(gb["gbtree_model_param"]["num_parallel_tree"])
        gb["iteration_indptr"] = list(range(0, len(gb["trees"]) + 1, per_iter))
        for t in gb["trees"]:
            t["tree_param"]["size_leaf_vector"] = "1"
            t["default_left"] = [bool(v) for v in t["default_left"]]
        m["version"] = [2, 1, 3]

    def to_quantile(m):
        m["learner"]["objective"] = {"name": "reg:quantileerror", "quantile_loss_param": {"quantile_alpha": "[0.5]"}}
        m["version"] = [2, 0, 3]

    synthesize("binary_logistic_base", "v31_vector_base_score", vector_base_score,
               "3.1+ writes base_score as a vector '[3E-1]'")
    synthesize("multi_softprob", "v21_iteration_indptr", with_indptr,
               "2.x writes iteration_indptr, size_leaf_vector 1 and boolean default_left")
    synthesize("reg_squarederror", "v20_quantileerror", to_quantile,
               "reg:quantileerror (2.0+) has the identity transform, like reg:squarederror")


def make_default_model():
    """forestd's bundled model: P(adult is male) from height (cm), weight (kg) and shoe size (EU).

    Synthetic population with plausible sex differences; small (50 trees, depth 3) and named.
    """
    rng = np.random.RandomState(1)
    n = 4000
    male = rng.rand(n) < 0.5
    height = np.where(male, rng.normal(178, 7, n), rng.normal(165, 6.5, n))
    bmi = np.where(male, rng.normal(26.5, 3.5, n), rng.normal(25.5, 4.5, n))
    weight = bmi * (height / 100) ** 2
    shoe = np.where(male, 43 + (height - 178) * 0.12, 38.5 + (height - 165) * 0.12) + rng.normal(0, 0.8, n)
    X = np.column_stack([np.round(height, 1), np.round(weight, 1), np.round(shoe * 2) / 2])
    X[rng.rand(n, 3) < 0.03] = np.nan
    names = ["height", "weight", "shoe_size"]
    bst = train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.2}, X, male.astype(float), 50,
                feature_names=names)
    os.makedirs(DEFAULT_MODEL_DIR, exist_ok=True)
    bst.save_model(os.path.join(DEFAULT_MODEL_DIR, "model.json"))
    # The default model is also a fixture, so the suite checks it like any other.
    Xt = np.array([[180, 80, 44], [160, 55, 37], [172, 70, 40.5], [np.nan, 90, np.nan], [195, 120, 47],
                   [150, 45, 35], [np.nan, np.nan, np.nan]], dtype=float)
    write_case("default_body", bst, Xt, {"about": "bundled default model"})


def make_bench_models():
    """The bench:model models: large (1000 trees, depth 8, 100 features) and small (200 trees, depth 6, 30
    features), the two shapes issue #31's targets are set on."""
    os.makedirs(BENCH_DIR, exist_ok=True)
    rng = np.random.RandomState(5)
    for name, trees, depth, nfeat in (("large", 1000, 8, 100), ("small", 200, 6, 30)):
        n = 20000
        X = rng.normal(0, 1, (n, nfeat)).astype(np.float32)
        w = rng.normal(0, 1, nfeat)
        y = (np.tanh(X @ w / np.sqrt(nfeat)) + 0.5 * np.sin(X[:, 0] * X[:, 1]) + rng.normal(0, 0.3, n) > 0)
        bst = train({"objective": "binary:logistic", "max_depth": depth, "eta": 0.05, "tree_method": "hist",
                     "min_child_weight": 0, "gamma": 0, "lambda": 0.1}, X, y.astype(float), trees)
        path = os.path.join(BENCH_DIR, name + ".json")
        bst.save_model(path)
        # Committed gzipped: the large model is ~8 MB of JSON.
        # mtime=0 keeps the .gz byte-identical from run to run.
        with open(path, "rb") as src, open(path + ".gz", "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as dst:
            dst.write(src.read())
        os.remove(path)
        print("wrote bench", name, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", action="store_true", help="also train the bench:model models")
    args = ap.parse_args()
    np.seterr(all="ignore")
    make_test_fixtures()
    make_default_model()
    if args.bench:
        make_bench_models()


if __name__ == "__main__":
    main()
