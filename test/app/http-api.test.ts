/** The HTTP API of one worker: /predict, Open Inference Protocol, operational routes, errors. */
import { join } from "node:path";
import t from "tap";
import { loadModel, rowsToArray } from "../../model/index.js";
import { testApp } from "../helpers/app.js";
import { FIXTURES } from "../helpers/fixtures.js";

const json = (body: string) => JSON.parse(body) as Record<string, unknown>;

t.test("default model", async (t) => {
  const { app, served, close } = await testApp();
  t.teardown(close);
  const engine = loadModel(served.path);
  const expect = (rows: unknown[], margin = false) =>
    Array.from(engine.predictBatch(rowsToArray(engine, rows), rows.length, { margin }));
  const predict = (payload: unknown, url = "/predict", headers: Record<string, string> = {}) =>
    app.inject({
      method: "POST",
      url,
      payload: typeof payload === "string" ? payload : JSON.stringify(payload),
      headers: { "content-type": "application/json", ...headers },
    });

  t.test("a bare row object answers {prediction}", async (t) => {
    const r = await predict({ height: 180, weight: 80, shoe_size: 44 });
    t.equal(r.statusCode, 200);
    t.same(json(r.body), { prediction: expect([{ height: 180, weight: 80, shoe_size: 44 }])[0] });
  });

  t.test("instances by position and by name, with missing values", async (t) => {
    const rows = [[180, 80, 44], { height: 150, shoe_size: null }, [null, null, null], { weight: 120 }];
    const r = await predict({ instances: rows });
    t.equal(r.statusCode, 200);
    t.same(json(r.body).predictions, expect(rows));
  });

  t.test("?output=margin gives raw margins", async (t) => {
    const r = await predict({ instances: [[180, 80, 44]] }, "/predict?output=margin");
    t.same(json(r.body).predictions, expect([[180, 80, 44]], true));
    const bad = await predict({ instances: [[180, 80, 44]] }, "/predict?output=logits");
    t.equal(bad.statusCode, 400);
    t.match(json(bad.body), {
      code: "FORESTD_ERR_INVALID_INPUT",
      message: /"output" must be one of prediction, margin, proba, label, contribs, interactions, leaf/,
    });
  });

  t.test("bad rows: 400 naming the row and the field", async (t) => {
    const cases: [unknown, RegExp, Record<string, unknown>][] = [
      [
        { instances: [[1, 2, 3], { height: 1, hair: 2 }] },
        /row 1: unknown feature "hair"/,
        { row: 1, field: "hair" },
      ],
      [{ instances: [[1, 2]] }, /row 0 has 2 values; the model takes 3 features/, { row: 0 }],
      [
        { instances: [[1, "2", 3]] },
        /row 0, feature 1 \("weight"\): expected a number or null, got the string "2"/,
        { row: 0, field: "weight" },
      ],
      [{ instances: [] }, /"instances" is empty/, {}],
      [{ instances: "rows" }, /"instances" must be an array/, {}],
      [[1, 2, 3], /the body must be/, {}],
      [{ height: "tall" }, /row 0, feature "height": expected a number or null/, { field: "height" }],
    ];
    for (const [body, message, extra] of cases) {
      const r = await predict(body);
      t.equal(r.statusCode, 400, JSON.stringify(body));
      t.match(json(r.body), { statusCode: 400, code: "FORESTD_ERR_INVALID_INPUT", message, ...extra });
    }
  });

  t.test("broken JSON, wrong content type, too large", async (t) => {
    const broken = await predict('{"instances": [[1, 2,');
    t.equal(broken.statusCode, 400);
    t.equal(json(broken.body).code, "FORESTD_ERR_INVALID_JSON");
    const text = await app.inject({
      method: "POST",
      url: "/predict",
      payload: "height=180",
      headers: { "content-type": "text/plain" },
    });
    t.equal(text.statusCode, 415);
    t.equal(json(text.body).code, "FORESTD_ERR_UNSUPPORTED_MEDIA_TYPE");
    const huge = await predict({
      instances: Array.from({ length: 400_000 }, () => [180.123456, 80.123456, 44.5]),
    });
    t.equal(huge.statusCode, 413);
    t.equal(json(huge.body).code, "FORESTD_ERR_BODY_TOO_LARGE");
  });

  t.test("__proto__ in a row is refused and pollutes nothing", async (t) => {
    const r = await predict('{"instances": [{"height": 180, "__proto__": {"polluted": 1}}]}');
    t.equal(r.statusCode, 400);
    t.match(json(r.body), { code: "FORESTD_ERR_INVALID_JSON" });
    t.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  t.test("OIP: metadata, health, infer with flat and nested data", async (t) => {
    t.same(json((await app.inject("/v2")).body).name, "forestd");
    t.same(json((await app.inject("/v2/health/live")).body), { live: true });
    t.same(json((await app.inject("/v2/health/ready")).body), { ready: true });
    const meta = json((await app.inject("/v2/models/default")).body);
    t.match(meta, {
      name: "default",
      platform: "xgboost",
      inputs: [{ datatype: "FP32", shape: [-1, 3] }],
      outputs: [{ name: "predict" }],
    });
    t.same(json((await app.inject("/v2/models/default/ready")).body), { name: "default", ready: true });
    const rows = [
      [180, 80, 44],
      [150, 45, 35],
    ];
    for (const data of [rows, rows.flat()]) {
      const r = await predict(
        { id: "r1", inputs: [{ name: "x", shape: [2, 3], datatype: "FP64", data }] },
        "/v2/models/default/infer",
      );
      t.equal(r.statusCode, 200);
      t.match(json(r.body), {
        model_name: "default",
        id: "r1",
        outputs: [{ name: "predict", datatype: "FP32", shape: [2], data: expect(rows) }],
      });
    }
    const unknown = await predict(
      { inputs: [{ name: "x", shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }] },
      "/v2/models/other/infer",
    );
    t.equal(unknown.statusCode, 404);
    t.match(json(unknown.body), { code: "FORESTD_ERR_MODEL_NOT_FOUND", error: /no model named "other"/ });
    t.equal((await app.inject("/v2/models/other")).statusCode, 404);
    const badShape = await predict(
      { inputs: [{ name: "x", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }] },
      "/v2/models/default/infer",
    );
    t.match(json(badShape.body), {
      code: "FORESTD_ERR_INVALID_INPUT",
      message: /shape \[1, 4\]; the model takes \[N, 3\]/,
    });
    const short = await predict(
      { inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", data: [1, 2, 3] }] },
      "/v2/models/default/infer",
    );
    t.match(json(short.body), { message: /has 3 values; shape \[2, 3\] needs 6/ });
    const long = await predict(
      { inputs: [{ name: "x", shape: [1, 3], datatype: "FP32", data: [1, 2, 3, 4] }] },
      "/v2/models/default/infer",
    );
    t.equal(long.statusCode, 400);
    t.match(json(long.body), {
      code: "FORESTD_ERR_INVALID_INPUT",
      message: /more data than its shape \[1, 3\]/,
    });
    const margins = await predict(
      {
        parameters: { output: "margin" },
        inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", data: rows }],
      },
      "/v2/models/default/infer",
    );
    t.equal(margins.statusCode, 200);
    t.match(json(margins.body), { outputs: [{ name: "margin", shape: [2], data: expect(rows, true) }] });
    t.not(expect(rows, true)[0], expect(rows)[0], "margins are not the predictions");
    const proba = await predict(
      {
        parameters: { output: "proba" },
        inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", data: rows }],
      },
      "/v2/models/default/infer",
    );
    t.equal(proba.statusCode, 200, "parameters.output=proba is OIP's predict_proba");
    t.match(json(proba.body), { outputs: [{ name: "predict_proba", shape: [2, 2] }] });
    const dtype = await predict(
      { inputs: [{ name: "x", shape: [1, 3], datatype: "BYTES", data: ["a", "b", "c"] }] },
      "/v2/models/default/infer",
    );
    t.equal(dtype.statusCode, 400);
    t.match(json(dtype.body).message, /inputs/);
  });

  t.test("operational routes", async (t) => {
    t.same(json((await app.inject("/healthz")).body), { status: "ok" });
    t.same(json((await app.inject("/readyz")).body), { ready: true });
    const model = json((await app.inject("/model")).body);
    t.match(model, {
      name: "default",
      objective: "binary:logistic",
      features: ["height", "weight", "shoe_size"],
      classes: ["0", "1"],
      trees: 50,
    });
    t.match(model.sha256, /^[0-9a-f]{64}$/);
    t.match(
      model.kernel,
      /^SIMD, 8-bit bins/,
      "the bundled model is scored by the SIMD kernel, and /model says so",
    );
    const metrics = await app.inject("/metrics");
    t.match(metrics.headers["content-type"], /text\/plain/);
    t.match(metrics.body, /forestd_http_requests_total\{method="POST",route="\/predict",status="200"\} \d+/);
    t.match(metrics.body, /forestd_rows_total\{model="default"\} \d+/);
    t.match(metrics.body, /forestd_predictions_total\{model="default",class="1"\} \d+/);
    t.match(metrics.body, /forestd_rejected_total\{reason="invalid_input"\} \d+/);
    const spec = json((await app.inject("/openapi.json")).body) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    t.equal(spec.openapi, "3.0.3");
    for (const path of [
      "/predict",
      "/v2/models/{name}/infer",
      "/v2/models/{name}",
      "/healthz",
      "/readyz",
      "/model",
      "/metrics",
    ]) {
      t.ok(spec.paths[path], `OpenAPI documents ${path}`);
    }
    const missing = await app.inject("/nope");
    t.equal(missing.statusCode, 404);
    t.equal(json(missing.body).code, "FORESTD_ERR_NOT_FOUND");
  });
});

t.test("readiness turns false while draining", async (t) => {
  const { app, setReady, close } = await testApp();
  t.teardown(close);
  setReady(false);
  const r = await app.inject("/readyz");
  t.equal(r.statusCode, 503);
  t.equal(r.headers["retry-after"], "1");
  t.equal((await app.inject("/v2/health/ready")).statusCode, 503);
  t.equal((await app.inject("/healthz")).statusCode, 200, "still alive");
});

t.test("multi:softprob: an array of class probabilities per row", async (t) => {
  const { app, close } = await testApp(["--model", join(FIXTURES, "multi_softprob.ubj")]);
  t.teardown(close);
  const r = await app.inject({
    method: "POST",
    url: "/predict",
    payload: { instances: [[1, 2, 3, 4, 5, 6], { alpha: 1 }] },
  });
  const { predictions } = json(r.body) as { predictions: number[][] };
  t.equal(predictions.length, 2);
  t.equal(predictions[0].length, 3);
  const infer = await app.inject({
    method: "POST",
    url: "/v2/models/multi_softprob/infer",
    payload: { inputs: [{ name: "x", shape: [1, 6], datatype: "FP32", data: [1, 2, 3, 4, 5, 6] }] },
  });
  t.match(json(infer.body), { outputs: [{ shape: [1, 3], data: predictions[0] }] });
});
