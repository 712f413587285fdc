#!/usr/bin/python3
"""scikit-learn's side of bench:model: the 500-tree RandomForest models, and their own predict_proba timed.

Usage:
  /usr/bin/python3 scripts/sklearn_bench.py make DIR
      Trains (once; kept in DIR) rf500.joblib, a 500-tree fully grown RandomForestClassifier on
      make_classification(6 000 rows, 20 features) — about 37 MB — and rf500_big.joblib, the same on
      17 000 rows — about 94 MB, the load-time and memory model. Prints their sizes and node counts.
  /usr/bin/python3 scripts/sklearn_bench.py time MODEL ROWS.f64 NUM_FEATURE BATCH[,BATCH...] SECONDS
      Reads row-major float64 rows and times model.predict_proba(x) with n_jobs=1 per batch size,
      as a Flask server would call it; prints JSON. The proba of the first 10 000 rows is written
      beside ROWS as ROWS.proba.f64, so bench:model can check forestd's answer bit for bit.
"""
import json
import os
import sys
import time

import joblib
import numpy as np
import sklearn
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier


def make(folder):
    os.makedirs(folder, exist_ok=True)
    out = {}
    for name, samples in (("rf500.joblib", 6000), ("rf500_big.joblib", 17000)):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            X, y = make_classification(n_samples=samples, n_features=20, n_informative=10, random_state=0)
            model = RandomForestClassifier(n_estimators=500, random_state=0, n_jobs=-1).fit(X, y)
            model.n_jobs = 1
            joblib.dump(model, path + ".part")
            os.replace(path + ".part", path)
        out[name] = os.path.getsize(path)
    print(json.dumps(out))


def timed(model_path, rows_path, nf, batches, seconds):
    X = np.fromfile(rows_path, dtype=np.float64).reshape(-1, int(nf))
    model = joblib.load(model_path)
    model.n_jobs = 1
    model.predict_proba(X[:10000]).astype(np.float64).tofile(rows_path + ".proba.f64")
    out = {"sklearn": sklearn.__version__, "results": []}
    for batch in (int(b) for b in batches.split(",")):
        data = [X[i:i + batch] for i in range(0, len(X) - batch + 1, batch)] or [X[:batch]]
        for x in data[:3]:  # warm-up
            model.predict_proba(x)
        rows = 0
        calls = 0
        start = time.perf_counter()
        while time.perf_counter() - start < float(seconds):
            model.predict_proba(data[calls % len(data)])
            rows += batch
            calls += 1
        elapsed = time.perf_counter() - start
        out["results"].append({"batch": batch, "rowsPerSec": rows / elapsed, "usPerCall": elapsed / calls * 1e6})
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "time":
        timed(*sys.argv[2:7])
    else:
        sys.exit(__doc__)
