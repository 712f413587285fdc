/**
 * One worker app serving several models and versions (as the primary's registry would tell it):
 * routing by name and version on /predict and the Open Inference Protocol, the default model, the
 * models list, names that are not models, and a model replaced and removed under load with no
 * failed request for the others.
 */
import { join } from "node:path";
import t from "tap";
import { loadModel } from "../../model/index.js";
import { modelSet, modelSpec, testApp } from "../helpers/app.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";

const ONNX = join(ROOT, "test", "fixtures", "onnx");
const files = {
  churn: join(FIXTURES, "binary_logistic.json"),
  churnV2: join(FIXTURES, "binary_logistic_base.json"),
  price: join(FIXTURES, "reg_squarederror.ubj"),
  forest: join(ONNX, "rf_regressor.onnx"),
};
const ROW = [1.5, -2, 3, 0.25, 7, -1];

function expected(file: string, rows: number[][]): number[] {
  const model = loadModel(file);
  const values =
    model.rowPrecision === "f64" ? Float64Array.from(rows.flat()) : Float32Array.from(rows.flat());
  return Array.from(model.predictBatch(values, rows.length));
}

async function app() {
  const models = [
    modelSpec(files.churn, "churn", { version: "1", isDefault: false }),
    modelSpec(files.churnV2, "churn", { version: "2", isDefault: true }),
    modelSpec(files.price, "price"),
    modelSpec(files.forest, "forest"),
  ];
  return testApp([], {}, { models, defaultModel: "price" });
}

t.test("every model by name and version, on /predict and OIP", async (t) => {
  const { app: server, close } = await app();
  t.teardown(close);
  const post = async (url: string, payload: unknown) => {
    const r = await server.inject({ method: "POST", url, payload: payload as object });
    return { status: r.statusCode, json: r.json() as Record<string, unknown> };
  };
  const forestWidth = loadModel(files.forest).numFeature;
  const forestRow = Array.from({ length: forestWidth }, (_, i) => (i % 3) - 0.5);

  t.same(
    (await post("/predict/churn", { instances: [ROW] })).json.predictions,
    expected(files.churnV2, [ROW]),
    "churn: its default version (2)",
  );
  t.same(
    (await post("/predict/churn/versions/1", { instances: [ROW] })).json.predictions,
    expected(files.churn, [ROW]),
    "churn version 1",
  );
  t.same(
    (await post("/predict", { instances: [ROW] })).json.predictions,
    expected(files.price, [ROW]),
    "/predict: the default model",
  );
  t.same(
    (await post("/predict/forest", { instances: [forestRow] })).json.predictions,
    expected(files.forest, [forestRow]),
    "an ONNX model beside the XGBoost ones",
  );

  const infer = await post("/v2/models/churn/versions/1/infer", {
    id: "q1",
    inputs: [{ name: "input-0", datatype: "FP32", shape: [1, 6], data: ROW }],
  });
  t.match(infer.json, {
    model_name: "churn",
    model_version: "1",
    id: "q1",
    outputs: [{ name: "predict", data: expected(files.churn, [ROW]) }],
  });
  const unversioned = await post("/v2/models/churn/infer", {
    inputs: [{ name: "input-0", datatype: "FP32", shape: [1, 6], data: ROW }],
  });
  t.match(unversioned.json, { model_version: "2" }, "without a version: the default one");

  const meta = (await server.inject("/v2/models/churn")).json();
  t.match(meta, { name: "churn", versions: ["1", "2"], platform: "xgboost" });
  t.same((await server.inject("/v2/models/churn/versions/1/ready")).json(), { name: "churn", ready: true });
  const list = (await server.inject("/v2/models")).json();
  t.same(list.models, ["churn", "forest", "price"]);
  t.equal(list.index.length, 4, "one index line per version");
  t.same((await server.inject("/v2/")).json(), (await server.inject("/v2")).json(), "/v2/ is /v2");
  t.match((await server.inject("/model/churn/versions/1")).json(), {
    name: "churn",
    version: "1",
    trees: loadModel(files.churn).numTrees,
  });
});

t.test("names that are no model: a clear 404, whatever the trick", async (t) => {
  const { app: server, close } = await app();
  t.teardown(close);
  const infer = { inputs: [{ name: "x", datatype: "FP32", shape: [1, 6], data: ROW }] };
  for (const name of ["nope", "..%2F..%2Fetc", "churn%2F1", "%2e%2e", "a".repeat(1000), "churn%00"]) {
    const r = await server.inject({ method: "POST", url: `/v2/models/${name}/infer`, payload: infer });
    t.equal(r.statusCode, 404, `/v2/models/${name.slice(0, 20)}/infer: 404`);
    // "%2e%2e" is ".." to the router: /v2/models/../infer is /v2/infer, no route at all.
    t.match(r.json().code, /^FORESTD_ERR_(MODEL_)?NOT_FOUND$/);
    t.ok(r.json().message.length < 700, "the name is quoted shortened");
    const p = await server.inject({ method: "POST", url: `/predict/${name}`, payload: { instances: [ROW] } });
    t.equal(p.statusCode, 404, `/predict/${name.slice(0, 20)}: 404`);
  }
  const version = await server.inject({
    method: "POST",
    url: "/v2/models/churn/versions/7/infer",
    payload: infer,
  });
  t.equal(version.statusCode, 404);
  t.match(version.json(), {
    code: "FORESTD_ERR_MODEL_VERSION_NOT_FOUND",
    message: /its versions served: 1, 2/,
  });
  t.equal((await server.inject("/v2/models/churn/versions/../1")).statusCode, 404);
});

t.test(
  "a model replaced, one added and one removed under load: no failed request for the others",
  async (t) => {
    const { app: server, table, close } = await app();
    t.teardown(close);
    const before = expected(files.churnV2, [ROW])[0];
    const after = expected(files.price, [ROW])[0];
    let stop = false;
    const failures: string[] = [];
    const answers: number[] = [];
    const client = async (url: string, record: boolean) => {
      while (!stop) {
        const r = await server.inject({ method: "POST", url, payload: { instances: [ROW] } });
        if (r.statusCode !== 200) failures.push(`${url}: ${r.statusCode} ${r.body.slice(0, 100)}`);
        else if (record) answers.push(r.json().predictions[0]);
      }
    };
    const clients = [
      client("/predict/churn", true),
      client("/predict/price", false),
      client("/predict/forest", false),
    ];
    await new Promise((r) => setTimeout(r, 150));
    // churn's version 2 replaced by other bytes, "extra" added, "forest" removed: each applied in turn.
    const v1 = modelSpec(files.churn, "churn", { version: "1", isDefault: false });
    const price = modelSpec(files.price, "price");
    const forest = modelSpec(files.forest, "forest");
    const replaced = modelSpec(files.price, "churn", { version: "2", isDefault: true });
    await table.apply({ ...modelSet([v1, replaced, price, forest], "price", 2) });
    await table.apply({
      ...modelSet([v1, replaced, price, forest, modelSpec(files.churn, "extra")], "price", 3),
    });
    await new Promise((r) => setTimeout(r, 150));
    stop = true;
    // The forest's client stops before it goes: its removal must fail no request in flight either.
    await Promise.all(clients);
    await table.apply({ ...modelSet([v1, replaced, price, modelSpec(files.churn, "extra")], "price", 4) });
    t.same(failures, [], `no failed request out of the ${answers.length} churn answers and the others'`);
    t.equal(answers[0], before, "the old version answered first");
    t.equal(answers.at(-1), after, "the replacement answers after the swap");
    t.ok(
      answers.every((a) => a === before || a === after),
      "every answer one version's or the other's",
    );
    t.equal(
      (await server.inject({ method: "POST", url: "/predict/forest", payload: { instances: [ROW] } }))
        .statusCode,
      404,
      "removed",
    );
    t.equal(
      (await server.inject({ method: "POST", url: "/predict/extra", payload: { instances: [ROW] } }))
        .statusCode,
      200,
      "added",
    );
    t.equal(table.revision, 4);
  },
);

t.test("a replacement that cannot be loaded here leaves the version served before answering", async (t) => {
  const { app: server, table, close } = await app();
  t.teardown(close);
  const predict = async (url: string) => {
    const r = await server.inject({ method: "POST", url, payload: { instances: [ROW] } });
    return { status: r.statusCode, body: r.json() as { predictions?: number[]; code?: string } };
  };
  const v1 = modelSpec(files.churn, "churn", { version: "1", isDefault: false });
  const v2 = modelSpec(files.churnV2, "churn", { version: "2", isDefault: true });
  const price = modelSpec(files.price, "price");
  const forest = modelSpec(files.forest, "forest");
  // What a worker meets when a newer reload has already removed the bytes it was told to load.
  const gone = (spec: ReturnType<typeof modelSpec>, version: string) => ({
    ...spec,
    version,
    snapshot: join(ROOT, "no-such-snapshot.model"),
    sha256: "f".repeat(64),
  });

  // "price" (one version) replaced by one that fails; "forest" replaced under its own version key.
  const state = await table.apply(
    modelSet([v1, v2, gone(price, "bbbbbbbbbbbb"), { ...gone(forest, forest.version) }], "price", 2),
  );
  t.same(
    state.failed.map((f) => f.name).sort(),
    ["forest", "price"],
    "both failures reported to the primary",
  );
  const priceAnswer = await predict("/predict/price");
  t.equal(priceAnswer.status, 200, "price still answers, not 503 LOADING");
  t.same(priceAnswer.body.predictions, expected(files.price, [ROW]), "with the version served before");
  t.equal((await predict("/predict")).status, 200, "as the default model too");
  const forestWidth = loadModel(files.forest).numFeature;
  const forestRow = Array.from({ length: forestWidth }, (_, i) => (i % 3) - 0.5);
  const forestAnswer = await server.inject({
    method: "POST",
    url: "/predict/forest",
    payload: { instances: [forestRow] },
  });
  t.equal(forestAnswer.statusCode, 200, "forest, whose same version key failed, still answers");
  t.same(forestAnswer.json().predictions, expected(files.forest, [forestRow]));

  // A model none of whose versions is listed any more is released as before, and a later set that
  // loads replaces the kept version.
  await table.apply(modelSet([v1, v2, modelSpec(files.churn, "price")], "price", 3));
  t.same(
    (await predict("/predict/price")).body.predictions,
    expected(files.churn, [ROW]),
    "replaced once loadable",
  );
  t.equal((await predict("/predict/forest")).status, 404, "forest, no longer listed, released");
  // One version of a model failing beside another that loads: only the listed, loaded one serves.
  await table.apply(modelSet([v1, gone(v2, "3")], "price", 4));
  t.same(
    (await predict("/predict/churn/versions/1")).body.predictions,
    expected(files.churn, [ROW]),
    "churn 1 serves",
  );
  t.equal((await predict("/predict/churn/versions/2")).status, 404, "churn 2, no longer listed, released");
});
