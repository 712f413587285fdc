#!/usr/bin/python3
"""XGBoost's own single-thread predictor on the rows bench:model scores, for the side-by-side ratio.

Usage: /usr/bin/python3 scripts/xgboost_bench.py MODEL ROWS.f32 NUM_FEATURE BATCH[,BATCH...] SECONDS [KIND] [REPS]
Reads row-major float32 rows, times Booster.inplace_predict(nthread=1) per batch size, prints JSON.
KIND contribs or interactions times Booster.predict(DMatrix, pred_contribs / pred_interactions=True)
instead (the DMatrix is built outside the timed loop). REPS: instead of timing, predict every row
REPS times and print nothing (bench:model --instructions runs this under callgrind).
"""
import json
import sys
import time

import numpy as np

# xgboost imports scikit-learn when it is installed, and scikit-learn's scipy.special fails to
# initialise under valgrind (its boost ufuncs); this script never uses it, so callgrind runs
# (bench:model --instructions) would otherwise end before predicting anything.
sys.modules.setdefault("sklearn", None)
import xgboost as xgb  # noqa: E402


def main():
    if len(sys.argv) < 6 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    model, rows_path, nf, batches, seconds = sys.argv[1:6]
    kind = sys.argv[6] if len(sys.argv) > 6 else "predict"
    reps = int(sys.argv[7]) if len(sys.argv) > 7 else None
    nf = int(nf)
    seconds = float(seconds)
    X = np.fromfile(rows_path, dtype=np.float32).reshape(-1, nf)
    bst = xgb.Booster(model_file=model)
    bst.set_param({"nthread": 1})
    out = {"xgboost": xgb.__version__, "kind": kind, "results": []}
    for batch in (int(b) for b in batches.split(",")):
        data = [X[i:i + batch] for i in range(0, len(X) - batch + 1, batch)] or [X[:batch]]
        if kind == "predict":
            def call(x):
                return bst.inplace_predict(x)
        else:
            data = [xgb.DMatrix(x, missing=np.nan, nthread=1) for x in data[:64]]
            flag = {"contribs": "pred_contribs", "interactions": "pred_interactions"}[kind]

            def call(x):
                return bst.predict(x, **{flag: True})
        call(data[0])  # warm-up
        if reps is not None:
            for _ in range(reps):
                for x in data:
                    call(x)
            continue
        rows = 0
        calls = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            call(data[calls % len(data)])
            rows += batch
            calls += 1
        elapsed = time.perf_counter() - start
        out["results"].append({"batch": batch, "rowsPerSec": rows / elapsed, "usPerCall": elapsed / calls * 1e6})
    if reps is None:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
