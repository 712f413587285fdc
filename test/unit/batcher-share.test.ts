/**
 * Several models' batchers on one pool (ThreadShare): the next task goes to the waiting model that
 * has had the least thread time, a model's tasks are kept short while another model is active, a
 * model's expected wait does not count the queue of a model it goes before, and a model that floods
 * pays for its shed requests. Tasks are scored by the real engine; the runner holds them on cue.
 */
import { join } from "node:path";
import t from "tap";
import { loadModel } from "../../model/index.js";
import { Batcher, CONTENDED_TASK_MS, type TaskRunner, ThreadShare } from "../../workers/scoring/batcher.js";
import type { ScoreTask } from "../../workers/scoring/protocol.js";
import { scoreTask } from "../../workers/thread/score-task.js";
import { FIXTURES } from "../helpers/fixtures.js";

const model = loadModel(join(FIXTURES, "binary_logistic.json"));
const nf = model.numFeature;
const tick = () => new Promise((r) => setImmediate(r));

/** One thread holding `tasksPerThread` tasks at a time, answering when told; each task reports `msPerRow` × rows of scoring. */
class Runner implements TaskRunner {
  readonly threads = 1;
  readonly tasks: ScoreTask[] = [];
  readonly #held: (() => void)[] = [];
  msPerRow = 0.1;
  constructor(readonly tasksPerThread = 1) {}
  /** Tasks handed over and not answered yet. */
  get inFlight(): number {
    return this.#held.length;
  }
  run(task: ScoreTask): Promise<ArrayBuffer> {
    this.tasks.push({ ...task, values: task.values.slice() });
    const result = scoreTask(model, task);
    new Float64Array(result, 0, 1)[0] = (task.rows * this.msPerRow) / 1000;
    return new Promise((resolve) => this.#held.push(() => resolve(result)));
  }
  /** Lets the running task finish; resolves after the batchers saw it. */
  async next(): Promise<void> {
    this.#held.shift()?.();
    await tick();
    await tick();
  }
}

function batcher(share: ThreadShare, modelId: number) {
  return new Batcher(share, {
    modelId,
    numFeature: nf,
    groups: 1,
    width: 1,
    maxBatchRows: 4096,
    maxQueueRows: 1_000_000,
    maxQueueWaitMs: 1000,
    minSplitRows: 1,
  });
}

const rows = (n: number) => new Float32Array(n * nf);

/**
 * An activity window that does not lapse by the clock, for the tests that need a model to still
 * count as active a few tasks after its request: at ACTIVE_MS (100 ms), a loaded CI machine once let
 * B's activity lapse mid-test, A alone then kept a second task in the port, and B waited behind it.
 */
const STAYS_ACTIVE_MS = 60_000;

t.test(
  "a model with little work goes before one with a backlog, and tasks stay short while both are active",
  async (t) => {
    const runner = new Runner();
    const share = new ThreadShare(runner, STAYS_ACTIVE_MS); // B still active when A's next task is cut
    const a = batcher(share, 1);
    const b = batcher(share, 2);
    // Teach A its rate alone (a big task), then flood it (more than one task holds) while B asks for a little.
    const first = a.submit(rows(100), 100, false);
    await tick();
    await runner.next();
    await first;
    const flood = Array.from({ length: 40 }, () => a.submit(rows(200), 200, false));
    await tick();
    t.equal(runner.tasks.at(-1)?.model, 1, "A's task runs");
    const small = b.submit(rows(5), 5, false);
    await tick();
    await runner.next(); // A's running task ends: the next task is B's, though A has far more waiting
    t.equal(runner.tasks.at(-1)?.model, 2, "B's request goes next");
    const bAt = runner.tasks.length - 1;
    await runner.next();
    await small;
    await tick();
    const after = runner.tasks[bAt + 1];
    t.equal(after?.model, 1, "then A again");
    t.ok(
      after.rows * runner.msPerRow <= CONTENDED_TASK_MS + 1e-9,
      `A's task while B is active holds ${after.rows} rows (${after.rows * runner.msPerRow} ms): at most ${CONTENDED_TASK_MS} ms`,
    );
    for (let i = 0; i < 2000 && runner.tasks.length < 5000; i++) await runner.next();
    await Promise.all(flood);
    t.pass("every flooded request is answered");
  },
);

t.test(
  "a model that wakes starts at the virtual time (the start of the running task); its expected wait counts another model's queue only up to its own work, and not at all once that model has had more; a shed request charges its model",
  async (t) => {
    const runner = new Runner();
    const share = new ThreadShare(runner);
    const a = batcher(share, 1);
    const b = batcher(share, 2);
    // Both measured (0.1 ms a row), then A holds the thread and has a backlog waiting.
    const warmA = a.submit(rows(10), 10, false);
    const warmB = b.submit(rows(10), 10, false);
    await tick();
    await runner.next();
    await runner.next();
    await Promise.all([warmA, warmB]);
    const running = a.submit(rows(10), 10, false);
    await tick();
    const backlog = a.submit(rows(2000), 2000, false);
    await tick();
    const idleCredit = b.servedMs;
    const waitingB = b.submit(rows(10), 10, false);
    t.ok(idleCredit < a.servedMs, "B had less thread time while idle");
    t.ok(
      Math.abs(b.servedMs - (a.servedMs - 10 * 0.1)) < 1e-9,
      "B wakes at the start of A's running task (the virtual time), not with the credit of its idle time",
    );
    t.ok(
      b.expectedWaitMs < a.expectedWaitMs / 10,
      `B's wait (${b.expectedWaitMs.toFixed(2)} ms) far below A's (${a.expectedWaitMs.toFixed(2)} ms)`,
    );
    t.ok(
      b.expectedWaitMs <= 2 * 10 * 0.1 + 1e-9,
      "B's wait counts A's 200 ms backlog only up to B's own 1 ms",
    );
    const before = a.servedMs;
    a.shed();
    t.ok(a.servedMs > before, "a shed request counts against A's share");
    t.ok(b.expectedWaitMs <= 10 * 0.1 + 1e-9, "A now ahead in thread time: B waits for its own rows only");
    await runner.next();
    t.equal(runner.tasks.at(-1)?.model, 2, "and B's rows go next");
    for (let i = 0; i < 200; i++) await runner.next();
    await Promise.all([running, backlog, waitingB]);
  },
);

t.test(
  "a model served alone for long, then woken beside one that was idle meanwhile, is not made to wait while the other catches up",
  async (t) => {
    const runner = new Runner();
    // B must still count as active when A floods, however long this machine takes over B's 50 tasks.
    const share = new ThreadShare(runner, STAYS_ACTIVE_MS);
    const a = batcher(share, 1);
    const b = batcher(share, 2);
    // A measured once, then idle; B served alone for a long while (as the fairness bench measures
    // B alone before flooding A).
    const warmA = a.submit(rows(10), 10, false);
    await tick();
    await runner.next();
    await warmA;
    for (let i = 0; i < 50; i++) {
      let done = false;
      const alone = b.submit(rows(200), 200, false).then(() => {
        done = true;
      });
      await tick();
      // (Cut into short tasks while A still counts as active.)
      while (!done) await runner.next();
      await alone;
    }
    t.ok(b.servedMs > a.servedMs + 900, `B has had ${b.servedMs} ms of thread time, A ${a.servedMs} ms`);
    // A floods after its idle spell: it starts at the virtual time, not with the credit of that spell.
    const flood = Array.from({ length: 40 }, () => a.submit(rows(200), 200, false));
    await tick();
    t.equal(runner.tasks.at(-1)?.model, 1, "A's task runs");
    t.ok(a.servedMs >= b.servedMs - 200 * 0.1, "A woke at the virtual time, level with B's last task");
    // B has work again: it goes right after A's running task, not once A has caught up B's long run.
    const waitingB = b.submit(rows(10), 10, false);
    await tick();
    await runner.next();
    t.equal(runner.tasks.at(-1)?.model, 2, "B's request goes next");
    await runner.next();
    await waitingB;
    for (let i = 0; i < 2000 && runner.tasks.length < 5000; i++) await runner.next();
    await Promise.all(flood);
  },
);

t.test("one model alone: its batches are as before (no cap)", async (t) => {
  const runner = new Runner();
  const share = new ThreadShare(runner);
  const a = batcher(share, 1);
  batcher(share, 2); // another model that is idle: not active, no contention
  const first = a.submit(rows(10), 10, false);
  await tick();
  const rest = a.submit(rows(1000), 1000, false);
  await tick();
  await runner.next();
  t.equal(runner.tasks.at(-1)?.rows, 1000, "the waiting rows ride in one task");
  await runner.next();
  await Promise.all([first, rest]);
});

t.test(
  "alone, a model keeps a next task in the thread's port; while models contend, a thread holds one task, and the next is chosen when it frees",
  async (t) => {
    const runner = new Runner(2);
    const share = new ThreadShare(runner, STAYS_ACTIVE_MS); // B still active five tasks after its answer
    const a = batcher(share, 1);
    const b = batcher(share, 2);
    const first = a.submit(rows(10), 10, false);
    await tick();
    await runner.next();
    await first; // A's rate measured: 0.1 ms a row
    const flood = Array.from({ length: 20 }, () => a.submit(rows(500), 500, false)); // more than one task holds
    await tick();
    t.equal(runner.inFlight, 2, "A alone: the task it scores and the next, in the port");
    const small = b.submit(rows(5), 5, false);
    await tick();
    let most = 0;
    for (let i = 0; i < 400 && runner.tasks.length < 1000; i++) {
      await runner.next();
      if (runner.tasks.at(-1)?.model === 2) break;
      most = Math.max(most, runner.inFlight);
    }
    t.equal(runner.tasks.at(-1)?.model, 2, "B's request is scored");
    t.equal(
      runner.tasks.filter((task, i) => task.model === 1 && i > 2).length,
      0,
      "B's task is the first handed over once B is waiting: no task of A's was committed ahead of it",
    );
    let smallDone = false;
    void small.then(() => {
      smallDone = true;
    });
    for (let i = 0; i < 10 && !smallDone; i++) await runner.next();
    await small;
    // B is still active (it asked within the window): A's flood goes on one task at a time.
    for (let i = 0; i < 5; i++) {
      await runner.next();
      most = Math.max(most, runner.inFlight);
    }
    t.ok(most <= 1, `while B is active, at most one task is in flight (${most})`);
    for (let i = 0; i < 400 && runner.inFlight > 0; i++) await runner.next();
    await Promise.all(flood);
  },
);
