/**
 * The arbiter's decisions, without processes or a real clock (after gunicorn/tests/test_arbiter.py):
 * events in, actions out.
 */
import t from "tap";
import {
  type GenerationPlan,
  KILL_GRACE_MS,
  modelSetRecipients,
  Supervisor,
  type SupervisorAction,
  type SupervisorEvent,
} from "../../server/supervisor.js";

const plan = (id: number, workers = 2): GenerationPlan => ({
  id,
  workers,
  timeoutMs: 3000,
  gracefulTimeoutMs: 5000,
});

/** A supervisor with a fake cluster: spawns get ids at once, as cluster.fork() does. */
class Harness {
  readonly s: Supervisor;
  now = 1_000_000;
  nextId = 1;
  readonly log: SupervisorAction[] = [];

  constructor(first = plan(1)) {
    this.s = new Supervisor(first);
  }

  feed(event: SupervisorEvent): SupervisorAction[] {
    const actions = this.s.handle(event);
    const all: SupervisorAction[] = [];
    for (const a of actions) {
      all.push(a);
      if (a.type === "spawn")
        all.push(
          ...this.feed({ type: "spawned", id: this.nextId++, generation: a.generation, now: this.now }),
        );
    }
    this.log.push(...all);
    return all;
  }

  tick(ms = 0): SupervisorAction[] {
    this.now += ms;
    return this.feed({ type: "tick", now: this.now });
  }

  signal(signal: "SIGTERM" | "SIGINT" | "SIGQUIT" | "SIGHUP" | "SIGTTIN" | "SIGTTOU"): SupervisorAction[] {
    return this.feed({ type: "signal", signal, now: this.now });
  }

  readyAll(generation?: number): void {
    for (const w of [...this.s.workers.values()])
      if (w.phase === "booting" && (generation === undefined || w.generation === generation))
        this.feed({ type: "ready", id: w.id, now: this.now });
  }

  exit(
    id: number,
    options: { bootError?: boolean; signal?: string | null; message?: string } = {},
  ): SupervisorAction[] {
    if (options.message) this.feed({ type: "boot-error", id, message: options.message });
    return this.feed({
      type: "exit",
      id,
      bootError: options.bootError ?? false,
      signal: options.signal ?? null,
      now: this.now,
    });
  }

  heartbeatAll(except: number[] = []): void {
    for (const id of this.s.workers.keys())
      if (!except.includes(id)) this.feed({ type: "heartbeat", id, now: this.now });
  }

  serving(): number[] {
    return [...this.s.workers.values()].filter((w) => w.phase !== "retiring").map((w) => w.id);
  }
}

const types = (actions: SupervisorAction[]) => actions.map((a) => a.type);

t.test("start: spawns WORKERS of generation 1", async (t) => {
  const h = new Harness();
  const actions = h.tick();
  t.same(
    actions.filter((a) => a.type === "spawn"),
    [
      { type: "spawn", generation: 1 },
      { type: "spawn", generation: 1 },
    ],
  );
  t.equal(h.s.workers.size, 2);
  t.same(
    types(h.tick(100)).filter((x) => x === "spawn"),
    [],
    "no more while they boot",
  );
});

t.test("a boot error before anything served halts; once serving it is counted and retried", async (t) => {
  const h = new Harness();
  h.tick();
  const halted = h.exit(1, { bootError: true, message: "cannot load model" });
  t.ok(
    halted.some((a) => a.type === "halt" && a.reason === "cannot load model"),
    "halt before serving",
  );
  t.ok(
    halted.some((a) => a.type === "shutdown" && a.id === 2),
    "the other worker is stopped",
  );
  t.equal(h.s.halted, "cannot load model");

  const g = new Harness();
  g.tick();
  g.readyAll();
  const actions = g.exit(1, { bootError: true, message: "boom" });
  t.notOk(
    actions.some((a) => a.type === "halt"),
    "no halt once serving",
  );
  t.ok(
    actions.some((a) => a.type === "count-boot-failure"),
    "counted",
  );
  t.ok(
    actions.some((a) => a.type === "log" && a.event === "worker_backoff"),
    "backed off",
  );
  t.same(
    types(g.tick(10)).filter((x) => x === "spawn"),
    [],
    "not respawned during the backoff",
  );
  t.same(
    types(g.tick(1000)).filter((x) => x === "spawn"),
    ["spawn"],
    "respawned after it",
  );
  t.equal(g.s.halted, null);
});

t.test("kill -9 of a ready worker: counted as killed and replaced at once", async (t) => {
  const h = new Harness();
  h.tick();
  h.readyAll();
  h.now += 60_000;
  h.heartbeatAll();
  const actions = h.exit(1, { signal: "SIGKILL" });
  t.same(
    actions.filter((a) => a.type === "count-restart"),
    [{ type: "count-restart", reason: "killed" }],
  );
  t.same(
    types(h.tick()).filter((x) => x === "spawn"),
    ["spawn"],
  );
});

t.test("SIGHUP: new generation promoted once all its workers are ready; old one drains", async (t) => {
  const h = new Harness();
  h.tick();
  h.readyAll();
  t.same(types(h.signal("SIGHUP")), ["prepare-reload"]);
  const started = h.feed({ type: "reload-prepared", plan: plan(2), now: h.now });
  t.equal(started.filter((a) => a.type === "spawn").length, 2, "two workers of generation 2");
  t.equal(h.s.pending, 2);
  const [first] = [...h.s.workers.values()].filter((w) => w.generation === 2);
  t.notOk(
    h.feed({ type: "ready", id: first.id, now: h.now }).some((a) => a.type === "promote"),
    "not yet",
  );
  h.readyAll(2);
  const promoted = h.log.find((a) => a.type === "promote");
  t.same(promoted, { type: "promote", generation: 2, retired: 1 });
  t.equal(h.s.live, 2);
  t.same(
    [...h.s.workers.values()].filter((w) => w.generation === 1).map((w) => w.phase),
    ["retiring", "retiring"],
  );
});

t.test("a SIGHUP during a pending reload is queued, not dropped: the last one wins", async (t) => {
  const h = new Harness();
  h.tick();
  h.readyAll();
  h.signal("SIGHUP");
  t.same(
    types(h.signal("SIGHUP")).filter((x) => x === "prepare-reload"),
    [],
    "no second read while the first runs",
  );
  t.equal(h.s.reloadQueued, true);
  h.signal("SIGHUP");
  // The first read finishes after a newer SIGHUP: it is abandoned and the file read again.
  const again = h.feed({ type: "reload-prepared", plan: plan(2), now: h.now });
  t.same(types(again), ["abandon", "prepare-reload"]);
  h.feed({ type: "reload-prepared", plan: plan(3), now: h.now });
  t.equal(h.s.pending, 3);
  // And one arriving while generation 3 boots runs after it is promoted.
  h.signal("SIGHUP");
  h.readyAll(3);
  t.ok(h.log.some((a) => a.type === "promote" && a.generation === 3));
  t.equal(h.log.filter((a) => a.type === "prepare-reload").length, 3, "a third read after the promotion");
  t.equal(h.s.preparing, true);
});

t.test("a failed reload keeps the old generation and runs a queued one", async (t) => {
  const h = new Harness();
  h.tick();
  h.readyAll();
  h.signal("SIGHUP");
  h.signal("SIGHUP");
  const failed = h.feed({ type: "reload-failed", message: "bad file", now: h.now });
  t.ok(failed.some((a) => a.type === "log" && a.event === "reload_failed"));
  t.ok(
    failed.some((a) => a.type === "prepare-reload"),
    "the queued SIGHUP reads again",
  );
  t.equal(h.s.live, 1);
});

t.test("a pending generation whose worker fails to boot is abandoned; the live one serves on", async (t) => {
  const h = new Harness();
  h.tick();
  h.readyAll();
  h.signal("SIGHUP");
  h.feed({ type: "reload-prepared", plan: plan(2), now: h.now });
  const [bad, other] = [...h.s.workers.values()].filter((w) => w.generation === 2);
  const actions = h.exit(bad.id, { bootError: true, message: "no" });
  t.ok(actions.some((a) => a.type === "abandon" && a.generation === 2));
  t.ok(actions.some((a) => a.type === "shutdown" && a.id === other.id));
  t.equal(h.s.pending, null);
  t.equal(h.s.halted, null);
  t.same(
    [...h.s.workers.values()].filter((w) => w.generation === 1).map((w) => w.phase),
    ["ready", "ready"],
  );
});

t.test("model-set changes go to one generation: a reload's, from its preparation on", async (t) => {
  const h = new Harness();
  h.tick();
  h.readyAll();
  const recipients = () => modelSetRecipients(h.s.workers.values(), h.s.modelGeneration);
  t.same(recipients(), [1, 2], "the live generation's workers");
  h.signal("SIGHUP");
  t.equal(h.s.modelGeneration, null, "while the reload is read, nobody: its model enters the registry then");
  t.same(recipients(), []);
  h.feed({ type: "reload-prepared", plan: plan(2), now: h.now });
  t.equal(h.s.modelGeneration, 2);
  t.same(recipients(), [3, 4], "the new generation's (booting) workers, not the old ones still serving");
  h.readyAll(2);
  t.equal(h.s.modelGeneration, 2);
  t.same(recipients(), [3, 4], "after the promotion: the old ones drain with the models they had");

  const failed = new Harness();
  failed.tick();
  failed.readyAll();
  failed.signal("SIGHUP");
  failed.feed({ type: "reload-failed", message: "bad file", now: failed.now });
  t.equal(failed.s.modelGeneration, 1, "a failed reload: the live generation again");

  const abandoned = new Harness();
  abandoned.tick();
  abandoned.readyAll();
  abandoned.signal("SIGHUP");
  abandoned.feed({ type: "reload-prepared", plan: plan(2), now: abandoned.now });
  abandoned.exit(3, { bootError: true, message: "no" });
  t.equal(abandoned.s.modelGeneration, 1, "an abandoned one: the live generation again");
  t.same(modelSetRecipients(abandoned.s.workers.values(), abandoned.s.modelGeneration), [1, 2]);

  const queued = new Harness();
  queued.tick();
  queued.readyAll();
  queued.signal("SIGHUP");
  queued.signal("SIGHUP");
  queued.feed({ type: "reload-prepared", plan: plan(2), now: queued.now });
  t.equal(queued.s.modelGeneration, null, "a superseded preparation read again: still nobody");
});

t.test("a worker retiring gets no model-set change, whatever its generation", async (t) => {
  const h = new Harness();
  h.tick();
  h.readyAll();
  h.feed({ type: "retire-request", id: 1, now: h.now });
  h.tick();
  h.readyAll();
  t.equal(h.s.workers.get(1)?.phase, "retiring");
  t.same(modelSetRecipients(h.s.workers.values(), h.s.modelGeneration), [2, 3]);
});

t.test("silence past TIMEOUT, booting or not: SIGTERM then SIGKILL", async (t) => {
  const h = new Harness();
  h.tick();
  // Worker 1 boots normally; worker 2 is stopped while booting and never speaks.
  h.feed({ type: "ready", id: 1, now: h.now });
  h.now += 2000;
  h.heartbeatAll([2]);
  h.now += 1500;
  h.heartbeatAll([2]);
  const term = h.tick();
  t.ok(
    term.some((a) => a.type === "kill" && a.id === 2 && a.signal === "SIGTERM"),
    "booting worker bounded by TIMEOUT",
  );
  t.notOk(term.some((a) => a.type === "kill" && a.id === 1));
  const kill = h.tick(KILL_GRACE_MS + 1);
  t.ok(kill.some((a) => a.type === "kill" && a.id === 2 && a.signal === "SIGKILL"));
  const exit = h.exit(2, { signal: "SIGKILL" });
  t.same(
    exit.filter((a) => a.type === "count-restart"),
    [{ type: "count-restart", reason: "timeout" }],
  );
});

t.test("SIGTTOU retires a hung or booting worker before a healthy one", async (t) => {
  const h = new Harness(plan(1, 3));
  h.tick();
  h.readyAll();
  h.now += 10_000;
  h.heartbeatAll([1]); // worker 1 (the oldest) is hung
  const actions = h.signal("SIGTTOU");
  t.same(
    actions.filter((a) => a.type === "shutdown").map((a) => (a as { id: number }).id),
    [1],
    "the hung one goes",
  );

  const b = new Harness(plan(1, 2));
  b.tick();
  b.readyAll();
  b.signal("SIGTTIN");
  const booting = [...b.s.workers.values()].find((w) => w.phase === "booting");
  const down = b.signal("SIGTTOU");
  t.same(
    down.filter((a) => a.type === "shutdown").map((a) => (a as { id: number }).id),
    [booting?.id],
    "the booting one goes",
  );
});

t.test("TTIN/TTOU survive a reload that does not change WORKERS; never below 1", async (t) => {
  const h = new Harness(plan(1, 2));
  h.tick();
  h.readyAll();
  h.signal("SIGTTIN");
  h.readyAll();
  t.equal(h.s.target, 3);
  h.signal("SIGHUP");
  h.feed({ type: "reload-prepared", plan: plan(2, 2), now: h.now });
  t.equal(h.s.target, 3, "WORKERS unchanged by the reload: the TTIN stands");
  for (let i = 0; i < 5; i++) h.signal("SIGTTOU");
  t.equal(h.s.target, 1);
});

t.test("MAX_REQUESTS: the worker asking to retire goes once its replacement is ready", async (t) => {
  const h = new Harness(plan(1, 1));
  h.tick();
  h.readyAll();
  const ask = h.feed({ type: "retire-request", id: 1, now: h.now });
  t.same(
    types(ask).filter((x) => x === "spawn"),
    ["spawn"],
    "replacement first",
  );
  t.notOk(
    ask.some((a) => a.type === "shutdown"),
    "old one keeps serving meanwhile",
  );
  h.readyAll();
  t.ok(h.log.some((a) => a.type === "shutdown" && a.id === 1));
  const exit = h.exit(1);
  t.same(
    exit.filter((a) => a.type === "count-restart"),
    [{ type: "count-restart", reason: "max_requests" }],
  );
});

t.test("graceful stop: shutdown to all, SIGKILL after the deadline, finished when all exited", async (t) => {
  const h = new Harness();
  h.tick();
  h.readyAll();
  const stop = h.signal("SIGTERM");
  t.same(
    stop.filter((a) => a.type === "shutdown"),
    [
      { type: "shutdown", id: 1, graceful: true },
      { type: "shutdown", id: 2, graceful: true },
    ],
  );
  t.same(
    types(h.tick(1000)).filter((x) => x === "kill"),
    [],
  );
  t.same(
    types(h.tick(5000)).filter((x) => x === "kill"),
    ["kill", "kill"],
    "past GRACEFUL_TIMEOUT",
  );
  h.exit(1, { signal: "SIGKILL" });
  t.notOk(h.s.finished);
  h.exit(2, { signal: "SIGKILL" });
  t.ok(h.s.finished);
  t.same(types(h.signal("SIGHUP")), [], "no reload while stopping");
});

t.test("an early crash backs off exponentially; a ready worker resets it", async (t) => {
  const h = new Harness(plan(1, 1));
  h.tick();
  h.readyAll();
  const backoffs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const id = [...h.s.workers.keys()][0];
    const actions = h.exit(id, { signal: null });
    const log = actions.find((a) => a.type === "log" && a.event === "worker_backoff");
    const ms = log?.type === "log" ? Number(log.fields?.backoff_ms) : Number.NaN;
    backoffs.push(ms);
    h.tick(ms);
  }
  t.same(backoffs, [200, 400, 800]);
  h.readyAll();
  t.equal(h.s.earlyDeaths, 0);
});
