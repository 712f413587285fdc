#!/usr/bin/python3
"""LightGBM's own single-thread predict on the rows bench:model scores, for the side-by-side ratio.

Usage: PYTHONPATH=/path/to/LightGBM/python-package /usr/bin/python3 scripts/lightgbm_bench.py \\
           MODEL ROWS.f64 NUM_FEATURE BATCH[,BATCH...] SECONDS
Reads row-major float64 rows, times Booster.predict(x, num_threads=1) per batch size (what a
Python server calls: LightGBM's C API through its ctypes wrapper), prints JSON. LightGBM has no
Debian package: it is built from source (see scripts/make_lightgbm_fixtures.py).
"""
import json
import os
import sys
import time

import numpy as np
import lightgbm as lgb


def version():
    path = os.path.join(os.path.dirname(lgb.__file__), "..", "..", "VERSION.txt")
    return open(path).read().strip() if os.path.exists(path) else getattr(lgb, "__version__", "unknown")


def main():
    model, rows_path, nf, batches, seconds = sys.argv[1:6]
    nf = int(nf)
    seconds = float(seconds)
    X = np.fromfile(rows_path, dtype=np.float64).reshape(-1, nf)
    bst = lgb.Booster(model_file=model)
    out = {"lightgbm": version(), "results": []}
    for batch in (int(b) for b in batches.split(",")):
        data = [X[i:i + batch] for i in range(0, len(X) - batch + 1, batch)] or [X[:batch]]
        for x in data[:50]:  # warm-up
            bst.predict(x, num_threads=1)
        rows = 0
        calls = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            bst.predict(data[calls % len(data)], num_threads=1)
            rows += batch
            calls += 1
        elapsed = time.perf_counter() - start
        out["results"].append({"batch": batch, "rowsPerSec": rows / elapsed, "usPerCall": elapsed / calls * 1e6})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
