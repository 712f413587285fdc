/**
 * Inline scoring (INLINE_SCORING_MAX_US): tiny requests are scored on the worker's loop, bit for
 * bit as a thread would, those of one event-loop turn together, and timed; larger ones, and every
 * one with the setting at 0, wait for a thread as before.
 */
import { join } from "node:path";
import t from "tap";
import { defaultModelPath, loadModel, type Model } from "../../model/index.js";
import { InlineScorer } from "../../workers/scoring/inline-scorer.js";
import { scriptedApp } from "../helpers/app.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { scriptedRow } from "../helpers/threads.js";

const ROW = { height: 180, weight: 80, shoe_size: 44 };

t.test("the scorer: same outputs as the engine, only below its bound, every call timed", async (t) => {
  const model = loadModel(defaultModelPath());
  const seconds: number[] = [];
  const scorer = new InlineScorer(model, { maxUs: 15, onScored: (s) => seconds.push(s) });
  const max = scorer.maxRows;
  t.ok(max >= 1, `inlines up to ${max} rows of the default model at 15 µs`);
  t.ok(scorer.predictUs(max) <= 15 && scorer.predictUs(max + 1) > 15, "maxRows is the bound's");
  // Half the bound's rows: the cost estimate follows each measured call, so the edge moves.
  const rows = Math.max(1, max >> 1);
  const values = Float32Array.from({ length: 3 * rows }, (_, i) => (i * 37) % 200);
  for (const margin of [false, true]) {
    t.strictSame(
      await scorer.submit(values, rows, margin),
      model.predictBatch(values, rows, { margin }),
      `margin ${margin}`,
    );
  }
  t.equal(seconds.length, 2, "each inline scoring is timed");
  const tooMany = max * 4 + 10;
  t.equal(scorer.submit(new Float32Array(3 * tooMany), tooMany, false), null, "above the bound: declined");
  const off = new InlineScorer(model, { maxUs: 0 });
  t.equal(off.maxRows, 0);
  t.equal(off.submit(values.subarray(0, 3), 1, false), null, "0 = off");
});

t.test(
  "a model whose every call costs much is left to the threads' batches, however small the request",
  async (t) => {
    // A stand-in engine: ~60 µs a call whatever its rows, 0.1 µs a row (a 1000-tree model costs
    // ~45 µs a call): below a 100 µs bound for one row, but above a quarter of it in fixed cost.
    const wait = (us: number) => {
      const until = performance.now() + us / 1000;
      while (performance.now() < until);
    };
    const costly = {
      numFeature: 2,
      predictBatch: (_values: Float32Array, rows: number) => {
        wait(60 + 0.1 * rows);
        return new Float32Array(rows);
      },
    } as unknown as Model;
    const scorer = new InlineScorer(costly, { maxUs: 100 });
    t.ok(
      scorer.predictUs(1) <= 100,
      `one row is predicted within the bound (${scorer.predictUs(1).toFixed(1)} µs)`,
    );
    t.equal(scorer.maxRows, 0, "yet nothing is inlined");
    t.equal(scorer.submit(new Float32Array(2), 1, false), null, "a single row goes to the threads");
    const cheap = new InlineScorer(loadModel(defaultModelPath()), { maxUs: 100 });
    t.ok(cheap.maxRows >= 1, `while the default model inlines ${cheap.maxRows} rows at 100 µs`);
  },
);

t.test("one row dearer than the bound: nothing inlined, and calibration makes no larger calls", async (t) => {
  const model = loadModel(defaultModelPath());
  const calls: number[] = [];
  const predictBatch = model.predictBatch.bind(model);
  model.predictBatch = (values, rows, options) => {
    calls.push(rows);
    return predictBatch(values, rows, options);
  };
  // A bound below any real call's time: a single row of the default model already exceeds it.
  const scorer = new InlineScorer(model, { maxUs: 0.001 });
  t.equal(scorer.maxRows, 0);
  t.equal(scorer.submit(Float32Array.from([180, 80, 44]), 1, false), null, "declined");
  t.ok(calls.length > 0, `calibration timed ${calls.length} one-row calls`);
  t.same(new Set(calls), new Set([1]), "and no calls of more rows");
});

t.test("requests of one turn are scored together, in calls of at most the bound", async (t) => {
  const model = loadModel(defaultModelPath());
  const seconds: number[] = [];
  // A bound of 50 µs: a row of the default model costs ~1.5 µs, so a call holds dozens of rows even
  // on a busy machine, and three one-row requests surely share one.
  const scorer = new InlineScorer(model, { maxUs: 50, onScored: (s) => seconds.push(s) });
  t.ok(scorer.maxRows >= 3, `a call may hold ${scorer.maxRows} rows`);
  const count = 3 * scorer.maxRows + 3;
  const values = Float32Array.from({ length: 3 * count }, (_, i) => ((i * 53) % 300) - 50);
  const row = (i: number) => values.subarray(3 * i, 3 * i + 3);
  const one = (i: number, margin: boolean) => model.predictBatch(row(i), 1, { margin });

  const three = await Promise.all([0, 1, 2].map((i) => scorer.submit(row(i), 1, false)));
  t.strictSame(
    three,
    [0, 1, 2].map((i) => one(i, false)),
    "each request gets its own row's output, bit for bit",
  );
  t.equal(seconds.length, 1, "three requests of one turn: one engine call");

  seconds.length = 0;
  const mixed = await Promise.all([
    scorer.submit(row(3), 1, false),
    scorer.submit(row(4), 1, true),
    scorer.submit(row(5), 1, false),
  ]);
  t.strictSame(mixed, [one(3, false), one(4, true), one(5, false)], "predictions and margins alike");
  t.equal(seconds.length, 2, "predictions and margins: a call each");

  seconds.length = 0;
  const many = await Promise.all(Array.from({ length: count }, (_, i) => scorer.submit(row(i), 1, false)));
  t.strictSame(
    many,
    Array.from({ length: count }, (_, i) => one(i, false)),
    `${count} requests, each its own`,
  );
  t.ok(
    seconds.length >= 2,
    `${count} rows in one turn, more than the bound's ${scorer.maxRows}: ${seconds.length} calls`,
  );
});

t.test("a model of several outputs per row: each request gets its own rows' outputs", async (t) => {
  const model = loadModel(join(FIXTURES, "multi_softprob.ubj"));
  const scorer = new InlineScorer(model, { maxUs: 100 });
  const nf = model.numFeature;
  const rows = 2;
  t.ok(scorer.maxRows >= 3 * rows, `a call may hold ${scorer.maxRows} rows`);
  const values = Float32Array.from({ length: 3 * rows * nf }, (_, i) => ((i * 29) % 17) - 4);
  const part = (i: number) => values.slice(i * rows * nf, (i + 1) * rows * nf);
  for (const margin of [false, true]) {
    const answers = await Promise.all([0, 1, 2].map((i) => scorer.submit(part(i), rows, margin)));
    const width = model.predictBatch(part(0), rows, { margin }).length / rows;
    t.ok(width > 1, `${width} values per row (margin ${margin})`);
    t.strictSame(
      answers,
      [0, 1, 2].map((i) => model.predictBatch(part(i), rows, { margin })),
      `margin ${margin}: three requests of ${rows} rows, each its own`,
    );
  }
});

t.test("an engine error fails its call's requests, and the next turn scores again", async (t) => {
  const model = loadModel(defaultModelPath());
  const scorer = new InlineScorer(model, { maxUs: 15 });
  const predictBatch = model.predictBatch.bind(model);
  let fail = true;
  model.predictBatch = (values, rows, options) => {
    if (fail) throw new Error("engine failure");
    return predictBatch(values, rows, options);
  };
  const row = Float32Array.from([180, 80, 44]);
  const failed = await Promise.allSettled([
    scorer.submit(row, 1, false),
    scorer.submit(row, 1, false),
    scorer.submit(row, 1, true),
  ]);
  t.same(
    failed.map((r) => r.status),
    ["rejected", "rejected", "rejected"],
    "every request of the turn is answered with the error, none left waiting",
  );
  fail = false;
  t.strictSame(await scorer.submit(row, 1, false), predictBatch(row, 1), "the next turn is scored");
  t.throws(
    () => scorer.submit(new Float32Array(4), 1, false),
    RangeError,
    "a row of the wrong length is refused",
  );
});

t.test("a tiny request is answered while the only thread is busy; a large one waits", async (t) => {
  // Inline scoring at its default bound, named: testApp turns it off for scripted threads.
  const { app, batcher, served, metrics, threads } = await scriptedApp(t, [
    "--threads",
    "1",
    "--inline-scoring-max-us",
    "100",
  ]);
  // The one thread is held (by the batcher directly: the scripted row would be inlined) until released.
  const busy = batcher.submit(Float32Array.from(scriptedRow("hold", served.model.numFeature)), 1, false);
  await threads.held();
  const r = await app.inject({ method: "POST", url: "/predict", payload: ROW });
  t.equal(r.statusCode, 200, "answered while the thread is still held: not behind it");
  t.same(r.json(), {
    prediction: served.model.predictBatch(Float32Array.from([180, 80, 44]), 1)[0],
  });
  const histogram = (await metrics.inlineScoring.get()).values;
  const count = histogram.find((v) => v.metricName === "forestd_inline_scoring_seconds_count");
  t.equal(count?.value, 1, "timed in forestd_inline_scoring_seconds");

  const rows = Array.from({ length: 2000 }, () => [180, 80, 44]);
  const large = await app.inject({
    method: "POST",
    url: "/predict",
    payload: { instances: rows },
    headers: { "x-request-timeout-ms": "200" },
  });
  t.equal(large.statusCode, 504, "2000 rows wait for the thread (and their deadline passes)");
  threads.release();
  await busy;
});

t.test("INLINE_SCORING_MAX_US=0: even one row waits for a thread", async (t) => {
  const { app, batcher, served, threads } = await scriptedApp(t, [
    "--threads",
    "1",
    "--inline-scoring-max-us",
    "0",
  ]);
  const busy = batcher.submit(Float32Array.from(scriptedRow("hold", served.model.numFeature)), 1, false);
  await threads.held();
  const r = await app.inject({
    method: "POST",
    url: "/predict",
    payload: ROW,
    headers: { "x-request-timeout-ms": "200" },
  });
  t.equal(r.statusCode, 504);
  threads.release();
  await busy;
});
