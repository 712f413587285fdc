/**
 * ONNX models served: /predict (prediction, proba, label, margin), OIP infer and metadata with the
 * graph's own output names, /model, and the CLI (predict, inspect) — every answer equal to
 * onnxruntime-node's recorded outputs on the same file.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { testApp } from "../helpers/app.js";
import { forestdAsync, inTurns } from "../helpers/cli.js";
import { ROOT } from "../helpers/fixtures.js";
import { type OnnxFixture, onnxFixtures } from "../helpers/onnx-fixtures.js";

const CLI = join(ROOT, "dist", "cli", "forestd.js");
const json = (body: string) => JSON.parse(body) as Record<string, unknown>;
const byName = new Map(onnxFixtures().map((f) => [f.name, f]));

/** onnxruntime's scores as one entry per row (a row array when several columns). */
function truthRows(f: OnnxFixture): (number | string)[][] {
  const { dims, data } = f.expected.onnxruntime[f.scoresOutput];
  const width = dims[1] ?? 1;
  return Array.from({ length: dims[0] }, (_, r) => data.slice(r * width, (r + 1) * width));
}

for (const name of [
  "dt_binary_zipmap",
  "rf_multiclass_strings",
  "gb_binary",
  "hgb_regressor_nan",
  "dt_regressor_2targets",
]) {
  const f = byName.get(name)!;
  t.test(`HTTP: ${name}`, async (t) => {
    const { app, close } = await testApp([], { MODEL_PATH: f.path, MODEL_NAME: "m", WORKER_THREADS: "1" });
    t.teardown(close);
    const rows = f.expected.rows;
    const post = (url: string, payload: unknown) =>
      app.inject({
        method: "POST",
        url,
        payload: JSON.stringify(payload),
        headers: { "content-type": "application/json" },
      });
    const scores = truthRows(f);
    const classifier = f.labelOutput !== null;

    const proba = await post("/predict?output=proba", { instances: rows });
    if (classifier) {
      t.equal(proba.statusCode, 200);
      t.same(json(proba.body).predictions, scores, "?output=proba: onnxruntime's probabilities, bit for bit");
      const label = await post("/predict?output=label", { instances: rows });
      t.same(
        json(label.body).predictions,
        f.expected.onnxruntime[f.labelOutput!].data,
        "?output=label: onnxruntime's labels",
      );
    } else {
      t.equal(proba.statusCode, 400, "?output=proba on a regressor: 400");
      t.match(json(proba.body), { code: "FORESTD_ERR_INVALID_INPUT", message: /needs a classifier/ });
    }

    const plain = await post("/predict", { instances: rows });
    const expected = scores.map((s) => (classifier && s.length === 2 ? s[1] : s.length === 1 ? s[0] : s));
    t.same(json(plain.body).predictions, expected, "/predict: P(positive) / probability rows / values");

    const margin = await post("/predict?output=margin", { instances: rows.slice(0, 3) });
    t.equal(margin.statusCode, 200, "?output=margin answers");

    const infer = await post("/v2/models/m/infer", {
      inputs: [{ name: "x", shape: [rows.length, rows[0].length], datatype: "FP32", data: rows.flat() }],
    });
    t.equal(infer.statusCode, 200);
    const outputs = json(infer.body).outputs as {
      name: string;
      datatype: string;
      shape: number[];
      data: unknown[];
    }[];
    const truthNames = Object.keys(f.expected.onnxruntime).sort();
    t.same(outputs.map((o) => o.name).sort(), truthNames, "OIP answers with the graph's output names");
    for (const o of outputs)
      t.same(o.data, f.expected.onnxruntime[o.name].data, `OIP ${o.name}: onnxruntime's data`);

    const one = await post("/v2/models/m/infer", {
      inputs: [{ name: "x", shape: [1, rows[0].length], datatype: "FP32", data: rows[0] }],
      outputs: [{ name: f.scoresOutput }],
    });
    t.same((json(one.body).outputs as unknown[]).length, 1, "OIP outputs: only those asked for");
    const unknown = await post("/v2/models/m/infer", {
      inputs: [{ name: "x", shape: [1, rows[0].length], datatype: "FP32", data: rows[0] }],
      outputs: [{ name: "nope" }],
    });
    t.equal(unknown.statusCode, 400, "an unknown OIP output name: 400");

    const meta = json((await app.inject({ method: "GET", url: "/v2/models/m" })).body);
    t.equal(meta.platform, "onnx");
    t.same((meta.outputs as { name: string }[]).map((o) => o.name).sort(), truthNames);

    const model = json((await app.inject({ method: "GET", url: "/model" })).body);
    t.equal(model.format, "onnx");
    t.match(model.onnx, { producerName: "skl2onnx", operator: /TreeEnsemble(Classifier|Regressor)/ });
  });
}

t.test("CLI: predict and inspect an ONNX file", async (t) => {
  const run = (args: string[], input = "") =>
    spawnSync(process.execPath, [CLI, ...args], { input, encoding: "utf8" });
  await inTurns([...byName.values()], async (f) => {
    const out = await forestdAsync(
      ["predict", "-m", f.path, "--output", f.labelOutput ? "proba" : "prediction"],
      JSON.stringify(f.expected.rows),
    );
    t.equal(out.code, 0, `${f.name}: exit 0 ${out.stderr}`);
    const got = (JSON.parse(out.stdout) as (number | number[])[]).flat();
    t.same(got, f.expected.onnxruntime[f.scoresOutput].data, `${f.name}: CLI output equals onnxruntime's`);
  });
  const f = byName.get("et_binary_strings_zipmap")!;
  const labels = run(["predict", "-m", f.path, "-o", "label"], JSON.stringify(f.expected.rows));
  t.same(
    JSON.parse(labels.stdout),
    f.expected.onnxruntime.output_label.data,
    "CLI labels: onnxruntime's strings",
  );
  const inspect = run(["inspect", f.path]);
  t.match(inspect.stdout, /format: +ONNX-ML tree ensemble/);
  t.match(inspect.stdout, /onnx: +ir_version .*ai\.onnx\.ml 3/);
  t.match(inspect.stdout, /classes: +no, yes/);
  t.match(inspect.stdout, /"output_probability" \(probabilities, ZipMap\)/);
  const regressor = byName.get("gb_regressor")!;
  const refused = run(["predict", "-m", regressor.path, "-o", "proba"], "[[1,2,3,4,5,6]]");
  t.equal(refused.status, 2, "--output proba on a regressor: usage error");
  t.match(refused.stderr, /output "proba" needs a classifier/);
  const asJson = JSON.parse(run(["inspect", "--json", f.path]).stdout) as Record<string, unknown>;
  t.match(asJson, {
    format: "onnx",
    classLabels: ["no", "yes"],
    onnx: { operator: "TreeEnsembleClassifier" },
  });
});
