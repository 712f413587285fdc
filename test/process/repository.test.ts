/**
 * `forestd serve` with MODEL_REPOSITORY (a directory): every model answers exactly as its own
 * engine, over /predict/{name} and OIP; entries that are not models are refused in the log and the
 * index while the rest serve; polling adds, replaces and removes models in the running workers
 * (no restart) with no failed request for the models under load; SIGHUP reads it again.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { loadModel } from "../../model/index.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";
import { Load } from "../helpers/load.js";
import { postJson, request, startServer, waitFor } from "../helpers/server.js";

const ROW = [1.5, -2, 3, 0.25, 7, -1];
const ONNX = join(ROOT, "test", "fixtures", "onnx", "rf_regressor.onnx");

function predictionOf(file: string, row: number[]): number {
  const model = loadModel(file);
  const values = model.rowPrecision === "f64" ? Float64Array.from(row) : Float32Array.from(row);
  return model.predictBatch(values, 1)[0];
}

t.test("a repository served, polled and changed under load", async (t) => {
  const repo = mkdtempSync(join(tmpdir(), "forestd-repository-"));
  const put = (path: string, from: string) => {
    mkdirSync(join(repo, path, ".."), { recursive: true });
    copyFileSync(from, join(repo, path));
  };
  put("churn/1/model.json", join(FIXTURES, "binary_logistic.json"));
  put("churn/2/model.json", join(FIXTURES, "binary_logistic_base.json"));
  writeFileSync(join(repo, "churn", "forestd.json"), JSON.stringify({ version_policy: { all: {} } }));
  put("price/model.ubj", join(FIXTURES, "reg_squarederror.ubj"));
  put("fraud/fraud.onnx", ONNX);
  writeFileSync(join(repo, "NOTES.md"), "# not a model\n");
  put("churn/latest/model.json", join(FIXTURES, "binary_logistic.json"));

  const server = await startServer({
    MODEL_REPOSITORY: repo,
    MODEL_POLL_INTERVAL: "0.5",
    DEFAULT_MODEL: "price",
    WORKERS: "2",
    ACCESS_LOG: "off",
    MAX_EVENT_LOOP_DELAY: "0",
  });
  t.teardown(() => server.stop());
  const predict = async (path: string, row = ROW) =>
    (await postJson(`${server.url}${path}`, { instances: [row] })).json.predictions as number[];
  const onnxRow = Array.from({ length: loadModel(ONNX).numFeature }, (_, i) => i / 3);

  t.same(await predict("/predict/churn/versions/1"), [
    predictionOf(join(FIXTURES, "binary_logistic.json"), ROW),
  ]);
  t.same(
    await predict("/predict/churn"),
    [predictionOf(join(FIXTURES, "binary_logistic_base.json"), ROW)],
    "the latest version",
  );
  t.same(
    await predict("/predict"),
    [predictionOf(join(FIXTURES, "reg_squarederror.ubj"), ROW)],
    "DEFAULT_MODEL",
  );
  t.same(await predict("/predict/fraud", onnxRow), [predictionOf(ONNX, onnxRow)]);
  await waitFor(async () => {
    const index = (await request(`${server.url}/v2/models`)).json.index as { name: string; state: string }[];
    return index.filter((e) => e.state === "READY").length === 4;
  }, 10_000);
  const index = (await request(`${server.url}/v2/models`)).json.index as {
    name: string;
    state: string;
    reason: string;
  }[];
  t.match(
    index.find((e) => e.name === "NOTES.md"),
    { state: "UNAVAILABLE", reason: /not in a format forestd reads/ },
  );
  t.match(
    index.find((e) => e.name === "churn" && e.state === "UNAVAILABLE"),
    { reason: /churn\/latest: .*version number/ },
  );
  t.ok(
    server.events().some((e) => e.event === "repository_entry_refused" && e.entry === "churn/latest"),
    "logged",
  );

  // Under load on churn and price: churn's version 2 replaced, a model added, fraud removed.
  const loads = [
    new Load({
      url: `${server.url}/predict/price`,
      body: JSON.stringify({ instances: [ROW] }),
      connections: 3,
      durationMs: 60_000,
      ratePerSec: 150,
    }),
    new Load({
      url: `${server.url}/predict/churn`,
      body: JSON.stringify({ instances: [ROW] }),
      connections: 3,
      durationMs: 60_000,
      ratePerSec: 150,
    }),
  ];
  await new Promise((r) => setTimeout(r, 1000));
  const replacement = join(FIXTURES, "binary_logistic.ubj");
  put("churn/2/model.json", replacement);
  put("extra/model.json", join(FIXTURES, "reg_squarederror.json"));
  rmSync(join(repo, "fraud"), { recursive: true });
  await waitFor(async () => (await predict("/predict/churn"))[0] === predictionOf(replacement, ROW), 20_000);
  await waitFor(
    async () => (await postJson(`${server.url}/predict/extra`, { instances: [ROW] })).status === 200,
    20_000,
  );
  await waitFor(
    async () => (await postJson(`${server.url}/predict/fraud`, { instances: [onnxRow] })).status === 404,
    20_000,
  );
  await new Promise((r) => setTimeout(r, 1000));
  for (const load of loads) await load.stop();
  for (const load of loads)
    t.same(load.failures(), [], `${load.options.url}: zero failed requests out of ${load.outcomes.length}`);
  const churnAnswers = loads[1].outcomes.map(
    (o) => (JSON.parse(o.body ?? "{}") as { predictions: number[] }).predictions[0],
  );
  const before = predictionOf(join(FIXTURES, "binary_logistic_base.json"), ROW);
  const after = predictionOf(replacement, ROW);
  t.ok(
    churnAnswers.every((p) => p === before || p === after),
    "every churn answer is one version's or the other's",
  );
  t.equal(churnAnswers.at(-1), after);
  t.notOk(
    server.events().some((e) => e.event === "worker_spawn" && Number(e.generation) > 1),
    "no new workers: the models changed in place",
  );

  // SIGHUP reads the repository again (a new generation of workers for the settings, same models).
  put("late/model.json", join(FIXTURES, "binary_logistic.json"));
  server.child.kill("SIGHUP");
  await waitFor(() => server.events().some((e) => e.event === "reload_done"), 30_000);
  t.equal((await postJson(`${server.url}/predict/late`, { instances: [ROW] })).status, 200);
});
