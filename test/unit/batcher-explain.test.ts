/**
 * Explanations in the batcher: their own tasks (never mixed with predictions), exact results per
 * request, and admission that weighs an explanation row by its measured cost.
 */
import { join } from "node:path";
import t from "tap";
import { loadModel } from "../../model/index.js";
import { explain, explainWidth } from "../../model/outputs.js";
import { OverloadedError } from "../../workers/http/errors.js";
import { Batcher, type TaskRunner } from "../../workers/scoring/batcher.js";
import { encodeResult, type ScoreTask } from "../../workers/scoring/protocol.js";
import { FIXTURES } from "../helpers/fixtures.js";

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
  // While the thread is busy, 2 waiting contribs rows weigh 2000 prediction rows: over MAX_QUEUE.
  runner.hold = true;
  const busy = batcher.submit(rowValues(1), 1, false);
  await new Promise((r) => setImmediate(r));
  await t.rejects(batcher.explain(rowValues(2), 2, "contribs"), OverloadedError);
  const fits = batcher.submit(rowValues(5), 5, false);
  t.ok(batcher.expectedWaitMs > 0, "the queue has an expected wait");
  runner.hold = false;
  runner.release();
  await Promise.all([busy, fits]);
});
