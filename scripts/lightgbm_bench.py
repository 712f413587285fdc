#!/usr/bin/python3
"""LightGBM's own single-thread predict on the rows bench:model scores, for the side-by-side ratio.

Usage: PYTHONPATH=/path/to/LightGBM/python-package /usr/bin/python3 scripts/lightgbm_bench.py \\
           MODEL ROWS.f64 NUM_FEATURE BATCH[,BATCH...] SECONDS
Reads row-major float64 rows, times Booster.predict(x, num_threads=1) per batch size (what a
Python server calls: LightGBM's C API through its ctypes wrapper), prints JSON. For batch 1 it also
times LightGBM's fastest single-row entry, LGBM_BoosterPredictForMatSingleRowFast (set up once,
called through ctypes), which leaves out most of predict()'s Python overhead. LightGBM has no
Debian package: it is built from source (see scripts/make_lightgbm_fixtures.py).
"""
import ctypes
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
        if batch == 1:
            out["singleRowFast"] = time_single_row_fast(bst, X, nf, seconds)
    print(json.dumps(out))


def time_single_row_fast(bst, X, nf, seconds):
    """LGBM_BoosterPredictForMatSingleRowFast: C_API_PREDICT_NORMAL, C_API_DTYPE_FLOAT64, one thread."""
    lib = lgb.basic._LIB
    config = ctypes.c_void_p()
    ok = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
        bst._handle, ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(-1), ctypes.c_int(1), ctypes.c_int32(nf),
        ctypes.c_char_p(b"num_threads=1"), ctypes.byref(config))
    if ok != 0:
        return None
    rows = [np.ascontiguousarray(X[i]) for i in range(min(len(X), 1000))]
    pointers = [r.ctypes.data_as(ctypes.c_void_p) for r in rows]
    out_len = ctypes.c_int64(0)
    result = (ctypes.c_double * 8)()
    fast = lib.LGBM_BoosterPredictForMatSingleRowFast
    for p in pointers[:50]:
        fast(config, p, ctypes.byref(out_len), result)
    calls = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        fast(config, pointers[calls % len(pointers)], ctypes.byref(out_len), result)
        calls += 1
    elapsed = time.perf_counter() - start
    lib.LGBM_FastConfigFree(config)
    return {"batch": 1, "rowsPerSec": calls / elapsed, "usPerCall": elapsed / calls * 1e6}


if __name__ == "__main__":
    main()
