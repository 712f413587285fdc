/**
 * A reload's model is loaded by the workers of the generation it starts, not also by the ones it
 * replaces: those serve the model they have until they drain (each load takes CPU and event-loop
 * time from the requests of the workers that make it). Real primary, real workers, real SIGHUP; the
 * workers' own log lines say who loaded what.
 */

import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { loadModel } from "../../model/index.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { Load } from "../helpers/load.js";
import { type RunningServer, startServer, waitFor } from "../helpers/server.js";

const ROW = [1.5, -2, 3, 0.25, 7, -1];

/** Generation of each worker (cluster id), from the primary's worker_spawn lines. */
function generations(server: RunningServer): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of server.events())
    if (e.event === "worker_spawn") out.set(e.worker as number, e.generation as number);
  return out;
}

t.test("SIGHUP with a new MODEL_PATH file: only the new generation's workers load it", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "forestd-reload-isolation-"));
  const modelFile = join(dir, "model.json");
  const oldModel = join(FIXTURES, "binary_logistic.json");
  const newModel = join(FIXTURES, "reg_squarederror.json");
  copyFileSync(oldModel, modelFile);
  const newSha = createHash("sha256").update(readFileSync(newModel)).digest("hex");
  const expectOld = loadModel(oldModel).predictBatch(Float32Array.from(ROW), 1)[0];
  const expectNew = loadModel(newModel).predictBatch(Float32Array.from(ROW), 1)[0];
  t.not(expectOld, expectNew);

  const server = await startServer({ WORKERS: "2", MODEL_PATH: modelFile, ACCESS_LOG: "off" });
  t.teardown(() => server.stop());
  await waitFor(() => [...generations(server).values()].filter((g) => g === 1).length === 2, 10_000);

  const load = new Load({
    url: `${server.url}/predict`,
    body: JSON.stringify({ instances: [ROW] }),
    connections: 4,
    durationMs: 60_000,
  });
  await new Promise((r) => setTimeout(r, 500));
  copyFileSync(newModel, modelFile);
  process.kill(server.child.pid as number, "SIGHUP");
  await waitFor(() => /"event":"reload_done"/.test(server.logs()), 25_000);
  // Until the old workers have gone, whatever they were told to load would have been logged.
  await waitFor(() => {
    const gen = generations(server);
    const exited = server.events().filter((e) => e.event === "worker_exit");
    return exited.filter((e) => gen.get(e.worker as number) === 1).length === 2;
  }, 20_000);
  await load.stop();

  const gen = generations(server);
  const loadedNew = server
    .events()
    .filter((e) => e.event === "model_loaded" && e.sha256 === newSha)
    .map((e) => e.worker as number);
  t.same(
    loadedNew.map((w) => gen.get(w)).sort(),
    [2, 2],
    "the new model was loaded by the two workers of generation 2, and by no worker of generation 1",
  );
  t.same(load.failures(), [], `zero failed requests out of ${load.outcomes.length}`);
  const predictions = load.outcomes.map(
    (o) => (JSON.parse(o.body ?? "{}") as { predictions: number[] }).predictions[0],
  );
  t.ok(predictions.includes(expectOld), "the old model answered before the reload");
  t.equal(predictions.at(-1), expectNew, "the new model answers after it");
  t.ok(
    predictions.every((p) => p === expectNew || p === expectOld),
    "every answer is one model's or the other's",
  );
});
