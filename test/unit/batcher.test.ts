/**
 * The batcher: idle threads get work in the same event-loop turn, waiting rows coalesce into one
 * task, big requests are shared out, every request gets exactly its own rows, and overload is
 * refused. Tasks are scored by the real engine; only the thread hop is replaced by a runner the
 * test can hold, so that "while every thread is busy" happens when the test says.
 */
import { join } from "node:path";
import t from "tap";
import { loadModel, type Model } from "../../model/index.js";
import { DeadlineError, OverloadedError } from "../../workers/http/errors.js";
import { Batcher, type TaskRunner } from "../../workers/scoring/batcher.js";
import { type ScoreTask, skippedResult } from "../../workers/scoring/protocol.js";
import { scoreTask } from "../../workers/thread/score-task.js";
import { FIXTURES } from "../helpers/fixtures.js";

/** Stands in for the thread hop only: the task is scored by the thread's own body, when the test says. */
class HeldRunner implements TaskRunner {
  readonly tasks: ScoreTask[] = [];
  tasksPerThread = 1;
  readonly #held: (() => void)[] = [];
  hold = false;
  /** Scoring seconds each task reports, as a thread measures them. */
  taskSeconds = 0.001;
  constructor(
    readonly threads: number,
    readonly model: Model,
  ) {}
  run(task: ScoreTask): Promise<ArrayBuffer> {
    this.tasks.push({ ...task, values: task.values.slice() });
    const result = scoreTask(this.model, task);
    new Float64Array(result, 0, 1)[0] = this.taskSeconds;
    if (!this.hold) return Promise.resolve(result);
    // As a scoring thread does: a task whose every deadline passed before it started is skipped.
    const skipped = () => task.notAfter !== undefined && Date.now() > task.notAfter;
    return new Promise((resolve) => this.#held.push(() => resolve(skipped() ? skippedResult() : result)));
  }
  release(): void {
    for (const r of this.#held.splice(0)) r();
  }
}

const model = loadModel(join(FIXTURES, "multi_softmax.json"));
const nf = model.numFeature;
const rowValues = (seed: number) => Float32Array.from({ length: nf }, (_, i) => Math.sin(seed * 7 + i) * 10);
const tick = () => new Promise((r) => setImmediate(r));

function makeBatcher(runner: TaskRunner, overrides: Partial<ConstructorParameters<typeof Batcher>[1]> = {}) {
  return new Batcher(runner, {
    numFeature: nf,
    groups: model.numMarginOutputs,
    width: model.numOutputs,
    maxBatchRows: 64,
    maxQueueRows: 1000,
    minSplitRows: 4,
    ...overrides,
  });
}

t.test("an idle pool gets a lone request in the same turn", async (t) => {
  const runner = new HeldRunner(1, model);
  const batcher = makeBatcher(runner);
  const out = await batcher.submit(rowValues(1), 1, false);
  t.equal(runner.tasks.length, 1);
  t.same(out, model.predictBatch(rowValues(1), 1), "its own prediction");
});

t.test("requests arriving while the thread is busy ride in one task, each gets its own rows", async (t) => {
  const runner = new HeldRunner(1, model);
  const batcher = makeBatcher(runner);
  runner.hold = true;
  const first = batcher.submit(rowValues(0), 1, false);
  await tick();
  t.equal(runner.tasks.length, 1, "the first goes at once");
  const rest = Array.from({ length: 10 }, (_, i) => batcher.submit(rowValues(i + 1), 1, i % 2 === 0));
  await tick();
  t.equal(runner.tasks.length, 1, "the rest wait while the thread is busy");
  t.equal(batcher.queuedRows, 10);
  runner.hold = false;
  runner.release();
  const outputs = await Promise.all([first, ...rest]);
  t.equal(runner.tasks.length, 2, "ten requests, one more task");
  t.equal(runner.tasks[1].rows, 10);
  t.ok(runner.tasks[1].wantMargins && runner.tasks[1].wantPredictions, "mixed outputs in one task");
  outputs.slice(1).forEach((out, i) => {
    t.same(out, model.predictBatch(rowValues(i + 1), 1, { margin: i % 2 === 0 }), `request ${i + 1}`);
  });
});

t.test("a big request is shared between idle threads and reassembled in order", async (t) => {
  const runner = new HeldRunner(3, model);
  const batcher = makeBatcher(runner, { maxBatchRows: 1000, minSplitRows: 10 });
  const rows = 90;
  const values = new Float32Array(rows * nf);
  for (let r = 0; r < rows; r++) values.set(rowValues(r), r * nf);
  const expected = model.predictBatch(values.slice(), rows);
  const out = await batcher.submit(values, rows, false);
  t.same(
    runner.tasks.map((task) => task.rows),
    [30, 30, 30],
    "one part per thread",
  );
  t.same(out, expected);
});

t.test("MAX_BATCH_ROWS caps a task", async (t) => {
  const runner = new HeldRunner(1, model);
  const batcher = makeBatcher(runner, { maxBatchRows: 16 });
  const rows = 40;
  const values = new Float32Array(rows * nf);
  for (let r = 0; r < rows; r++) values.set(rowValues(r), r * nf);
  const expected = model.predictBatch(values.slice(), rows, { margin: true });
  const out = await batcher.submit(values, rows, true);
  t.ok(
    runner.tasks.every((task) => task.rows <= 16),
    "no task above 16 rows",
  );
  t.equal(
    runner.tasks.reduce((n, task) => n + task.rows, 0),
    40,
  );
  t.same(out, expected);
});

t.test("beyond MAX_QUEUE waiting rows, requests are refused at once", async (t) => {
  const runner = new HeldRunner(1, model);
  const batcher = makeBatcher(runner, { maxQueueRows: 5, maxBatchRows: 8 });
  runner.hold = true;
  const busy = batcher.submit(rowValues(0), 1, false);
  await tick();
  const waiting = Array.from({ length: 5 }, (_, i) => batcher.submit(rowValues(i), 1, false));
  await t.rejects(batcher.submit(rowValues(9), 1, false), OverloadedError);
  runner.hold = false;
  runner.release();
  await Promise.all([busy, ...waiting]);
  t.pass("the accepted ones all complete");
});

t.test("MAX_QUEUE_WAIT: rows expected to wait longer are refused, and admission says so first", async (t) => {
  const runner = new HeldRunner(1, model);
  const batcher = makeBatcher(runner, { maxQueueWaitMs: 30, maxBatchRows: 100 });
  // Teach the batcher the rate: one 10-row task its thread scored in 20 ms.
  runner.taskSeconds = 0.02;
  await batcher.submit(new Float32Array(nf * 10), 10, false);
  runner.taskSeconds = 0.001;
  t.ok(batcher.admitting, "idle: admitting");
  runner.hold = true;
  const busy = batcher.submit(rowValues(1), 1, false);
  await tick();
  t.ok(batcher.admitting, "busy, nothing waiting: admitting");
  const waiting = batcher.submit(new Float32Array(nf * 20), 20, false); // ~40 ms of work
  t.notOk(batcher.admitting, "busy with ~40 ms waiting: not admitting");
  await t.rejects(batcher.submit(rowValues(2), 1, false), {
    code: "FORESTD_ERR_OVERLOADED",
    message: /expected wait/,
  });
  runner.hold = false;
  runner.release();
  await Promise.all([busy, waiting]);
  t.ok(batcher.admitting, "drained: admitting again");
});

t.test(
  "MAX_QUEUE_WAIT with the thread idle: a turn's requests are admitted up to the bound, not all",
  async (t) => {
    const runner = new HeldRunner(1, model);
    const batcher = makeBatcher(runner, { maxQueueWaitMs: 30, maxBatchRows: 100 });
    // Teach the batcher the rate: one 10-row task its thread scored in 20 ms (2 ms a row).
    runner.taskSeconds = 0.02;
    await batcher.submit(new Float32Array(nf * 10), 10, false);
    runner.taskSeconds = 0.001;
    await tick();
    t.equal(batcher.busyThreads, 0, "the thread is idle");
    // One turn, as a burst read by the event loop: all of it would be scored together at its end.
    const first = batcher.submit(new Float32Array(nf * 10), 10, false); // ~20 ms, nothing ahead
    const second = batcher.submit(new Float32Array(nf * 6), 6, false); // 20 ms ahead: within 30
    t.notOk(batcher.admitting, "32 ms of rows queued in this turn: not admitting, thread idle or not");
    await t.rejects(batcher.submit(rowValues(3), 1, false), {
      code: "FORESTD_ERR_OVERLOADED",
      message: /expected wait/,
    });
    t.equal((await first).length, 10 * model.numOutputs, "the lone first request was admitted");
    t.equal((await second).length, 6 * model.numOutputs, "and the one within the bound");
    t.ok(batcher.admitting, "drained: admitting again");
  },
);

t.test("threads that hold their next task get it while they score, and admission counts it", async (t) => {
  const runner = new HeldRunner(1, model);
  runner.tasksPerThread = 2;
  const batcher = makeBatcher(runner, { maxQueueWaitMs: 30, maxBatchRows: 100 });
  runner.taskSeconds = 0.02; // 10 rows in 20 ms
  await batcher.submit(new Float32Array(nf * 10), 10, false);
  runner.hold = true;
  const running = batcher.submit(rowValues(1), 1, false);
  await tick();
  const next = batcher.submit(new Float32Array(nf * 20), 20, false); // ~40 ms of work
  await tick();
  t.equal(runner.tasks.length, 3, "the next task went to the busy thread at once");
  t.equal(batcher.queuedRows, 0, "nothing waits here");
  t.equal(batcher.busyThreads, 1);
  t.notOk(batcher.admitting, "the rows held by the busy thread count as waiting: not admitting");
  await t.rejects(batcher.submit(rowValues(2), 1, false), OverloadedError);
  await t.rejects(batcher.submit(rowValues(2), 1, false), {
    message: /expected wait for a scoring thread \(20 rows ahead\)/,
  });
  runner.hold = false;
  runner.release();
  const [first, second] = await Promise.all([running, next]);
  t.same(first, model.predictBatch(rowValues(1), 1), "the running task's own rows");
  t.same(second, model.predictBatch(new Float32Array(nf * 20), 20), "the held task's own rows");
  await tick();
  t.ok(batcher.admitting, "drained: admitting again");
  t.equal(batcher.busyThreads, 0);
});

t.test(
  "a request held in a busy thread's port is answered at its deadline, and its task skipped",
  async (t) => {
    const runner = new HeldRunner(1, model);
    runner.tasksPerThread = 2;
    const batcher = makeBatcher(runner);
    runner.hold = true;
    const running = batcher.submit(rowValues(1), 1, false);
    await tick();
    const started = Date.now();
    const held = batcher.submit(rowValues(2), 1, false, 60);
    // The batcher's deadline sweep is unref'd: keep the process alive while it is the only timer.
    const keepAlive = setTimeout(() => undefined, 2000);
    t.teardown(() => clearTimeout(keepAlive));
    await tick();
    t.equal(runner.tasks.length, 2, "handed to the busy thread");
    await t.rejects(held, DeadlineError);
    const took = Date.now() - started;
    t.ok(took >= 55 && took < 500, `answered after ${took} ms, while the thread is still busy`);
    runner.hold = false;
    runner.release();
    await running;
    await tick();
    t.equal(batcher.busyThreads, 0, "the skipped task came back");
  },
);

t.test("a failed task fails its requests, and the next task still runs", async (t) => {
  const failing: TaskRunner = { threads: 1, run: () => Promise.reject(new Error("thread died")) };
  const batcher = new Batcher(failing, {
    numFeature: nf,
    groups: 4,
    width: 1,
    maxBatchRows: 8,
    maxQueueRows: 8,
  });
  await t.rejects(batcher.submit(rowValues(1), 1, false), { message: "thread died" });
  await t.rejects(batcher.submit(rowValues(2), 1, false), { message: "thread died" });
  t.equal(batcher.busyThreads, 0);
});

t.test("zero rows need no thread", async (t) => {
  const runner = new HeldRunner(1, model);
  const out = await makeBatcher(runner).submit(new Float32Array(0), 0, false);
  t.equal(out.length, 0);
  t.equal(runner.tasks.length, 0);
});

/** Scores at once, as HeldRunner, and keeps each task's own rows array and transfer list. */
class RecordingRunner implements TaskRunner {
  readonly threads = 1;
  readonly tasks: { values: ScoreTask["values"]; transfer: ArrayBuffer[] }[] = [];
  run(task: ScoreTask, transfer: ArrayBuffer[]): Promise<ArrayBuffer> {
    this.tasks.push({ values: task.values, transfer });
    return Promise.resolve(scoreTask(model, task));
  }
}

t.test("rows in shared memory go to the thread where they lie, whole or cut, no copy", async (t) => {
  const rows = 40;
  const shared = new Float32Array(new SharedArrayBuffer((rows * nf + 2) * 4), 8, rows * nf);
  const plain = new Float32Array(rows * nf);
  for (let r = 0; r < rows; r++) plain.set(rowValues(r), r * nf);
  shared.set(plain);
  const expected = model.predictBatch(plain.slice(), rows);
  for (const maxBatchRows of [64, 16]) {
    const runner = new RecordingRunner();
    const out = await makeBatcher(runner, { maxBatchRows }).submit(shared, rows, false);
    t.same(out, expected, `MAX_BATCH_ROWS ${maxBatchRows}: the same predictions`);
    t.equal(runner.tasks.length, maxBatchRows === 64 ? 1 : 3);
    let row = 0;
    for (const task of runner.tasks) {
      t.equal(task.values.buffer, shared.buffer, "a view of the request's own shared rows");
      t.equal(task.values.byteOffset, shared.byteOffset + row * nf * 4, "at its rows");
      t.same(task.transfer, [], "nothing transferred");
      row += task.values.length / nf;
    }
    t.equal(row, rows);
  }
});

t.test("a request scored whole is answered from its task's result; a cut one is put together", async (t) => {
  const rows = 40;
  const values = () => {
    const v = new Float32Array(rows * nf);
    for (let r = 0; r < rows; r++) v.set(rowValues(r), r * nf);
    return v;
  };
  const expected = model.predictBatch(values(), rows);
  const whole = new RecordingRunner();
  const one = await makeBatcher(whole).submit(values(), rows, false);
  t.equal(whole.tasks[0].transfer.length, 1, "its own buffer moved to the thread");
  t.same(one, expected);
  t.not(one.byteOffset, 0, "a view of the result, after its header: no copy");
  const cut = new RecordingRunner();
  const parts = await makeBatcher(cut, { maxBatchRows: 16 }).submit(values(), rows, false);
  t.equal(cut.tasks.length, 3);
  t.same(parts, expected, "three parts, in order");
  t.equal(parts.byteOffset, 0, "an array of its own");
});
