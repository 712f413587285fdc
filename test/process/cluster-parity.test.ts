/**
 * The real server (primary, two workers, scoring threads) returns exactly the engine's outputs for
 * every fixture: /predict/{name} by position and by name, margins, and OIP infer. One server serves
 * them all from a repository (a folder per fixture): a server per fixture cost ~2 s of start-up
 * each, most of this file's time, and every model here is read, compiled and scored the same way
 * as MODEL_PATH's one (which is a repository of one). The default model answers unnamed /predict.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import t from "tap";
import { columnLookup, loadModel, rowsToArray } from "../../model/index.js";
import { fixtures } from "../helpers/fixtures.js";
import { postJson, request, startServer } from "../helpers/server.js";

const all = fixtures();
const repository = mkdtempSync(join(tmpdir(), "forestd-cluster-parity-"));
for (const { name, files } of all) {
  mkdirSync(join(repository, name));
  const file = files[files.length - 1];
  copyFileSync(file, join(repository, name, basename(file)));
}
const server = await startServer({
  MODEL_REPOSITORY: repository,
  DEFAULT_MODEL: all[0].name,
  WORKERS: "2",
  ACCESS_LOG: "off",
  // Pressure shedding is not this test's subject: workers busy loading every model are not overloaded.
  MAX_EVENT_LOOP_DELAY: "0",
});
t.teardown(async () => {
  await server.stop();
  rmSync(repository, { recursive: true, force: true });
});

// Ready once the first model is: wait until every worker lists every model. Each request is a new
// connection, which the primary hands to either worker: many full answers in a row mean both have them.
await (async () => {
  const deadline = Date.now() + 60_000;
  for (let inARow = 0; inARow < 12; ) {
    const listed = (await request(`${server.url}/v2/models`)).json.models as string[];
    inARow = listed.length === all.length ? inARow + 1 : 0;
    if (Date.now() > deadline) throw new Error(`${listed.length} of ${all.length} models ready after 60 s`);
    if (inARow === 0) await new Promise((r) => setTimeout(r, 100));
  }
})();

// Subtests share the server and only wait on it: a few at a time.
t.jobs = 4;

for (const { name, expected, files } of all) {
  t.test(name, { buffered: true }, async (t) => {
    const model = loadModel(files[files.length - 1]);
    const rows = expected.rows;
    const values = rowsToArray(model, rows);
    const predictions = Array.from(model.predictBatch(values, rows.length));
    const margins = Array.from(model.predictBatch(values, rows.length, { margin: true }));
    const flat = (out: unknown) => (out as (number | number[])[]).flat();

    const positional = await postJson(`${server.url}/predict/${name}`, { instances: rows });
    t.equal(positional.status, 200, positional.text.slice(0, 200));
    t.same(flat(positional.json.predictions), predictions, "positional rows");

    const names = [...columnLookup(model).keys()];
    const named = rows.map((row) =>
      Object.fromEntries(row.flatMap((v, i) => (v === null ? [] : [[names[i], v]]))),
    );
    const byName = await postJson(`${server.url}/predict/${name}`, { instances: named });
    t.same(flat(byName.json.predictions), predictions, "rows by feature name");

    const margin = await postJson(`${server.url}/predict/${name}?output=margin`, { instances: rows });
    t.same(flat(margin.json.predictions), margins, "margins");
    t.same(flat(margin.json.predictions), expected.margins, "margins equal XGBoost's too");

    const infer = await postJson(`${server.url}/v2/models/${name}/infer`, {
      inputs: [
        { name: "input-0", shape: [rows.length, model.numFeature], datatype: "FP64", data: rows.flat() },
      ],
    });
    t.equal(infer.status, 200);
    t.same((infer.json.outputs as { data: number[] }[])[0].data, predictions, "OIP infer");

    if (name === all[0].name) {
      const unnamed = await postJson(`${server.url}/predict`, { instances: rows });
      t.same(flat(unnamed.json.predictions), predictions, "DEFAULT_MODEL answers /predict");
    }
  });
}
