/**
 * Explanations and labels over HTTP: /predict?output=..., OIP parameters.output and output
 * selection, metadata shapes, CLASS_NAMES and THRESHOLD, and the 400s for what a model cannot give.
 */
import { join } from "node:path";
import t from "tap";
import { loadModel, rowsToArray } from "../../model/index.js";
import { labelOptions } from "../../model/outputs.js";
import { loadServedModel } from "../../workers/http/served-model.js";
import { testApp } from "../helpers/app.js";
import { compareShap, explainFixtures } from "../helpers/explain-fixtures.js";
import { FIXTURES } from "../helpers/fixtures.js";

const json = (body: string) => JSON.parse(body) as Record<string, unknown>;
const fixture = (name: string) => {
  const found = explainFixtures().find((f) => f.name === name);
  if (!found) throw new Error(`no explain fixture ${name}`);
  return found;
};

async function app(model: string, env: Record<string, string> = {}) {
  // Inline scoring off: an explanation row's cost is measured against predictions scored on the threads.
  const a = await testApp([], {
    MODEL_PATH: join(FIXTURES, `${model}.json`),
    MODEL_NAME: "m",
    INLINE_SCORING_MAX_US: "0",
    ...env,
  });
  const post = (url: string, payload: unknown) =>
    a.app.inject({
      method: "POST",
      url,
      payload: JSON.stringify(payload),
      headers: { "content-type": "application/json" },
    });
  return { ...a, post };
}

t.test("/predict?output=contribs|interactions|leaf equals XGBoost, multi-class dart", async (t) => {
  const { post, close, batcher } = await app("dart_multi");
  t.teardown(close);
  const { expected } = fixture("dart_multi");
  const width = expected.contribs_shape[2];

  const leaf = await post("/predict?output=leaf", { instances: expected.rows });
  t.equal(leaf.statusCode, 200, leaf.body);
  t.same((json(leaf.body).predictions as number[][]).flat(), expected.leaf, "leaf ids");

  const contribs = await post("/predict?output=contribs", { instances: expected.rows });
  const c = json(contribs.body).predictions as number[][][];
  t.same([c.length, c[0].length, c[0][0].length], expected.contribs_shape, "(N, K, F+1)");
  t.equal(compareShap(c.flat(2), expected.contribs, width).far, 0, "contribs values");

  const few = expected.rows.slice(0, expected.interaction_rows);
  const inter = await post("/predict?output=interactions", { instances: few });
  const i = json(inter.body).predictions as number[][][][];
  t.same([i.length, i[0].length, i[0][0].length, i[0][0][0].length], expected.interactions_shape);
  t.equal(compareShap(i.flat(3), expected.interactions, width * width).far, 0, "interactions values");

  // The admission estimate learned what an explanation row costs, from the threads' own timing.
  t.ok(batcher.costFactor("interactions") >= 1, `interactions cost ${batcher.costFactor("interactions")}×`);
  await post("/predict", { instances: expected.rows });
  t.ok(
    batcher.costFactor("contribs") > 1,
    `a contribs row costs ${batcher.costFactor("contribs").toFixed(0)} prediction rows`,
  );

  const label = await post("/predict?output=label", { instances: expected.rows });
  const engine = loadModel(join(FIXTURES, "dart_multi.json"));
  const probs = engine.predictBatch(rowsToArray(engine, expected.rows), expected.rows.length);
  const argmax = expected.rows.map((_, r) => {
    const p = Array.from(probs.subarray(r * 3, r * 3 + 3));
    return p.indexOf(Math.max(...p));
  });
  t.same(json(label.body).predictions, argmax, "labels: the most probable class index");
});

t.test("binary labels: CLASS_NAMES, THRESHOLD, metrics by class name", async (t) => {
  const {
    post,
    app: server,
    close,
  } = await app("binary_logistic", { CLASS_NAMES: "stay,churn", THRESHOLD: "0.3" });
  t.teardown(close);
  const rows = fixture("binary_logistic").expected.rows;
  const probs = json((await post("/predict", { instances: rows })).body).predictions as number[];
  const labels = json((await post("/predict?output=label", { instances: rows })).body).predictions;
  t.same(
    labels,
    probs.map((p) => (p > 0.3 ? "churn" : "stay")),
    "names, split at THRESHOLD",
  );
  const one = await post("/predict?output=label", { alpha: 1 });
  t.match(json(one.body), { prediction: /^(stay|churn)$/ }, "a bare row gets {prediction}");
  const metrics = await server.inject({ method: "GET", url: "/metrics" });
  t.match(metrics.body, /forestd_predictions_total\{[^}]*class="(stay|churn)"[^}]*\} \d+/);
  t.notMatch(metrics.body, /forestd_predictions_total\{[^}]*class="0"/, "no index labels when names are set");
});

t.test("OIP: parameters.output, several outputs by name, metadata shapes", async (t) => {
  const { post, app: server, close } = await app("multi_softprob", { CLASS_NAMES: "a,b,c" });
  t.teardown(close);
  const { expected } = fixture("multi_softprob");
  const rows = expected.rows.slice(0, 2);
  const input = { name: "input-0", datatype: "FP32", shape: [2, 6], data: rows.flat() };

  const meta = json((await server.inject({ method: "GET", url: "/v2/models/m" })).body);
  t.same(
    (meta.outputs as { name: string; shape: number[] }[]).map((o) => [o.name, o.shape]),
    [
      ["predict", [-1, 3]],
      ["predict_proba", [-1, 3]],
      ["margin", [-1, 3]],
      ["label", [-1]],
      ["contribs", [-1, 3, 7]],
      ["interactions", [-1, 3, 7, 7]],
      ["leaf", [-1, 36]],
    ],
    "every output, with its shape",
  );

  const viaParam = json(
    (await post("/v2/models/m/infer", { inputs: [input], parameters: { output: "contribs" } })).body,
  );
  const contribs = (viaParam.outputs as { name: string; shape: number[]; data: number[] }[])[0];
  t.same([contribs.name, contribs.shape], ["contribs", [2, 3, 7]]);
  t.equal(compareShap(contribs.data, expected.contribs.slice(0, 2 * 21), 7).far, 0, "contribs values");

  const many = await post("/v2/models/m/infer", {
    inputs: [input],
    outputs: [{ name: "predict_proba" }, { name: "label" }, { name: "leaf" }, { name: "margin" }],
  });
  t.equal(many.statusCode, 200, many.body);
  const outs = json(many.body).outputs as {
    name: string;
    datatype: string;
    shape: number[];
    data: unknown[];
  }[];
  t.same(
    outs.map((o) => [o.name, o.datatype, o.shape]),
    [
      ["predict_proba", "FP32", [2, 3]],
      ["label", "BYTES", [2]],
      ["leaf", "FP32", [2, 36]],
      ["margin", "FP32", [2, 3]],
    ],
  );
  t.same(outs[2].data, expected.leaf.slice(0, 72), "leaf ids");
  const proba = outs[0].data as number[];
  t.same(
    outs[1].data,
    [0, 1].map(
      (r) =>
        ["a", "b", "c"][proba.slice(r * 3, r * 3 + 3).indexOf(Math.max(...proba.slice(r * 3, r * 3 + 3)))],
    ),
  );

  const unknown = await post("/v2/models/m/infer", { inputs: [input], outputs: [{ name: "shap" }] });
  t.equal(unknown.statusCode, 400);
  t.match(json(unknown.body).message, /unknown output "shap"; outputs are predict, predict_proba/);
});

t.test("what a model cannot give: a 400 naming it; the OpenAPI document lists the outputs", async (t) => {
  const { post, close, app: server } = await app("reg_squarederror");
  const spec = (await server.inject("/openapi.json")).body;
  for (const name of ["contribs", "interactions", "leaf", "label", "predict_proba"])
    t.match(spec, new RegExp(`\\b${name}\\b`), `openapi.json documents ${name}`);
  t.teardown(close);
  const row = [[1, 2, 3, 4, 5, 6]];
  const label = await post("/predict?output=label", { instances: row });
  t.equal(label.statusCode, 400);
  t.match(json(label.body), {
    code: "FORESTD_ERR_INVALID_INPUT",
    message: /output "label" needs a classifier; this model \(reg:squarederror\) is a regression model/,
  });
  const wide = await post("/predict?output=interactions", { instances: Array(90_000).fill(row[0]) });
  t.equal(wide.statusCode, 400, "an answer too large to build is refused, not attempted");
  t.match(json(wide.body).message, /output "interactions" is 49 values per row; 90000 rows would be 4410000/);
  const proba = await post("/v2/models/m/infer", {
    inputs: [{ name: "x", datatype: "FP32", shape: [1, 6], data: row[0] }],
    outputs: [{ name: "predict_proba" }, { name: "contribs" }],
  });
  t.equal(proba.statusCode, 400);
  t.match(json(proba.body).message, /predict_proba" needs a classifier/);
});

t.test("CLASS_NAMES that do not fit the model are refused at start", async (t) => {
  const path = join(FIXTURES, "binary_logistic.json");
  t.throws(
    () =>
      loadServedModel(path, "m", undefined, labelOptions({ class_names: ["a", "b", "c"], threshold: 0.5 })),
    /CLASS_NAMES has 3 name\(s\) \(a, b, c\), but the model \(binary:logistic\) has 2 classes/,
  );
  t.throws(
    () =>
      loadServedModel(
        join(FIXTURES, "reg_gamma.json"),
        "m",
        undefined,
        labelOptions({ class_names: ["a", "b"], threshold: 0.5 }),
      ),
    /not a classifier/,
  );
  t.throws(
    () => loadServedModel(path, "m", undefined, labelOptions({ class_names: ["a", "a"], threshold: 0.5 })),
    /names "a" twice/,
  );
});
