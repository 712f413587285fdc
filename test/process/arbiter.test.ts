/**
 * The arbiter under load, with real processes and real signals: crash respawn, graceful stop,
 * zero-downtime reload (good and corrupt model), hung worker and hung thread, scaling, recycling.
 * Load goes to 127.0.0.1 only and every loop is bounded in time.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { loadModel } from "../../model/index.js";
import { writeSyntheticModel } from "../../scripts/bench/synthetic-model.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";
import { Load } from "../helpers/load.js";
import { postJson, type RunningServer, request, startServer, waitFor } from "../helpers/server.js";
import { SCRIPTED_THREAD, scriptedRow } from "../helpers/threads.js";

const ROW = JSON.stringify({ instances: [[1.5, -2, 3, 0.25, 7, -1]] });
const DEFAULT_ROW = JSON.stringify({ height: 180, weight: 80, shoe_size: 44 });

/** Worker pids the server's log says are alive (spawned, not exited). */
function aliveWorkers(server: RunningServer): number[] {
  const events = server.events();
  const exited = new Set(events.filter((e) => e.event === "worker_exit").map((e) => e.pid));
  return events.filter((e) => e.event === "worker_spawn" && !exited.has(e.pid)).map((e) => e.pid as number);
}

function readyWorkers(server: RunningServer): number {
  const events = server.events();
  const exited = new Set(events.filter((e) => e.event === "worker_exit").map((e) => e.worker));
  return new Set(
    events
      .filter((e) => e.event === "worker_ready" && e.role === "primary" && !exited.has(e.worker))
      .map((e) => e.worker),
  ).size;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Servers shared by two tests in turn (a server each cost ~2.5 s of start-up), the second of
// which needs of it only what any state the first may leave it in gives (a port held, a stop), or
// what the first test asserts it leaves (two ready workers). Stopped at the end whatever happened
// (stop() does nothing to a server that has exited).
/** WORKERS=2: the kill -9 test, then the SIGTERM one (GRACEFUL_TIMEOUT 10 bounds that stop). */
let twoWorkers: RunningServer | undefined;
/** The SIGTTIN/SIGTTOU test's, whose port the boot-error test takes. */
let scaled: RunningServer | undefined;
/** GRACEFUL_TIMEOUT 30: the empty-backlog test's, which SIGINT then stops without waiting that out. */
let backlog: RunningServer | undefined;
t.teardown(async () => {
  for (const server of [twoWorkers, scaled, backlog]) await server?.stop();
});
async function serverOfTwoWorkers(): Promise<RunningServer> {
  twoWorkers ??= await startServer({ WORKERS: "2", ACCESS_LOG: "off", GRACEFUL_TIMEOUT: "10" });
  return twoWorkers;
}

t.test(
  "kill -9 of a worker under load: only its connections fail, service back within 1 s, count restored",
  async (t) => {
    const server = await serverOfTwoWorkers();
    await waitFor(() => readyWorkers(server) === 2, 10_000);
    const connections = 8;
    const load = new Load({ url: `${server.url}/predict`, body: DEFAULT_ROW, connections, durationMs: 4000 });
    await sleep(1000);
    const [victim] = aliveWorkers(server);
    const killedAt = Date.now();
    process.kill(victim, "SIGKILL");
    // The service answers again within 1 s of the kill (a fresh connection each time).
    let backAt = 0;
    await waitFor(async () => {
      const r = await postJson(`${server.url}/predict`, DEFAULT_ROW);
      if (r.status === 200) backAt = Date.now();
      return r.status === 200;
    }, 5000);
    t.ok(backAt - killedAt <= 1000, `answered again ${backAt - killedAt} ms after the kill`);
    await load.done;
    const failures = load.failures();
    t.ok(
      failures.length <= connections,
      `${failures.length} of ${load.outcomes.length} requests failed: at most the killed worker's connections`,
    );
    t.ok(
      failures.every((f) => f.status === 0 && Math.abs(f.doneAt - killedAt) < 2000),
      "and only around the kill",
    );
    await waitFor(() => aliveWorkers(server).length === 2 && readyWorkers(server) === 2, 10_000);
    t.pass("worker count back to WORKERS=2");
    t.match(server.logs(), /"event":"worker_exit".*"signal":"SIGKILL"/);
  },
);

t.test("SIGTERM under load: every request sent before the signal gets a 200; exit 0", async (t) => {
  // The kill -9 test's server, its worker count restored.
  const server = await serverOfTwoWorkers();
  await waitFor(() => aliveWorkers(server).length === 2 && readyWorkers(server) === 2, 10_000);
  const load = new Load({
    url: `${server.url}/predict`,
    body: DEFAULT_ROW,
    connections: 8,
    durationMs: 3000,
  });
  await sleep(1000);
  const signalledAt = Date.now();
  const code = await server.stop("SIGTERM");
  await load.stop();
  const before = load.outcomes.filter((o) => o.sentAt < signalledAt);
  t.ok(before.length > 100, `${before.length} requests sent before the signal`);
  t.same(
    before.filter((o) => o.status !== 200),
    [],
    "all answered 200",
  );
  t.equal(code, 0, "the primary exits 0");
});

t.test("SIGHUP reload under load: zero failures, predictions switch to the new model", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "forestd-reload-"));
  const modelFile = join(dir, "model.json");
  const oldModel = join(FIXTURES, "binary_logistic.json");
  const newModel = join(FIXTURES, "reg_squarederror.json");
  copyFileSync(oldModel, modelFile);
  const row = [[1.5, -2, 3, 0.25, 7, -1]];
  const expectOld = loadModel(oldModel).predictBatch(Float32Array.from(row[0]), 1)[0];
  const expectNew = loadModel(newModel).predictBatch(Float32Array.from(row[0]), 1)[0];
  t.not(expectOld, expectNew);
  const server = await startServer({
    WORKERS: "2",
    MODEL_PATH: modelFile,
    ACCESS_LOG: "off",
    PID_FILE: join(dir, "forestd.pid"),
  });
  t.teardown(() => server.stop());
  await waitFor(() => readyWorkers(server) === 2, 10_000);
  t.equal(
    readFileSync(join(dir, "forestd.pid"), "utf8").trim(),
    String(server.child.pid),
    "pid file written",
  );

  const shaBefore = (await request(`${server.url}/model`)).json.sha256;
  // Runs until stopped below, once the new generation serves alone: a fixed 7 s once ended before a
  // slow machine (load average 4) had the new workers ready, and the last answer was the old model's.
  const load = new Load({ url: `${server.url}/predict`, body: ROW, connections: 6, durationMs: 60_000 });
  await sleep(1000);
  copyFileSync(newModel, modelFile);
  const { spawnSync } = await import("node:child_process");
  const reload = spawnSync(
    process.execPath,
    [join(ROOT, "dist", "cli", "forestd.js"), "reload", "--pid-file", join(dir, "forestd.pid")],
    { encoding: "utf8" },
  );
  t.equal(reload.status, 0, `forestd reload: ${reload.stdout}${reload.stderr}`);
  // New-generation workers answer as soon as each is ready; the old ones serve the old model until
  // they drain, once all new are ready (a keep-alive connection to one gets one more answer from it).
  await waitFor(() => /"event":"reload_done"/.test(server.logs()), 25_000);
  t.not((await request(`${server.url}/model`)).json.sha256, shaBefore);
  await waitFor(() => aliveWorkers(server).length === 2, 20_000);
  await sleep(500);
  await load.stop();
  t.same(load.failures(), [], `zero failed requests out of ${load.outcomes.length}`);
  const predictions = load.outcomes.map(
    (o) => (JSON.parse(o.body ?? "{}") as { predictions: number[] }).predictions[0],
  );
  t.ok(predictions.includes(expectOld), "the old model answered before the reload");
  t.equal(predictions.at(-1), expectNew, "the new model answers after it");
  const firstNew = predictions.indexOf(expectNew);
  t.ok(
    predictions.slice(firstNew).every((p) => p === expectNew || p === expectOld),
    "every answer is one model's or the other's",
  );
  t.match(server.logs(), /"event":"reload_done"/);

  // A corrupt model file: the reload is refused, the current model keeps serving, nothing fails.
  writeFileSync(modelFile, '{"learner": {"truncated');
  const shaServing = (await request(`${server.url}/model`)).json.sha256;
  const load2 = new Load({ url: `${server.url}/predict`, body: ROW, connections: 6, durationMs: 3000 });
  await sleep(500);
  process.kill(server.child.pid as number, "SIGHUP");
  await load2.done;
  t.same(load2.failures(), [], `zero failed requests out of ${load2.outcomes.length} around the bad reload`);
  t.ok(
    load2.outcomes.every(
      (o) => (JSON.parse(o.body ?? "{}") as { predictions: number[] }).predictions[0] === expectNew,
    ),
    "still the good model",
  );
  t.equal((await request(`${server.url}/model`)).json.sha256, shaServing);
  t.match(
    server.logs(),
    /"event":"reload_failed".*FORESTD_ERR_MODEL_SYNTAX|"event":"reload_failed".*not valid JSON/,
  );
  await server.stop();
  t.notOk(existsSync(join(dir, "forestd.pid")), "pid file removed at exit");
});

t.test("a hung worker is replaced within TIMEOUT + 2 s; a hung scoring thread too", async (t) => {
  const server = await startServer({
    WORKERS: "2",
    TIMEOUT: "2",
    FORESTD_SCORING_THREAD: SCRIPTED_THREAD,
    ACCESS_LOG: "off",
    // The row after the hang must be scored by a thread (the replacement), not inline.
    INLINE_SCORING_MAX_US: "0",
  });
  t.teardown(() => server.stop());
  await waitFor(() => readyWorkers(server) === 2, 10_000);

  const threadStart = Date.now();
  const stuck = await postJson(`${server.url}/predict`, { instances: [scriptedRow("hang", 3)] });
  const threadSeconds = (Date.now() - threadStart) / 1000;
  t.equal(stuck.status, 504, "the stuck thread's request gets a 504");
  t.equal(stuck.json.code, "FORESTD_ERR_DEADLINE");
  t.ok(threadSeconds <= 2 + 2, `answered after ${threadSeconds.toFixed(2)} s`);
  t.equal(
    (await postJson(`${server.url}/predict`, DEFAULT_ROW)).status,
    200,
    "scoring works after the thread was replaced",
  );
  // Worker log lines are written in batches (at least every 250 ms): wait for the line, not a turn.
  await waitFor(() => /"event":"thread_timeout"/.test(server.logs()), 2000).catch(() => undefined);
  t.match(server.logs(), /"event":"thread_timeout"/);

  const before = aliveWorkers(server);
  const hungAt = Date.now();
  // A real hang: the worker stopped (no heartbeats, no requests) until the arbiter kills it.
  process.kill(before[0], "SIGSTOP");
  // Replaced: the arbiter has killed the silent worker and spawned its successor...
  await waitFor(() => aliveWorkers(server).some((pid) => !before.includes(pid)), 10_000);
  const replacedAfter = (Date.now() - hungAt) / 1000;
  t.ok(replacedAfter <= 2 + 2, `replaced ${replacedAfter.toFixed(2)} s after it hung (TIMEOUT=2)`);
  // ...which then boots (model, threads) and serves.
  await waitFor(() => readyWorkers(server) === 2, 10_000);
  t.pass(`serving with 2 workers again ${((Date.now() - hungAt) / 1000).toFixed(2)} s after the hang`);
  t.match(server.logs(), /"event":"worker_timeout"/);
});

t.test("MAX_REQUESTS=100 under load recycles workers with zero failed requests", async (t) => {
  const server = await startServer({
    WORKERS: "2",
    MAX_REQUESTS: "100",
    MAX_REQUESTS_JITTER: "20",
    ACCESS_LOG: "off",
  });
  t.teardown(() => server.stop());
  await waitFor(() => readyWorkers(server) === 2, 10_000);
  const load = new Load({
    url: `${server.url}/predict`,
    body: DEFAULT_ROW,
    connections: 4,
    durationMs: 6000,
    ratePerSec: 150,
  });
  await load.done;
  t.same(load.failures(), [], `zero failed requests out of ${load.outcomes.length}`);
  const recycledCount = () =>
    server.events().filter((e) => e.event === "worker_exit" && e.reason === "max_requests").length;
  // Each replacement boots (asking for and loading the model set) before the old worker drains, so how
  // many have exited when the load ends depends on boot time: the last ones may still be draining.
  await waitFor(() => recycledCount() >= 2, 15_000).catch(() => undefined);
  const recycled = recycledCount();
  t.ok(recycled >= 2, `${recycled} workers recycled`);
  await waitFor(() => readyWorkers(server) === 2, 10_000);
});

/**
 * A server of `workers` workers on its own copy of model A (binary_logistic), ready: the file it
 * reads, A's path and answer to ROW, its pid, and the SHA-256 it reports serving.
 */
async function servingModelA(t: Test, workers: number) {
  const dir = mkdtempSync(join(tmpdir(), "forestd-model-a-"));
  const modelFile = join(dir, "model.json");
  const modelA = join(FIXTURES, "binary_logistic.json");
  copyFileSync(modelA, modelFile);
  const expectA = loadModel(modelA).predictBatch(Float32Array.from([1.5, -2, 3, 0.25, 7, -1]), 1)[0];
  const server = await startServer({ WORKERS: String(workers), MODEL_PATH: modelFile, ACCESS_LOG: "off" });
  t.teardown(() => server.stop());
  await waitFor(() => readyWorkers(server) === workers, 10_000);
  const shaA = (await request(`${server.url}/model`)).json.sha256 as string;
  return { dir, modelFile, modelA, expectA, server, shaA, pid: server.child.pid as number };
}

t.test("a generation owns its model bytes: nothing on disk after a reload reaches a worker", async (t) => {
  const { modelFile, modelA, expectA, server, shaA, pid } = await servingModelA(t, 2);
  const modelB = join(FIXTURES, "reg_squarederror.json");

  // 1. A truncated file and SIGHUP: refused. Then every kind of spawn: each loads generation 1's bytes.
  writeFileSync(modelFile, readFileSync(modelA, "utf8").slice(0, 500));
  process.kill(pid, "SIGHUP");
  await waitFor(() => /"event":"reload_failed"/.test(server.logs()), 10_000);
  process.kill(pid, "SIGTTIN");
  await waitFor(() => readyWorkers(server) === 3, 15_000);
  process.kill(aliveWorkers(server)[0], "SIGKILL");
  await waitFor(() => readyWorkers(server) === 3 && aliveWorkers(server).length === 3, 15_000);
  t.notOk(/"event":"arbiter_halt"/.test(server.logs()), "the cluster did not halt");
  t.notOk(/"event":"boot_error"/.test(server.logs()), "no worker failed to boot");

  // 2. A valid new model on disk without SIGHUP: respawned workers still serve the generation's model.
  copyFileSync(modelB, modelFile);
  for (const victim of aliveWorkers(server)) {
    process.kill(victim, "SIGKILL");
    await waitFor(() => readyWorkers(server) === 3 && aliveWorkers(server).length === 3, 15_000);
  }
  const answers = await Promise.all(
    Array.from({ length: 30 }, () =>
      postJson(`${server.url}/predict`, ROW).then((r) => (r.json.predictions as number[])[0]),
    ),
  );
  t.same(new Set(answers), new Set([expectA]), "every worker answers with model A");
  const models = await Promise.all(Array.from({ length: 12 }, () => request(`${server.url}/model`)));
  t.same(new Set(models.map((m) => `${m.json.sha256} ${m.json.generation}`)), new Set([`${shaA} 1`]));
  const metrics = (await request(`${server.url}/metrics`)).text;
  t.match(metrics, new RegExp(`forestd_model_info\\{[^}]*version="${shaA}"[^}]*generation="1"\\} 1`));
  t.match(metrics, /forestd_worker_boot_failures_total 0/);
});

/**
 * SIGHUP with a 37 MB B in the model file, then, once the primary has read B's bytes (its /proc I/O
 * count says so), `writeSecond` and a second SIGHUP, which is queued: the first read is B's and not
 * what was written after it, and B then takes a second to validate. Returns B's path.
 */
async function secondHupWhileReadingB(
  t: Test,
  { dir, modelFile, server, pid }: Awaited<ReturnType<typeof servingModelA>>,
  writeSecond: () => void,
): Promise<string> {
  const modelB = join(dir, "large.json");
  writeSyntheticModel(modelB, { trees: 1000, depth: 10, features: 8 });
  const bytesRead = () => Number(/^rchar:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1]);
  const before = bytesRead();
  copyFileSync(modelB, modelFile);
  process.kill(pid, "SIGHUP");
  await waitFor(() => bytesRead() - before >= statSync(modelB).size, 10_000);
  writeSecond();
  process.kill(pid, "SIGHUP");
  await waitFor(() => /"event":"reload_queued"/.test(server.logs()), 5000);
  t.pass("the second SIGHUP came while B was being read: queued");
  return modelB;
}

t.test(
  "a SIGHUP while a reload is being read: the file the last SIGHUP found is served (A, then B, then A again)",
  async (t) => {
    // Found by the chaos campaign (seed 24251764): the reload read for B was abandoned for the newer
    // SIGHUP, but had already put B in the registry; the next read found A, the live generation's
    // file, called it unchanged, and served B's bytes as A. B is large so that reading it takes
    // far longer than the gap between the two signals, on any machine.
    const serving = await servingModelA(t, 1);
    const { modelFile, modelA, expectA, server, shaA } = serving;
    const modelB = await secondHupWhileReadingB(t, serving, () => copyFileSync(modelA, modelFile));
    // B's read is abandoned for the newer SIGHUP (no reload_done of its own), the file read again,
    // and that reload's generation serving: the one reload_done.
    await waitFor(() => /"event":"reload_done"/.test(server.logs()), 30_000);
    const reads = server.events().filter((e) => e.event === "reload_model");
    t.same(
      reads.map((e) => e.sha256),
      [createHash("sha256").update(readFileSync(modelB)).digest("hex"), shaA],
      "the file was read twice: B, then A",
    );
    await waitFor(() => aliveWorkers(server).length === 1, 20_000); // the old generation's worker gone
    t.equal((await request(`${server.url}/model`)).json.sha256, shaA, "GET /model: A's bytes");
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        postJson(`${server.url}/predict`, ROW).then((r) => r.json.predictions),
      ),
    );
    t.same(
      new Set(answers.map((p) => (p as number[] | undefined)?.[0])),
      new Set([expectA]),
      "A's predictions",
    );
  },
);

t.test(
  "a SIGHUP while a reload is being read, and the file then broken: the old model keeps serving (A, then B, then a broken file)",
  async (t) => {
    // Found by the chaos campaign beside a busy core: B's read was abandoned for the newer SIGHUP
    // after it had put B in the registry; the newer read failed, and the live workers ("the old
    // workers keep serving") were then told to serve B. A worker still loading B when a later
    // reload removed B's bytes was left with no model at all (1 539 requests got 503).
    const serving = await servingModelA(t, 2);
    const { modelFile, modelA, expectA, server, shaA } = serving;
    await secondHupWhileReadingB(t, serving, () =>
      writeFileSync(modelFile, readFileSync(modelA).subarray(0, 700)),
    );
    await waitFor(() => /"event":"reload_failed"/.test(server.logs()), 30_000);
    t.notOk(/"event":"reload_done"/.test(server.logs()), "no reload took effect");
    t.ok(/"event":"model_restored"/.test(server.logs()), "the live generation's model was put back");
    // Workers of the live generation, respawned ones too, get A.
    for (const victim of aliveWorkers(server)) {
      process.kill(victim, "SIGKILL");
      await waitFor(
        () =>
          !aliveWorkers(server).includes(victim) &&
          readyWorkers(server) === 2 &&
          aliveWorkers(server).length === 2,
        20_000,
      );
    }
    const models = await Promise.all(Array.from({ length: 10 }, () => request(`${server.url}/model`)));
    t.same(
      new Set(models.map((m) => m.json.sha256)),
      new Set([shaA]),
      "GET /model: A's bytes, in every worker",
    );
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        postJson(`${server.url}/predict`, ROW).then((r) => (r.json.predictions as number[] | undefined)?.[0]),
      ),
    );
    t.same(new Set(answers), new Set([expectA]), "A's predictions");
    t.notOk(/"event":"model_load_failed"/.test(server.logs()), "no worker failed to load a model");
  },
);

t.test("SIGTTIN / SIGTTOU change the worker count", async (t) => {
  scaled = await startServer({ WORKERS: "1", ACCESS_LOG: "off" });
  const server = scaled;
  await waitFor(() => readyWorkers(server) === 1, 10_000);
  // Signals of one kind sent back to back may arrive as one (POSIX coalesces pending signals), as
  // with Gunicorn: send each after the previous one took effect.
  process.kill(server.child.pid as number, "SIGTTIN");
  await waitFor(() => aliveWorkers(server).length === 2, 10_000);
  process.kill(server.child.pid as number, "SIGTTIN");
  await waitFor(() => readyWorkers(server) === 3 && aliveWorkers(server).length === 3, 10_000);
  t.pass("two more: 3 workers");
  process.kill(server.child.pid as number, "SIGTTOU");
  await waitFor(() => aliveWorkers(server).length === 2, 10_000);
  t.pass("one fewer: 2 workers");
  for (let i = 0; i < 3; i++) {
    process.kill(server.child.pid as number, "SIGTTOU");
    await sleep(700);
  }
  await waitFor(() => aliveWorkers(server).length === 1, 10_000);
  await sleep(1500);
  t.equal(aliveWorkers(server).length, 1, "never below 1");
  t.equal((await postJson(`${server.url}/predict`, DEFAULT_ROW)).status, 200);
});

t.test("boot errors stop the server with the error instead of respawning forever", async (t) => {
  const { spawnSync } = await import("node:child_process");
  const cli = join(ROOT, "dist", "cli", "forestd.js");
  const dir = mkdtempSync(join(tmpdir(), "forestd-boot-"));
  const corrupt = join(dir, "corrupt.json");
  writeFileSync(corrupt, '{"learner": {"objective": {"name": "reg:magic"}}}');
  const badModel = spawnSync(process.execPath, [cli, "serve", "--model", corrupt, "--bind", "127.0.0.1:0"], {
    encoding: "utf8",
    timeout: 20_000,
  });
  t.equal(badModel.status, 1, "a model that cannot load: exit 1");
  t.match(badModel.stderr, /FORESTD_ERR_MODEL_INVALID|FORESTD_ERR_MODEL_UNSUPPORTED/);

  // The port is taken (by the SIGTTIN test's server): the primary, which owns the listening
  // sockets, says so and exits.
  scaled ??= await startServer({ WORKERS: "1", ACCESS_LOG: "off" });
  const holder = scaled;
  const started = Date.now();
  const taken = spawnSync(
    process.execPath,
    [cli, "serve", "--bind", `127.0.0.1:${holder.port}`, "--workers", "2", "--metrics-port", "0"],
    { encoding: "utf8", timeout: 20_000 },
  );
  t.equal(taken.status, 1, "exit 1");
  t.match(taken.stdout, /"event":"arbiter_halt".*cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
  t.ok(Date.now() - started < 15_000, "promptly");
  t.equal((taken.stdout.match(/"event":"worker_spawn"/g) ?? []).length, 0, "no worker forked");
});

t.test(
  "no worker listening: connections wait in the primary's backlog instead of being refused",
  async (t) => {
    backlog = await startServer({ WORKERS: "1", ACCESS_LOG: "off", GRACEFUL_TIMEOUT: "30" });
    const server = backlog;
    await waitFor(() => readyWorkers(server) === 1, 10_000);
    const [only] = aliveWorkers(server);
    process.kill(only, "SIGKILL");
    // Sent while no worker exists: answered once the replacement is up.
    const answer = await postJson(`${server.url}/predict`, DEFAULT_ROW);
    t.equal(answer.status, 200, "answered, not ECONNREFUSED");
    t.ok(
      aliveWorkers(server).every((pid) => pid !== only),
      "by the replacement",
    );
  },
);

t.test("SIGINT: quick stop", async (t) => {
  // The backlog test's server (GRACEFUL_TIMEOUT 30, which SIGINT does not wait out), serving.
  backlog ??= await startServer({ WORKERS: "1", ACCESS_LOG: "off", GRACEFUL_TIMEOUT: "30" });
  const server = backlog;
  await waitFor(async () => (await request(`${server.url}/readyz`)).status === 200, 10_000);
  const started = Date.now();
  const code = await server.stop("SIGINT");
  t.equal(code, 0);
  t.ok(Date.now() - started < 3000, `stopped in ${Date.now() - started} ms`);
});
