#!/usr/bin/python3
"""Train forestd's LightGBM fixture models with LightGBM itself and record LightGBM's own outputs.

Debian has no LightGBM package. Build it from source (microsoft/LightGBM, with fmtlib/fmt and
lemire/fast_double_parser in external_libs/, Debian's libeigen3-dev; lower CMakeLists' minimum to
Debian's CMake 3.25), copy the built lib_lightgbm.so into python-package/lightgbm/lib/, then:

    PYTHONPATH=/path/to/LightGBM/python-package /usr/bin/python3 scripts/make_lightgbm_fixtures.py \\
        --cli /path/to/LightGBM/lightgbm              # test fixtures (and the CLI-trained one)
    ... scripts/make_lightgbm_fixtures.py --only-large  # only the 500-tree 63-leaf model (slow part)

The committed fixtures were made by LightGBM 4.6.0.99, commit
bae0b7ba953341a32b2a9c5c5c437a1b976f576f ("[ROCm] fix build, add rccl support (#7185)"),
with Debian bookworm's python3-numpy 1.24.2 and python3-pandas 1.5.3.

Each model is written by LightGBM (Booster.save_model, or the CLI for `cli_binary`) to
test/fixtures/lightgbm/<name>.txt (large_500x63.txt.gz, the bench model, gzipped). Beside it,
<name>.expected.json.gz holds the rows (null = NaN) and
what LightGBM answers for them after loading that very file (lightgbm.Booster(model_file=...),
num_threads=1): predict, predict(raw_score=True), predict(pred_leaf=True) and
predict(pred_contrib=True), float64 values written with repr (exact), so the tap suite needs no
Python. Rows include test rows, rows whose value sits on every numerical threshold and one float64
step either side of it (numpy.nextafter), NaN, zeros and values within LightGBM's kZeroThreshold
(1e-35f) of zero, and for categorical features negative, non-integer, unseen, huge and NaN
categories.

`v3_categorical` is not trained: it is `categorical_few.txt` rewritten as LightGBM 2.3.0-2.3.2
wrote the same trees (see v3_rewrite below); LightGBM loads it and its outputs are recorded.
"""
import argparse
import gzip
import json
import os
import re
import subprocess
import tempfile
import zlib

import numpy as np
import pandas as pd
import lightgbm as lgb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures", "lightgbm")
LIGHTGBM_COMMIT = "bae0b7ba953341a32b2a9c5c5c437a1b976f576f"
K_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (include/LightGBM/meta.h): 1e-35f


# ---------------------------------------------------------------------------------------------
# Reading the model text LightGBM wrote (only to find thresholds and categorical features)


def tree_blocks(text):
    """Each tree's key=value lines, as a dict of strings."""
    body = text.split("end of trees")[0]
    blocks = re.split(r"^Tree=\d+\n", body, flags=re.M)[1:]
    out = []
    for b in blocks:
        kv = {}
        for line in b.splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                kv[k] = v
        out.append(kv)
    return out


def splits(text):
    """(feature, threshold, is_categorical) for every split of every tree."""
    out = []
    for kv in tree_blocks(text):
        if int(kv["num_leaves"]) <= 1:
            continue
        feats = [int(x) for x in kv["split_feature"].split()]
        ths = [float(x) for x in kv["threshold"].split()]
        dts = [int(x) for x in kv.get("decision_type", " ".join("0" * len(feats))).split()]
        for f, t, d in zip(feats, ths, dts):
            out.append((f, t, bool(d & 1)))
    return out


# ---------------------------------------------------------------------------------------------
# Rows


def threshold_rows(rng, base, text, limit=40):
    """Rows whose value is on a numerical threshold, and one float64 step below and above it."""
    th = sorted({(f, t) for f, t, cat in splits(text) if not cat})
    rng.shuffle(th)
    # Thresholds near zero are where LightGBM's zero handling matters: keep every one of them.
    near_zero = [p for p in th if abs(p[1]) <= 1e-30]
    chosen = near_zero + [p for p in th if p not in near_zero][: max(0, limit - len(near_zero))]
    rows = []
    for k, (f, t) in enumerate(chosen):
        for v in (t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)):
            row = base[k % len(base)].copy()
            row[f] = v
            rows.append(row)
    return rows


ZERO_VALUES = [0.0, -0.0, 1e-36, -1e-36, 1e-35, -1e-35, K_ZERO, -K_ZERO,
               float(np.nextafter(K_ZERO, np.inf)), float(np.nextafter(-K_ZERO, -np.inf)),
               float(np.nextafter(K_ZERO, 0)), float(np.nextafter(-K_ZERO, 0)), 5e-324, -5e-324]


def special_rows(base, numeric, categorical, num_categories):
    """NaN and near-zero values on numerical features; odd values on categorical ones."""
    rows = []
    all_nan = np.full(base.shape[1], np.nan)
    rows.append(all_nan)
    rows.append(np.zeros(base.shape[1]))
    for j, f in enumerate(numeric):
        for k, v in enumerate(ZERO_VALUES + [np.nan, 1e300, -1e300]):
            row = base[(j * 7 + k) % len(base)].copy()
            row[f] = v
            rows.append(row)
    for j, f in enumerate(categorical):
        c = num_categories[f]
        values = [-1.0, -0.5, -0.0, -1e-300, 0.5, 0.999999, 1.5, 2.999999999, float(c), float(c) + 0.5,
                  float(c + 100), 31.0, 32.0, 33.0, 63.0, 64.0, 65.0, 95.0, 96.0, 1e9, 2.0**31, 2.0**32 + 1,
                  -(2.0**31) - 1, 1e300, -1e300, np.nan]
        values += [float(v) for v in range(min(c, 70))]
        for k, v in enumerate(values):
            row = base[(j * 5 + k) % len(base)].copy()
            row[f] = v
            rows.append(row)
    return rows


def rows_json(X):
    return [[None if np.isnan(v) else float(v) for v in row] for row in X]


def flat(a, kind=float):
    return [kind(v) for v in np.asarray(a).ravel()]


# ---------------------------------------------------------------------------------------------
# Writing a fixture


def write_gzip(path, data):
    """gzip with no name or time in the header, so that the same content gives the same bytes."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as fh:
        fh.write(data)


def by_name(v, categorical):
    """A DataFrame cell as a JSON row gives it: a category as its string (JSON's spelling of a
    number category: 10 -> "10"), a missing value as null."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if categorical:
        return v if isinstance(v, str) else json.dumps(v.item() if hasattr(v, "item") else v)
    return float(v)


def lightgbm_version():
    """The source tree's VERSION.txt (the package has no __version__ when run from the source)."""
    path = os.path.join(os.path.dirname(lgb.__file__), "..", "..", "VERSION.txt")
    return open(path).read().strip() if os.path.exists(path) else getattr(lgb, "__version__", "unknown")


def record(name, model_file, X, notes, frame=None, names=None, contrib=True):
    """LightGBM's outputs for X (or the DataFrame `frame`) from the model as loaded from its file."""
    text = open(model_file).read()
    bst = lgb.Booster(model_file=model_file)
    data = frame if frame is not None else X
    kw = {"num_threads": 1}
    pred = np.asarray(bst.predict(data, **kw))
    raw = np.asarray(bst.predict(data, raw_score=True, **kw))
    leaf = np.asarray(bst.predict(data, pred_leaf=True, **kw))
    header = dict(re.findall(r"^(\w+)=(.*)$", text.split("\nTree=")[0], flags=re.M))
    expected = {
        "model": name,
        "file": os.path.basename(model_file),
        "lightgbm": lightgbm_version(),
        "lightgbm_commit": LIGHTGBM_COMMIT,
        "objective": header.get("objective"),
        "notes": notes,
        "num_trees": bst.num_trees(),
        "num_features": bst.num_feature(),
        "rows": rows_json(X),
        "predict_width": 1 if pred.ndim == 1 else pred.shape[1],
        "predict": flat(pred),
        "raw_score": flat(raw),
        "pred_leaf": flat(leaf, int),
    }
    if contrib:
        expected["pred_contrib"] = flat(np.asarray(bst.predict(data, pred_contrib=True, **kw)))
    else:
        expected["pred_contrib"] = None
    if frame is not None:
        # The DataFrame and its codes as a float64 array must be the same input to LightGBM.
        assert np.array_equal(raw, np.asarray(bst.predict(X, raw_score=True, **kw)))
        expected["rows_by_name"] = names
    # gzip: the float64 reprs are most of the bytes and compress about 2.5x.
    write_gzip(os.path.join(FIXTURES, name + ".expected.json.gz"),
               json.dumps(expected, separators=(",", ":")).encode())
    return expected


def case(name, params, X, y, rounds, notes, rows_extra=None, categorical=(), num_categories=None,
         group=None, feature_name="auto", contrib=True, limit=40, test_rows=30):
    """Train, save with save_model, and record LightGBM's outputs on the test rows."""
    p = {"verbose": -1, "num_threads": 1, "deterministic": True, "seed": 7, "force_col_wise": True}
    p.update(params)
    ds = lgb.Dataset(X, y, categorical_feature=list(categorical) or "auto", group=group,
                     feature_name=feature_name, free_raw_data=False)
    bst = lgb.train(p, ds, rounds)
    path = os.path.join(FIXTURES, name + ".txt")
    bst.save_model(path)
    rng = np.random.RandomState(zlib.crc32(name.encode()))
    base = X[rng.choice(len(X), test_rows, replace=False)].copy()
    text = open(path).read()
    numeric = [f for f in range(X.shape[1]) if f not in categorical]
    rows = list(base) + threshold_rows(rng, base, text, limit)
    rows += special_rows(base, numeric, list(categorical), num_categories or {})
    if rows_extra is not None:
        rows += list(rows_extra)
    return record(name, path, np.array(rows, dtype=np.float64), notes, contrib=contrib)


# ---------------------------------------------------------------------------------------------
# Data


def numeric_data(rng, n, f, nan_features=(0, 1, 2), nan_rate=0.1, sparse=None):
    X = rng.normal(0, 1, size=(n, f)) * rng.uniform(0.5, 5, size=f) + rng.uniform(-2, 2, size=f)
    for j in nan_features:
        X[rng.rand(n) < nan_rate, j] = np.nan
    if sparse is not None:  # a feature that is mostly exact zeros, both signs otherwise
        X[:, sparse] = np.where(rng.rand(n) < 0.6, 0.0, rng.normal(0, 1, n))
    return X


def signal(X):
    Z = np.nan_to_num(X)
    return Z[:, 0] - 0.5 * Z[:, 1] + 0.8 * np.sin(Z[:, 2]) + 0.3 * Z[:, 3] * Z[:, 4]


def make_fixtures(cli):
    os.makedirs(FIXTURES, exist_ok=True)
    rng = np.random.RandomState(2028)
    n, f = 1200, 6
    X = numeric_data(rng, n, f, sparse=5)
    s = signal(X)
    s = (s - s.mean()) / s.std()
    yb = (s + rng.normal(0, 0.7, n) > 0).astype(float)
    yr = 3 * s + rng.normal(0, 1, n)
    ypos = np.exp(0.6 * s) + rng.exponential(0.2, n)
    ycount = rng.poisson(np.exp(0.7 * s))
    yprob = 1 / (1 + np.exp(-(s + rng.normal(0, 0.5, n))))
    ymulti = np.digitize(s + rng.normal(0, 0.5, n), [-0.8, 0.0, 0.8])

    small = {"num_leaves": 7, "learning_rate": 0.2, "min_data_in_leaf": 15}
    std = {"num_leaves": 15, "learning_rate": 0.1, "min_data_in_leaf": 20}

    case("binary", {"objective": "binary", **std}, X, yb, 30,
         "binary: NaN in features 0-2 (missing type NaN), feature 5 mostly zeros")
    case("binary_sigmoid", {"objective": "binary", "sigmoid": 0.7, **small}, X, yb, 12,
         "binary with sigmoid=0.7: objective line 'binary sigmoid:0.7'")
    case("binary_sigmoid_atof", {"objective": "binary", "sigmoid": 2.619, **small}, X, yb, 8,
         "sigmoid=2.619: LightGBM reads it back with its Common::Atof as 2.6189999999999998, "
         "not the nearest double", limit=15)
    regs = [
        ("regression", {"objective": "regression"}, yr),
        ("regression_sqrt", {"objective": "regression", "reg_sqrt": True}, yr),
        ("regression_l1", {"objective": "regression_l1"}, yr),
        ("huber", {"objective": "huber", "alpha": 1.5}, yr),
        ("fair", {"objective": "fair"}, yr),
        ("quantile", {"objective": "quantile", "alpha": 0.3}, yr),
        ("mape", {"objective": "mape"}, ypos),
        ("poisson", {"objective": "poisson"}, ycount),
        ("gamma", {"objective": "gamma"}, ypos),
        ("tweedie", {"objective": "tweedie", "tweedie_variance_power": 1.4}, ycount),
        ("cross_entropy", {"objective": "cross_entropy"}, yprob),
        ("cross_entropy_lambda", {"objective": "cross_entropy_lambda"}, yprob),
    ]
    for name, params, y in regs:
        case(name, {**params, **small}, X, y, 12, f"{params['objective']} on the shared numeric data",
             limit=25)
    case("multiclass", {"objective": "multiclass", "num_class": 4, **small}, X, ymulti, 8,
         "softmax, 4 classes: 4 trees per iteration")
    case("multiclassova", {"objective": "multiclassova", "num_class": 4, "sigmoid": 1.3, **small}, X, ymulti, 8,
         "one-vs-all, 4 classes, sigmoid 1.3")

    # Missing values: zero_as_missing (missing type Zero) and use_missing=false (missing type None).
    case("zero_as_missing", {"objective": "regression", "zero_as_missing": True, **std}, X, yr, 15,
         "zero_as_missing=true: missing type Zero on every feature; zeros and NaN go the default way")
    case("missing_none", {"objective": "regression", "use_missing": False, **std}, X, yr, 15,
         "use_missing=false: missing type None; NaN is compared as 0.0")

    # Boosting variants.
    case("rf_binary", {"objective": "binary", "boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.6,
                       "feature_fraction": 0.8, **std}, X, yb, 15,
         "random forest: average_output, predict = sigmoid(sum / iterations), raw_score = the plain sum")
    case("rf_multiclass", {"objective": "multiclass", "num_class": 3, "boosting": "rf", "bagging_freq": 1,
                           "bagging_fraction": 0.6, **small}, X, np.minimum(ymulti, 2), 6,
         "random forest, 3-class softmax: averaged per class")
    case("dart", {"objective": "binary", "boosting": "dart", "drop_rate": 0.3, "skip_drop": 0.0, **std}, X, yb, 20,
         "dart: trees re-scaled at training time; the file holds the final leaf values")
    case("goss", {"objective": "regression", "data_sample_strategy": "goss", **std}, X, yr, 20,
         "goss sampling (v4 spelling data_sample_strategy=goss)")

    # Ranking.
    qsize = 12
    group = [qsize] * (n // qsize)
    yrank = np.clip(np.round(s + rng.normal(0, 0.5, n) + 1.5), 0, 4)
    case("lambdarank", {"objective": "lambdarank", **small}, X, yrank, 12, "lambdarank: raw scores",
         group=group)
    case("rank_xendcg", {"objective": "rank_xendcg", **small}, X, yrank, 12, "rank_xendcg: raw scores",
         group=group)

    # Constant label: every tree has one leaf.
    case("constant", {"objective": "regression", **small}, X, np.full(n, 2.5), 3,
         "a constant label: single-leaf trees (num_leaves=1)")

    # Categorical features.
    nc = 1500
    Xc = numeric_data(rng, nc, 5, nan_features=(3,))
    Xc[:, 0] = rng.randint(0, 9, nc)
    Xc[:, 1] = rng.randint(0, 3, nc)
    Xc[rng.rand(nc) < 0.05, 0] = np.nan
    effect0 = rng.normal(0, 1.5, 9)
    effect1 = np.array([-1.0, 0.5, 1.0])
    yc = (np.where(np.isnan(Xc[:, 0]), 0.7, effect0[np.nan_to_num(Xc[:, 0]).astype(int)])
          + effect1[Xc[:, 1].astype(int)] + 0.5 * np.nan_to_num(Xc[:, 2]) + rng.normal(0, 0.5, nc))
    case("categorical_few", {"objective": "regression", "max_cat_to_onehot": 4, "min_data_per_group": 10,
                             "cat_smooth": 1, **std}, Xc, yc, 20,
         "features 0 (9 categories, NaN 5%: many-vs-many bitsets) and 1 (3 categories: one-hot splits)",
         categorical=(0, 1), num_categories={0: 9, 1: 3})

    nm = 4000
    Xm = numeric_data(rng, nm, 4, nan_features=())
    Xm[:, 0] = rng.randint(0, 200, nm)
    effect = rng.normal(0, 2, 200)
    ym = effect[Xm[:, 0].astype(int)] + 0.3 * Xm[:, 1] + rng.normal(0, 0.5, nm)
    case("categorical_many", {"objective": "regression", "min_data_per_group": 5, "cat_smooth": 1,
                              "max_cat_threshold": 128, "cat_l2": 1, **std}, Xm, ym, 20,
         "feature 0 has 200 categories: bitsets span up to 7 32-bit words",
         categorical=(0,), num_categories={0: 200})
    case("categorical_binary", {"objective": "binary", "min_data_per_group": 10, "cat_smooth": 1, **small},
         Xc, (yc > np.median(yc)).astype(float), 10, "binary classifier with categorical features 0 and 1",
         categorical=(0, 1), num_categories={0: 9, 1: 3})

    # pandas categorical columns: the pandas_categorical trailer maps strings to codes.
    npd = 1500
    colors = ["red", "green", "blue", "yellow", "purple", "black"]
    sizes = [10, 20, 30, 40]
    frame = pd.DataFrame({
        "height": rng.normal(170, 10, npd),
        "color": pd.Categorical(rng.choice(colors, npd), categories=colors),
        "weight": rng.normal(70, 12, npd),
        "size": pd.Categorical(rng.choice(sizes, npd), categories=sizes),
    })
    frame.loc[rng.rand(npd) < 0.05, "color"] = np.nan
    ceff = dict(zip(colors, rng.normal(0, 1, len(colors))))
    yp = (frame["color"].map(ceff).astype(float).fillna(0.4) + 0.05 * (frame["height"] - 170)
          + 0.02 * frame["size"].astype(float) + rng.normal(0, 0.5, npd) > 0.3).astype(float)
    bst = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1, "deterministic": True, "seed": 7,
                     "min_data_per_group": 10, "cat_smooth": 1, **small},
                    lgb.Dataset(frame, yp), 12)
    path = os.path.join(FIXTURES, "pandas_categorical.txt")
    bst.save_model(path)
    test = frame.sample(30, random_state=1).reset_index(drop=True)
    odd = pd.DataFrame({
        "height": [170.0, np.nan, 0.0, 165.0, 180.0, 170.0, 170.0],
        "color": ["red", "purple", None, "black", "orange", "blue", "Red"],
        "weight": [70.0, 60.0, np.nan, 0.0, 80.0, 70.0, 70.0],
        "size": pd.Series([10, 40, 20, None, 30, 50, 20], dtype=object),
    })
    test = pd.concat([test.astype(object), odd], ignore_index=True)
    # As a JSON row gives them, before pandas turns the unseen "orange", "Red" and 50 into NaN.
    names = [{k: by_name(v, k in ("color", "size")) for k, v in r.items()} for r in test.to_dict("records")]
    test["color"] = pd.Categorical(test["color"], categories=colors)
    test["size"] = pd.Categorical(test["size"], categories=sizes)
    test["height"] = test["height"].astype(float)
    test["weight"] = test["weight"].astype(float)
    codes = test.copy()
    for c in ("color", "size"):
        codes[c] = codes[c].cat.codes.astype(float).replace({-1.0: np.nan})
    record("pandas_categorical", path, codes.to_numpy(dtype=np.float64),
           "pandas DataFrame with category columns color (strings) and size (ints); the trailer maps "
           "strings to codes. rows hold the codes LightGBM computes; rows_by_name the values, "
           "predicted from the DataFrame itself (unseen categories orange, Red and 50 become NaN)",
           frame=test, names=names)

    # Linear trees: LightGBM itself refuses pred_contrib for them.
    case("linear_tree", {"objective": "regression", "linear_tree": True, "linear_lambda": 0.1, **small},
         np.nan_to_num(X), yr, 8, "linear_tree=true: a linear model in each leaf (refused by forestd)",
         contrib=False)

    v3_rewrite(os.path.join(FIXTURES, "categorical_few.txt"), os.path.join(FIXTURES, "v3_categorical.txt"))
    with gzip.open(os.path.join(FIXTURES, "categorical_few.expected.json.gz"), "rt") as fh:
        Xv = np.array([[np.nan if v is None else v for v in r] for r in json.load(fh)["rows"]], dtype=float)
    record("v3_categorical", os.path.join(FIXTURES, "v3_categorical.txt"), Xv,
           "categorical_few.txt as LightGBM 2.3.x wrote it (version=v3, no is_linear line, no parser "
           "section, tree_sizes recomputed); outputs from LightGBM loading this file")

    if cli:
        cli_case(cli, X, yb)


def v3_rewrite(src, dst):
    """A v4 file as LightGBM 2.3.0-2.3.2 wrote the same trees.

    `git log -S'kModelVersion = "v4"'` (b0137debe, in v4.0.0) only added the optional `parser:`
    section after `parameters:`; from 2.3.0 (e1d7a7b9e "add weight in tree model output") to
    3.3.5 the file said version=v3 with the same header and tree fields, except that `is_linear=`
    appears from 3.0.0 (linear trees) on. So: version=v3, the is_linear lines dropped, and each
    tree_sizes entry (a tree block's byte length) recomputed. The parameters section is kept
    (LightGBM reads it only for linear_tree).
    """
    text = open(src).read()
    head, rest = text.split("\ntree_sizes=", 1)
    sizes_line, rest = rest.split("\n", 1)
    body, tail = rest.split("end of trees\n", 1)
    blocks = re.split(r"(?=^Tree=\d+\n)", body, flags=re.M)
    lead = blocks[0]
    trees = [re.sub(r"^is_linear=0\n", "", b, flags=re.M) for b in blocks[1:]]
    head = head.replace("version=v4", "version=v3", 1)
    sizes = " ".join(str(len(b.encode())) for b in trees)
    with open(dst, "w") as fh:
        fh.write(head + "\ntree_sizes=" + sizes + "\n" + lead + "".join(trees) + "end of trees\n" + tail)


def cli_case(cli, X, y):
    """A model trained and saved by LightGBM's command-line program."""
    with tempfile.TemporaryDirectory() as tmp:
        data = "train.tsv"  # relative to cwd=tmp: the file's parameters section records it
        Xn = np.nan_to_num(X[:, :5], nan=0.0)
        np.savetxt(os.path.join(tmp, data), np.column_stack([y, Xn]), delimiter="\t", fmt="%.17g")
        model = os.path.join(FIXTURES, "cli_binary.txt")
        conf = os.path.join(tmp, "train.conf")
        with open(conf, "w") as fh:
            fh.write(f"task = train\nobjective = binary\ndata = {data}\noutput_model = {model}\n"
                     "num_iterations = 15\nnum_leaves = 15\nlearning_rate = 0.1\nnum_threads = 1\n"
                     "deterministic = true\nseed = 7\nverbosity = -1\n")
        subprocess.run([cli, f"config={conf}"], check=True, cwd=tmp)
    rng = np.random.RandomState(5)
    base = Xn[rng.choice(len(Xn), 30, replace=False)].copy()
    text = open(model).read()
    rows = list(base) + threshold_rows(rng, base, text) + special_rows(base, list(range(5)), [], {})
    record("cli_binary", model, np.array(rows), "trained and saved by the lightgbm CLI (task=train)")


def large_case():
    """500 trees of 63 leaves (what bench:model times): 3.4 MB of text, committed gzipped."""
    rng = np.random.RandomState(500)
    n, f = 20000, 28
    X = rng.normal(0, 1, size=(n, f))
    X[rng.rand(n, f) < 0.02] = np.nan
    Z = np.nan_to_num(X)
    y = (Z[:, 0] + Z[:, 1] * Z[:, 2] - np.sin(Z[:, 3]) + 0.5 * Z[:, 4:10].sum(axis=1)
         + rng.normal(0, 1, n) > 0).astype(float)
    bst = lgb.train({"objective": "binary", "num_leaves": 63, "learning_rate": 0.05, "min_data_in_leaf": 5,
                     "verbose": -1, "num_threads": 1, "deterministic": True, "seed": 7},
                    lgb.Dataset(X, y), 500)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "large_500x63.txt")
        bst.save_model(path)
        rng = np.random.RandomState(501)
        base = X[rng.choice(n, 30, replace=False)].copy()
        text = open(path).read()
        rows = list(base) + threshold_rows(rng, base, text, 30) + special_rows(base, [0, 1], [], {})
        record("large_500x63", path, np.array(rows), "500 trees x 63 leaves, 28 features (the bench model)")
        write_gzip(os.path.join(FIXTURES, "large_500x63.txt.gz"), open(path, "rb").read())


def glibc_exp_vectors():
    """glibc's exp on 4 000 inputs (Python's math.exp calls it), for model/heads/glibc-exp.ts's test.

    LightGBM's sigmoid, softmax and exp links call glibc's exp; forestd ports it. The committed
    vectors come from Debian bookworm's glibc 2.36 on a CPU with FMA and AVX2, where glibc's ifunc
    picks __exp_fma (the build the port follows).
    """
    import math
    import random
    import struct

    rng = random.Random(20280)
    xs = [0.0, -0.0, math.inf, -math.inf, 1e-300, -1e-300, 2.0**-54, 512.0, -512.0, 709.78, -708.4,
          -745.1, -745.2, 1023.9, -1023.9, 1100.0, -1100.0]
    while len(xs) < 4000:
        r = rng.random()
        scale = [1e-9, 1.0, 5.0, 40.0, 200.0, 745.0, 1100.0][int(r * 7)]
        xs.append(rng.uniform(-scale, scale))
    bits = lambda v: struct.pack("<d", v).hex()
    out = []
    for x in xs:
        try:
            y = math.exp(x)
        except OverflowError:
            y = math.inf
        out.append([bits(x), bits(y)])
    write_gzip(os.path.join(FIXTURES, "glibc_exp.json.gz"), json.dumps(
        {"source": "Python math.exp = glibc 2.36 exp (__exp_fma), little-endian float64 bits", "pairs": out},
        separators=(",", ":")).encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", help="the lightgbm executable, to train the CLI fixture")
    ap.add_argument("--only-large", action="store_true", help="only the 500-tree model")
    args = ap.parse_args()
    if not args.only_large:
        make_fixtures(args.cli)
        glibc_exp_vectors()
    large_case()


if __name__ == "__main__":
    main()
