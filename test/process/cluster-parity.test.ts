/**
 * The real server (primary, workers, scoring threads) returns exactly the engine's outputs for
 * every fixture: /predict by position and by name, margins, and OIP infer. Every fourth fixture
 * runs with WORKERS=2, the rest with one worker: a cluster per fixture is most of this file's
 * time, and what a second worker adds (the primary shares connections out) is the same for all.
 */
import t from "tap";
import { columnLookup, loadModel, rowsToArray } from "../../model/index.js";
import { fixtures } from "../helpers/fixtures.js";
import { postJson, startServer } from "../helpers/server.js";

// Servers boot in parallel (each is mostly waiting on process start-up); results are per fixture.
t.jobs = 4;

for (const [index, { name, expected, files }] of fixtures().entries()) {
  const workers = index % 4 === 0 ? "2" : "1";
  t.test(`${name} (WORKERS=${workers})`, { buffered: true }, async (t) => {
    const file = files[files.length - 1];
    const server = await startServer({
      MODEL_PATH: file,
      MODEL_NAME: "m",
      WORKERS: workers,
      ACCESS_LOG: "off",
    });
    t.teardown(() => server.stop());
    const model = loadModel(file);
    const rows = expected.rows;
    const values = rowsToArray(model, rows);
    const predictions = Array.from(model.predictBatch(values, rows.length));
    const margins = Array.from(model.predictBatch(values, rows.length, { margin: true }));
    const flat = (out: unknown) => (out as (number | number[])[]).flat();

    const positional = await postJson(`${server.url}/predict`, { instances: rows });
    t.equal(positional.status, 200, positional.text.slice(0, 200));
    t.same(flat(positional.json.predictions), predictions, "positional rows");

    const names = [...columnLookup(model).keys()];
    const named = rows.map((row) =>
      Object.fromEntries(row.flatMap((v, i) => (v === null ? [] : [[names[i], v]]))),
    );
    const byName = await postJson(`${server.url}/predict`, { instances: named });
    t.same(flat(byName.json.predictions), predictions, "rows by feature name");

    const margin = await postJson(`${server.url}/predict?output=margin`, { instances: rows });
    t.same(flat(margin.json.predictions), margins, "margins");
    t.same(flat(margin.json.predictions), expected.margins, "margins equal XGBoost's too");

    const infer = await postJson(`${server.url}/v2/models/m/infer`, {
      inputs: [
        { name: "input-0", shape: [rows.length, model.numFeature], datatype: "FP64", data: rows.flat() },
      ],
    });
    t.equal(infer.status, 200);
    t.same((infer.json.outputs as { data: number[] }[])[0].data, predictions, "OIP infer");
  });
}
