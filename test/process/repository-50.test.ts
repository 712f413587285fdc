/**
 * A repository of 50 models of mixed formats (the fixtures: XGBoost JSON and UBJSON, ONNX,
 * scikit-learn joblib / pickle / skops, LightGBM text) served by one server: every model's answers are its own
 * engine's exactly, through /predict/{name} and through OIP infer, with two workers of two scoring
 * threads each (the threads rebuild every model from the worker's shared memory), and
 * forestd_model_bytes reports each model.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { answersFor, loadModel, rowsToArray } from "../../model/index.js";
import { pickModels, writeRepository } from "../../scripts/bench/fixture-repository.js";
import { freePort, postJson, request, startServer, waitFor } from "../helpers/server.js";

t.test("50 models of every format, each answering exactly", async (t) => {
  const models = pickModels(50);
  const dir = mkdtempSync(join(tmpdir(), "forestd-50-"));
  writeRepository(dir, models);
  const metricsPort = await freePort();
  const server = await startServer({
    MODEL_REPOSITORY: dir,
    WORKERS: "2",
    THREADS: "2",
    METRICS_PORT: String(metricsPort),
    ACCESS_LOG: "off",
    MAX_EVENT_LOOP_DELAY: "0",
  });
  t.teardown(() => server.stop());
  await waitFor(
    async () => ((await request(`${server.url}/v2/models`)).json.models as string[]).length === 50,
    60_000,
  );
  const formats = new Map<string, number>();
  for (const m of models) formats.set(m.format, (formats.get(m.format) ?? 0) + 1);
  t.comment(`formats: ${[...formats].map(([f, n]) => `${n} ${f}`).join(", ")}`);

  for (const m of models) {
    const engine = loadModel(m.file);
    const n = m.rows.length;
    const values = rowsToArray(engine, m.rows);
    const predictions = engine.predictBatch(values.slice(), n);
    const expected = JSON.parse(JSON.stringify(answersFor(engine, "prediction", predictions, n)));
    const predict = await postJson(`${server.url}/predict/${m.name}`, { instances: m.rows });
    t.same(predict.json.predictions, expected, `${m.name}: /predict/{name}, ${n} rows`);

    const strings = m.rows.some((r) => r.some((v) => typeof v === "string"));
    const datatype = strings ? "BYTES" : engine.rowPrecision === "f64" ? "FP64" : "FP32";
    const infer = await postJson(`${server.url}/v2/models/${m.name}/infer`, {
      inputs: [{ name: "input-0", datatype, shape: [n, engine.numFeature], data: m.rows }],
    });
    t.equal(infer.status, 200, `${m.name}: OIP ${infer.text.slice(0, 150)}`);
    const outputs = (infer.json.outputs ?? []) as { name: string; data: unknown[] }[];
    const scores = outputs.find((o) => o.name === "predict") ?? outputs.find((o) => !/label/.test(o.name));
    t.same(
      scores?.data,
      JSON.parse(JSON.stringify(Array.from(predictions))),
      `${m.name}: OIP ${scores?.name}`,
    );
  }

  const metrics = (await request(`http://127.0.0.1:${metricsPort}/metrics`)).text;
  const bytes = [...metrics.matchAll(/^forestd_model_bytes\{model="([^"]+)"\} (\d+)/gm)];
  t.equal(bytes.length, 50, "forestd_model_bytes: one series per model");
  t.ok(bytes.every(([, , v]) => Number(v) > 0));
});
