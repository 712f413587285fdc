/**
 * Explanations in the batcher: their own tasks (never mixed with predictions), exact results per
 * request (in the explanation's own type: LightGBM's contributions float64), and admission that
 * weighs an explanation row by its measured cost.
 */
import { join } from "node:path";
import t from "tap";
import { loadModel } from "../../model/index.js";
import { explain, explainPrecision, explainWidth } from "../../model/outputs.js";
import { OverloadedError } from "../../workers/http/errors.js";
import { Batcher, type TaskRunner } from "../../workers/scoring/batcher.js";
import { encodeResult, type ScoreTask } from "../../workers/scoring/protocol.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";

const model = loadModel(join(FIXTURES, "multi_softprob.json"));
const nf = model.numFeature;
const rowValues = (n: number, seed = 0) =>
  Float32Array.from({ length: n * nf }, (_, i) => Math.sin(seed * 7 + i) * 10);

/** Scores with the real engine; reports per task the scoring seconds the test sets per row. */
class Runner implements TaskRunner {
  readonly tasks: ScoreTask[] = [];
  readonly #held: (() => void)[] = [];
  hold = false;
  secondsPerRow = { score: 1e-6, explain: 1e-3 };
  constructor(readonly threads: number) {}
  run(task: ScoreTask): Promise<ArrayBuffer> {
    this.tasks.push({ ...task, values: task.values.slice() });
    let result: ArrayBuffer;
    if (task.explain) {
      const out = explain(model, task.explain, task.values, task.rows);
      result = encodeResult(task.rows * this.secondsPerRow.explain, null, out);
    } else {
      const margins = model.predictBatch(task.values, task.rows, { margin: true });
      const predictions = task.wantPredictions ? model.transform(margins, task.rows) : null;
      result = encodeResult(
        task.rows * this.secondsPerRow.score,
        task.wantMargins ? margins : null,
        predictions,
      );
    }
    if (!this.hold) return Promise.resolve(result);
    return new Promise((resolve) => this.#held.push(() => resolve(result)));
  }
  release(): void {
    for (const r of this.#held.splice(0)) r();
  }
}

function makeBatcher(runner: Runner, maxQueueRows = 1000) {
  return new Batcher(runner, {
    numFeature: nf,
    groups: model.numMarginOutputs,
    width: model.numOutputs,
    explainWidths: {
      contribs: explainWidth(model, "contribs"),
      interactions: explainWidth(model, "interactions"),
      leaf: explainWidth(model, "leaf"),
    },
    maxBatchRows: 64,
    maxQueueRows,
    minSplitRows: 4,
  });
}

t.test("explanations ride in their own tasks and each request gets its own rows", async (t) => {
  const runner = new Runner(1);
  const batcher = makeBatcher(runner);
  runner.hold = true;
  const first = batcher.submit(rowValues(1, 9), 1, false);
  await new Promise((r) => setImmediate(r));
  const contribs = batcher.explain(rowValues(2, 1), 2, "contribs");
  const prediction = batcher.submit(rowValues(1, 2), 1, false);
  const leaf = batcher.explain(rowValues(3, 3), 3, "leaf");
  for (let i = 0; i < 4; i++) {
    runner.release();
    await new Promise((r) => setTimeout(r, 5));
  }
  runner.hold = false;
  runner.release();
  const [c, p, l] = await Promise.all([contribs, prediction, leaf, first]);
  t.same(c, model.predictContribs(rowValues(2, 1), 2), "contribs");
  t.same(p, model.predictBatch(rowValues(1, 2), 1), "prediction");
  t.same(l, model.predictLeaf(rowValues(3, 3), 3), "leaf");
  for (const task of runner.tasks)
    t.ok(!task.explain || (!task.wantMargins && !task.wantPredictions), "no task mixes kinds");
  t.same(
    runner.tasks.map((task) => task.explain ?? "score"),
    ["score", "contribs", "score", "leaf"],
    "in arrival order",
  );
});

t.test("admission weighs explanation rows by their measured cost", async (t) => {
  const runner = new Runner(1);
  const batcher = makeBatcher(runner, 1000);
  t.equal(batcher.costFactor("contribs"), 1, "unknown before any explanation ran");
  await batcher.submit(rowValues(10), 10, false);
  await batcher.explain(rowValues(2), 2, "contribs");
  t.equal(Math.round(batcher.costFactor("contribs")), 1000, "1 ms against 1 µs a row: 1000×");
  // While the thread is busy and rows wait, 2 more contribs rows weigh 2000 prediction rows: over MAX_QUEUE.
  runner.hold = true;
  const busy = batcher.submit(rowValues(1), 1, false);
  await new Promise((r) => setImmediate(r));
  const fits = batcher.submit(rowValues(5), 5, false);
  t.equal(batcher.queuedRows, 5, "rows waiting behind the busy thread");
  await t.rejects(batcher.explain(rowValues(2), 2, "contribs"), OverloadedError);
  t.ok(batcher.expectedWaitMs > 0, "the queue has an expected wait");
  runner.hold = false;
  runner.release();
  await Promise.all([busy, fits]);
  // Nothing waiting, the thread busy again: the same request is admitted by its own 2 rows, and
  // waits for the thread (weighed, 2 000 rows were over MAX_QUEUE with nothing waiting, and such
  // a request would have been refused for as long as the thread stayed busy).
  runner.hold = true;
  const busyAgain = batcher.submit(rowValues(1), 1, false);
  await new Promise((r) => setImmediate(r));
  t.equal(batcher.queuedRows, 0, "nothing waiting");
  const alone = batcher.explain(rowValues(2), 2, "contribs");
  runner.hold = false;
  runner.release();
  await busyAgain;
  for (let i = 0; i < 5; i++) {
    runner.release();
    await new Promise((r) => setImmediate(r));
  }
  t.same(await alone, model.predictContribs(rowValues(2), 2), "admitted, and answered once the thread freed");
});

t.test("LightGBM's contributions come back in float64, request by request, however batched", async (t) => {
  const lgb = loadModel(join(ROOT, "test", "fixtures", "lightgbm", "multiclass.txt"));
  t.equal(explainPrecision(lgb, "contribs"), "f64");
  const lnf = lgb.numFeature;
  const tasks: ScoreTask[] = [];
  const runner: TaskRunner = {
    threads: 1,
    run(task) {
      tasks.push(task);
      const out = explain(lgb, task.explain!, task.values, task.rows);
      return Promise.resolve(encodeResult(task.rows * 1e-3, null, out));
    },
  };
  const kinds = ["contribs", "interactions", "leaf"] as const;
  const batcher = new Batcher(runner, {
    numFeature: lnf,
    rowType: lgb.rowPrecision,
    outputType: lgb.outputPrecision,
    groups: lgb.numMarginOutputs,
    width: lgb.numOutputs,
    explainWidths: Object.fromEntries(kinds.map((k) => [k, explainWidth(lgb, k)])) as Record<
      (typeof kinds)[number],
      number
    >,
    explainTypes: Object.fromEntries(kinds.map((k) => [k, explainPrecision(lgb, k)])) as Record<
      (typeof kinds)[number],
      "f32" | "f64"
    >,
    maxBatchRows: 5,
    maxQueueRows: 1000,
    minSplitRows: 1,
  });
  // Values a float32 could not hold: a float32 path would round them.
  const rows = (n: number, seed: number) =>
    Float64Array.from({ length: n * lnf }, (_, i) => Math.sin(seed * 13 + i) * 3 + 1e-9 * i);
  const sizes = [3, 1, 4, 2];
  const inputs = sizes.map((n, i) => rows(n, i));
  const answers = await Promise.all([
    ...inputs.map((x, i) => batcher.explain(x.slice(), sizes[i], "contribs")),
    batcher.explain(rows(2, 9), 2, "leaf"),
  ]);
  inputs.forEach((x, i) => {
    const got = answers[i];
    const want = lgb.predictContribs(x, sizes[i]);
    t.ok(got instanceof Float64Array, `request ${i}: a Float64Array`);
    t.same(Array.from(got), Array.from(want), `request ${i}: its own rows' contributions, every double`);
  });
  t.ok(answers[4] instanceof Float32Array, "leaf ids stay float32");
  t.ok(
    tasks.some((task) => task.rows > 1 && task.explain === "contribs"),
    "requests' rows shared tasks",
  );
  t.ok(
    tasks.every((task) => task.rows <= 5),
    "tasks cut at MAX_BATCH_ROWS",
  );
});
