"""Gunicorn + Flask + XGBoost: the stack forestd replaces, as `npm run bench`'s baseline.

Started by the bench with Debian's system python3 (packages python3-flask, gunicorn, python3-xgboost):

    MODEL_PATH=model/default/model.json /usr/bin/python3 -m gunicorn -w 2 -b 127.0.0.1:8001 \
        --chdir scripts gunicorn_app:app

It accepts the bodies forestd's /predict accepts (one row object, or {"instances": [rows]} with rows
as arrays or objects keyed by feature name) and answers the same JSON, so the bench sends both the
same requests. Scoring uses XGBoost's fastest path, inplace_predict, with one thread per worker
(sync workers: one request at a time each, as in the deployments forestd replaces).
"""

import math
import os

import numpy as np
import xgboost as xgb
from flask import Flask, jsonify, request

booster = xgb.Booster()
booster.load_model(os.environ.get("MODEL_PATH", "model/default/model.json"))
booster.set_param({"nthread": 1})
feature_names = booster.feature_names or []

app = Flask(__name__)


def to_row(row):
    if isinstance(row, dict):
        values = [row.get(name) for name in feature_names]
    else:
        values = row
    return [math.nan if v is None else float(v) for v in values]


@app.post("/predict")
def predict():
    body = request.get_json()
    single = "instances" not in body
    rows = [to_row(body)] if single else [to_row(r) for r in body["instances"]]
    predictions = booster.inplace_predict(np.asarray(rows, dtype=np.float32)).tolist()
    return jsonify({"prediction": predictions[0]} if single else {"predictions": predictions})


@app.get("/readyz")
def ready():
    return jsonify({"ready": True})
