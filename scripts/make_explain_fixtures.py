#!/usr/bin/python3
"""Record XGBoost's own explanations (pred_leaf, pred_contribs, pred_interactions) for the fixture models.

Run with Debian's system python3 (python3-xgboost 1.7.x) after scripts/make_fixtures.py:

    /usr/bin/python3 scripts/make_explain_fixtures.py

For each test/fixtures/models/<name>.json that XGBoost itself can load, writes
test/fixtures/explain/<name>.json with a few of the rows of <name>.expected.json (the first
ROWS ones plus the last THRESHOLD_ROWS, which sit on split thresholds) and XGBoost's outputs for
them, as float32 values widened exactly to float64. The existing expected files are only read.
"""
import json
import sys
import os

import numpy as np
import xgboost as xgb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "test", "fixtures", "models")
OUT = os.path.join(ROOT, "test", "fixtures", "explain")
ROWS = 6
THRESHOLD_ROWS = 2
# (F+1)^2 values per row and class: keep the committed file small.
INTERACTION_ROWS = 3


def f32_list(a):
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def main():
    os.makedirs(OUT, exist_ok=True)
    for file in sorted(os.listdir(MODELS)):
        if not file.endswith(".expected.json"):
            continue
        name = file[: -len(".expected.json")]
        expected = json.load(open(os.path.join(MODELS, file)))
        if "synthetic" in expected:
            continue  # a newer XGBoost's spelling that 1.7 cannot load
        model_path = os.path.join(MODELS, name + ".json")
        model_json = json.load(open(model_path))
        bst = xgb.Booster(model_file=model_path)
        bst.set_param({"nthread": 1})
        rows = expected["rows"][:ROWS] + expected["rows"][-THRESHOLD_ROWS:]
        X = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)
        types = model_json["learner"].get("feature_types") or None
        dm = xgb.DMatrix(X, missing=np.nan, feature_names=bst.feature_names, feature_types=types,
                         enable_categorical=types is not None and "c" in types)
        leaf = bst.predict(dm, pred_leaf=True)
        contribs = bst.predict(dm, pred_contribs=True)
        dm_small = dm.slice(list(range(INTERACTION_ROWS)))
        interactions = bst.predict(dm_small, pred_interactions=True)
        out = {
            "model": name,
            "xgboost": xgb.__version__,
            "rows": expected["rows"][:ROWS] + expected["rows"][-THRESHOLD_ROWS:],
            "leaf_shape": list(leaf.shape),
            "leaf": [int(v) for v in leaf.ravel()],
            "contribs_shape": list(contribs.shape),
            "contribs": f32_list(contribs),
            "interaction_rows": INTERACTION_ROWS,
            "interactions_shape": list(interactions.shape),
            "interactions": f32_list(interactions),
        }
        with open(os.path.join(OUT, name + ".json"), "w") as fh:
            json.dump(out, fh, separators=(",", ":"))
        print(name, out["leaf_shape"], out["contribs_shape"], out["interactions_shape"])


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(__doc__.strip())
        sys.exit(0 if sys.argv[1] in ("-h", "--help") else 2)
    main()
