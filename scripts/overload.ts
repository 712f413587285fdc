/**
 * The overload experiment behind `npm run bench:overload` and test/process/overload.test.ts.
 *
 * Method (docs/performance.md#overload): forestd's whole process tree is pinned to one set of CPUs
 * and the open-loop generator (scripts/bench/open-loop.ts, its own process) to another, so the
 * generator cannot take the server's CPU and a slow server cannot slow the offered load. Under
 * that pinning: capacity (the best of 2, 4 and 8 closed-loop connections), unloaded latency (open
 * loop at half of capacity), then each overload factor (open loop at factor × capacity) and a retry
 * storm (closed-loop clients that resend as soon as they are answered, 503 or not), each offered in
 * slices that alternate with closed-loop capacity slices (each slice is held against the capacity
 * either side of it: this machine's speed drifts), the last followed at once by one second at
 * capacity (recovery). The workers' CPU (event loop, scoring threads, the rest), the primary's,
 * bytes read and the scoring thread's own counters are sampled around every run, so the cost of a
 * rejected request can be set against an accepted one.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { loadModel, packageRoot } from "../model/index.js";
import {
  type LatencySummary,
  type LoadPlan,
  type Phase,
  type PhaseResult,
  summarize,
} from "./bench/open-loop.js";
import { TreeSampler, treeCpuSeconds, workerUsage } from "./bench/proc.js";
import { makeRows } from "./bench/scenarios.js";
import { startForestd } from "./bench/servers.js";
import { SCORING_BOUND, type SyntheticShape, writeSyntheticModel } from "./bench/synthetic-model.js";

const root = packageRoot();

export interface OverloadOptions {
  /**
   * `scoring`: a synthetic model of deep trees on few features (default 2000 trees of depth 10 on
   * 8 features), 100 rows (~10 KB) per request: scoring dominates. `body`: the 100-feature bench
   * model, 100 rows per request: reading and parsing the body weighs as much as scoring.
   */
  shape: "scoring" | "body";
  /** Seconds each load is offered for, in all: in slices of `sliceSeconds`. */
  seconds: number;
  /**
   * Seconds of each slice of a load (default 3), with a closed-loop capacity slice of
   * `capacitySliceSeconds` (default 2) before, between and after them; answers count from
   * `settleSeconds` (default 0.5) into each slice.
   */
  sliceSeconds?: number;
  capacitySliceSeconds?: number;
  settleSeconds?: number;
  /** Seconds of the capacity and unloaded runs (default 5; the warm-up is 3). */
  calibrateSeconds?: number;
  /** Offered load as multiples of the measured capacity, one run each. */
  factors: number[];
  /** Closed-loop clients of the retry storm (0 = none). */
  stormClients: number;
  /** taskset CPU lists for the server's tree and the generator; omitted = not pinned. */
  serverCpus?: string;
  loadCpus?: string;
  rows?: number;
  /** Override the scoring shape's model (CI uses fewer trees, to start faster). */
  model?: SyntheticShape;
  /** The generator sends `Expect: 100-continue` and the body only after 100 Continue. */
  expectContinue?: boolean;
  /** Extra environment for the server (settings). */
  env?: Record<string, string>;
  /** Another build's dist/cli/forestd.js to run instead (before/after comparisons). */
  serverCli?: string;
  /** Write CPU profiles of the primary and the worker (node --cpu-prof) into this directory. */
  cpuProfDir?: string;
  log?: (line: string) => void;
}

/** One run at a given offered load, as the issue's table reports it. */
export interface LoadRow {
  load: string;
  offeredRps: number;
  /** Requests the generator actually sent per second (the rest it could not: no free connection). */
  sentRps: number;
  servedRps: number;
  /**
   * servedRps ÷ the capacity this row is held against: for an overload row, the mean over its
   * slices of the closed-loop capacity slices either side of each (`againstRps`); else the
   * calibration's. Both count answers that came back from the settle time into a slice on.
   */
  goodput: number;
  /** The capacity (req/s) this row's goodput is against. */
  againstRps: number;
  /** Each slice's served rate over the capacity slices either side of it (overload rows). */
  sliceGoodputs?: number[];
  rejectedRps: number;
  /** Answers 503 (count), and how many of them carried Retry-After. */
  rejected: number;
  /**
   * 503s that went through Fastify (routing, hooks, maybe the body) instead of the shed gate: the
   * expensive kind (under-pressure shedding, or a queue that filled between gate and batcher).
   */
  rejectedAfterGate: number;
  /** Connection errors, resets, requests unanswered at the end, and `unsent` (the generator's own). */
  errors: number;
  /**
   * Requests the clock scheduled that the generator never sent (no connection of its own was free
   * before their slice ended): counted in `errors`, but the server never saw them; `sentRps`
   * against `offeredRps` shows them.
   */
  unsent: number;
  otherStatuses: number;
  withRetryAfter: number;
  acceptedP50Ms: number;
  acceptedP99Ms: number;
  rejectedP50Ms: number;
  rejectedP99Ms: number;
  /**
   * Overload rows: the p99s above count requests due from the settle time into a slice on (the
   * load's steady state, as goodput does); these count every request, each slice's start included
   * (the generator's fresh connections and the queue filling up).
   */
  p99WithEdgesMs?: { accepted: number; rejected: number };
  /** Generator's send lag against its schedule, p99 (includes waiting for a free connection). */
  sendLagP99Ms: number;
  /** Workers' event-loop CPU share, and the rest of their CPU (scoring threads, GC), in cores. */
  loopCores: number;
  otherCores: number;
  /** Of otherCores, the scoring threads' own (the rest is GC helpers and the like). */
  scoringCores: number;
  /** The rest of the server's process tree (the primary), in cores: it shares the server's CPUs. */
  primaryCores: number;
  /**
   * The scoring thread's own view (forestd_inference_duration_seconds, forestd_batch_rows): the
   * share of the run it spent in tasks, ms per row and rows per task; served ≈ busy ÷ ms per row.
   * Its clock is the wall's: while the loop or GC holds a shared CPU, the thread's task time runs
   * on, so with busy ≈ 1 the CPU lost to them shows as more ms per row, and `scoringCores` says
   * how much CPU the thread actually got.
   */
  thread: ThreadView;
  /** Bytes the workers read per answered request. */
  readBytesPerRequest: number;
  /** Worker CPU µs (all threads) per answered request. */
  workerCpuUsPerRequest: number;
  peakRssMiB: number;
  /** The second right after the load, offered at capacity (absent for capacity/unloaded rows). */
  recovery?: { servedRps: number; goodput: number; acceptedP99Ms: number; rejected: number; errors: number };
}

export interface ThreadView {
  busy: number;
  msPerRow: number;
  rowsPerTask: number;
}

function difference(before: ServerCounts, after: ServerCounts): ServerCounts {
  return {
    afterGate: after.afterGate - before.afterGate,
    tasks: after.tasks - before.tasks,
    taskRows: after.taskRows - before.taskRows,
    taskSeconds: after.taskSeconds - before.taskSeconds,
  };
}

function threadView(counts: ServerCounts, wallSeconds: number): ThreadView {
  const { tasks, taskRows: rows, taskSeconds: seconds } = counts;
  return {
    busy: round(seconds / wallSeconds, 2),
    msPerRow: round((seconds * 1000) / Math.max(1, rows), 4),
    rowsPerTask: round(rows / Math.max(1, tasks)),
  };
}

export interface OverloadReport {
  shape: string;
  model: string;
  rowsPerRequest: number;
  bodyBytes: number;
  pinning: { server: string; generator: string };
  capacityRps: number;
  unloadedP99Ms: number;
  rows: LoadRow[];
  /**
   * Worker CPU µs per accepted request (unloaded run, all threads) and per rejected one (at the
   * highest factor, outside the scoring threads), and their ratio.
   */
  cost: { acceptedUs: number; rejectedUs: number; ratio: number } | null;
  /** Generator CPU per request it sent (µs), and what one core of it could offer at that cost. */
  generator: { cpuUsPerRequest: number; maxRps: number };
  aliveAfter: boolean;
}

export interface GeneratorRun {
  phases: PhaseResult[];
  cpuSeconds: number;
}

/** Runs a plan in the generator's own process, pinned to `cpus` when given. */
export function generate(plan: LoadPlan, cpus: string | undefined): Promise<GeneratorRun> {
  const script = join(root, "dist", "scripts", "bench", "open-loop-cli.js");
  const command = [process.execPath, script];
  if (cpus !== undefined) command.unshift("taskset", "-c", cpus);
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) reject(new Error(`load generator exited with ${code}`));
      else resolve(JSON.parse(out) as GeneratorRun);
    });
    child.stdin.end(JSON.stringify(plan));
  });
}

/** Counters read from /metrics around a run. */
interface ServerCounts {
  /** 503s that went through Fastify (only those are timed in forestd_http_request_duration_seconds). */
  afterGate: number;
  /** Scoring tasks, their rows and their seconds on the thread (the thread's own clock). */
  tasks: number;
  taskRows: number;
  taskSeconds: number;
}

async function serverCounts(origin: string): Promise<ServerCounts> {
  const text = await fetch(`${origin}/metrics`).then(
    (r) => r.text(),
    () => "",
  );
  const lines = text.split("\n");
  const value = (line: string) => Number(line.slice(line.lastIndexOf(" ") + 1));
  const sum = (prefix: string, includes = "") =>
    lines
      .filter((line) => line.startsWith(prefix) && line.includes(includes))
      .reduce((n, line) => n + value(line), 0);
  return {
    afterGate: sum("forestd_http_request_duration_seconds_count{", 'status="503"'),
    tasks: sum("forestd_batch_rows_count"),
    taskRows: sum("forestd_batch_rows_sum"),
    taskSeconds: sum("forestd_inference_duration_seconds_sum"),
  };
}

/** Waits until `url` answers a prediction (200), for at most `timeoutMs`. */
async function firstPrediction(url: string, body: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    }).then(
      (r) => r.arrayBuffer().then(() => r.status),
      () => 0,
    );
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url}: no prediction within ${timeoutMs} ms`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const round = (x: number, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits;

/** A generator run and the server's resources around it, as sums (so runs add up). */
interface Sample {
  phases: PhaseResult[];
  /**
   * Seconds from the generator's start to its end, its own start-up and the drain of answers due
   * included (~0.1–0.2 s a run): CPU shares and the thread's busy share, over this, read a few
   * percent below the phases' own.
   */
  wall: number;
  /** CPU seconds: workers' event loops, the rest of the workers (of which scoring threads), the primary. */
  loop: number;
  other: number;
  scoring: number;
  primary: number;
  readBytes: number;
  peakRssMiB: number;
  counts: ServerCounts;
}

function combine(samples: Sample[]): Sample {
  const sum = (f: (s: Sample) => number) => samples.reduce((n, s) => n + f(s), 0);
  return {
    phases: samples.flatMap((s) => s.phases),
    wall: sum((s) => s.wall),
    loop: sum((s) => s.loop),
    other: sum((s) => s.other),
    scoring: sum((s) => s.scoring),
    primary: sum((s) => s.primary),
    readBytes: sum((s) => s.readBytes),
    peakRssMiB: Math.max(...samples.map((s) => s.peakRssMiB)),
    counts: {
      afterGate: sum((s) => s.counts.afterGate),
      tasks: sum((s) => s.counts.tasks),
      taskRows: sum((s) => s.counts.taskRows),
      taskSeconds: sum((s) => s.counts.taskSeconds),
    },
  };
}

function answeredIn(phases: PhaseResult[]): number {
  return phases.reduce((n, p) => n + Object.values(p.statuses).reduce((a, b) => a + b, 0), 0);
}

/**
 * One load's phases (its slices) added up, as a phase's result reads; `ok` and `rejected` are the
 * latencies of requests due from `settle` into a phase on (a load's steady state).
 */
interface PhaseTotals
  extends Pick<
    PhaseResult,
    | "seconds"
    | "scheduled"
    | "sent"
    | "statuses"
    | "errors"
    | "withRetryAfter"
    | "ok"
    | "rejected"
    | "sendLagP99Ms"
  > {
  /** The latencies of every request, the phases' edges included. */
  withEdges: { ok: LatencySummary; rejected: LatencySummary };
  /** 2xx answers that came back from `settle` seconds into each phase to its end, and those seconds. */
  servedInWindow: number;
  windowSeconds: number;
}

/** Latencies of requests due from `settle` seconds into their phase on. */
function dueFrom(settle: number, ms: number[] = [], dueMs: number[] = []): number[] {
  return settle > 0 ? ms.filter((_, i) => dueMs[i] >= settle * 1000) : ms;
}

function totals(phases: PhaseResult[], settle: number): PhaseTotals {
  const statuses: Record<string, number> = {};
  for (const p of phases)
    for (const [k, v] of Object.entries(p.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const sum = (f: (p: PhaseResult) => number) => phases.reduce((n, p) => n + f(p), 0);
  const from = Math.round(settle * 10); // okTimeline buckets are 100 ms
  return {
    seconds: sum((p) => p.seconds),
    scheduled: sum((p) => p.scheduled),
    sent: sum((p) => p.sent),
    statuses,
    errors: sum((p) => p.errors),
    withRetryAfter: sum((p) => p.withRetryAfter),
    ok: summarize(phases.flatMap((p) => dueFrom(settle, p.okMs, p.okDueMs))),
    rejected: summarize(phases.flatMap((p) => dueFrom(settle, p.rejectedMs, p.rejectedDueMs))),
    withEdges: {
      ok: summarize(phases.flatMap((p) => p.okMs ?? [])),
      rejected: summarize(phases.flatMap((p) => p.rejectedMs ?? [])),
    },
    sendLagP99Ms: Math.max(...phases.map((p) => p.sendLagP99Ms)),
    servedInWindow: sum((p) => p.okTimeline.slice(from).reduce((a, b) => a + b, 0)),
    windowSeconds: sum((p) => p.seconds - from / 10),
  };
}

export async function runOverload(options: OverloadOptions): Promise<OverloadReport> {
  const log = options.log ?? (() => {});
  const tmp = mkdtempSync(join(tmpdir(), "forestd-overload-"));
  const rowsPerRequest = options.rows ?? 100;
  let modelPath: string;
  let modelName: string;
  if (options.shape === "scoring") {
    const shape = options.model ?? SCORING_BOUND;
    modelPath = join(tmp, "deep.json");
    writeSyntheticModel(modelPath, shape);
    modelName = `synthetic: ${shape.trees} trees of depth ${shape.depth} on ${shape.features} features`;
  } else {
    modelPath = join(tmp, "large.json");
    writeFileSync(
      modelPath,
      gunzipSync(readFileSync(join(root, "test", "fixtures", "bench", "large.json.gz"))),
    );
    modelName = "bench large: 1000 trees on 100 features";
  }
  const numFeature = loadModel(readFileSync(modelPath)).numFeature;
  const body = JSON.stringify({ instances: makeRows(numFeature, rowsPerRequest) });
  const server = await startForestd({
    workers: 1,
    threads: 1,
    modelPath,
    cpus: options.serverCpus,
    cli: options.serverCli,
    nodeArgs: options.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : undefined,
    extraEnv: options.env,
  }).catch((error: unknown) => {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  });
  const pid = server.pid as number;
  const { hostname, port } = new URL(server.origin);
  let generatorCpu = 0;
  let generatorSent = 0;

  /** One generator run, with the server's CPU, bytes read, RSS and counters sampled around it. */
  const measure = async (phases: Phase[]): Promise<Sample> => {
    const countsBefore = await serverCounts(server.origin);
    const sampler = new TreeSampler(pid);
    const before = workerUsage(pid);
    const treeBefore = treeCpuSeconds(pid);
    const started = performance.now();
    const run = await generate(
      {
        host: hostname,
        port: Number(port),
        path: "/predict",
        body,
        expectContinue: options.expectContinue,
        phases,
        samples: true,
      },
      options.loadCpus,
    );
    const wall = (performance.now() - started) / 1000;
    const after = workerUsage(pid);
    const tree = treeCpuSeconds(pid) - treeBefore;
    const peakRssMiB = sampler.stop().peakRssMiB;
    const countsAfter = await serverCounts(server.origin);
    generatorCpu += run.cpuSeconds;
    generatorSent += run.phases.reduce((n, p) => n + p.sent, 0);
    const loop = after.loopSeconds - before.loopSeconds;
    const other = after.otherSeconds - before.otherSeconds;
    return {
      phases: run.phases,
      wall,
      loop,
      other,
      // A scoring thread replaced during the run takes its CPU seconds with it.
      scoring: Math.max(0, after.scoringSeconds - before.scoringSeconds),
      primary: Math.max(0, tree - loop - other),
      readBytes: after.readBytes - before.readBytes,
      peakRssMiB,
      counts: difference(countsBefore, countsAfter),
    };
  };

  /** A row of the table: `load` is the phase (or slices of it) measured, `resources` the runs it took. */
  const row = (
    label: string,
    load: PhaseTotals,
    resources: Sample,
    capacity: number,
    recovery?: PhaseResult,
    slices?: number[],
  ): LoadRow => {
    const served = load.servedInWindow / load.windowSeconds;
    const rejected = load.statuses["503"] ?? 0;
    const answered = Object.values(load.statuses).reduce((a, b) => a + b, 0);
    const all = answeredIn(resources.phases);
    const cores = (seconds: number) => round(seconds / resources.wall, 2);
    return {
      load: label,
      offeredRps: round(load.scheduled / load.seconds),
      sentRps: round(load.sent / load.seconds),
      servedRps: round(served),
      goodput: round(served / Math.max(1, capacity), 2),
      againstRps: round(capacity),
      ...(slices ? { sliceGoodputs: slices.map((g) => round(g, 2)) } : {}),
      rejectedRps: round(rejected / load.seconds),
      rejected,
      rejectedAfterGate: resources.counts.afterGate,
      errors: load.errors,
      unsent: load.scheduled - load.sent,
      otherStatuses: answered - (load.statuses["200"] ?? 0) - rejected,
      withRetryAfter: load.withRetryAfter,
      acceptedP50Ms: load.ok.p50,
      acceptedP99Ms: load.ok.p99,
      rejectedP50Ms: load.rejected.p50,
      rejectedP99Ms: load.rejected.p99,
      ...(slices
        ? { p99WithEdgesMs: { accepted: load.withEdges.ok.p99, rejected: load.withEdges.rejected.p99 } }
        : {}),
      sendLagP99Ms: load.sendLagP99Ms,
      loopCores: cores(resources.loop),
      otherCores: cores(resources.other),
      scoringCores: cores(resources.scoring),
      primaryCores: cores(resources.primary),
      thread: threadView(resources.counts, resources.wall),
      readBytesPerRequest: Math.round(resources.readBytes / Math.max(1, all)),
      workerCpuUsPerRequest: round(((resources.loop + resources.other) * 1e6) / Math.max(1, all)),
      peakRssMiB: resources.peakRssMiB,
      ...(recovery
        ? {
            recovery: {
              servedRps: recovery.statuses["200"] ?? 0,
              goodput: round((recovery.statuses["200"] ?? 0) / Math.max(1, capacity), 2),
              acceptedP99Ms: recovery.ok.p99,
              rejected: recovery.statuses["503"] ?? 0,
              errors: recovery.errors,
            },
          }
        : {}),
    };
  };

  try {
    log(`model ${modelName}; ${rowsPerRequest} rows = ${body.length} bytes per request`);
    // A worker is ready before its scoring thread has loaded the model (seconds for a big one):
    // measure nothing until a prediction has come back.
    await firstPrediction(`${server.origin}/predict`, body);
    // Closed-loop clients that back off briefly after a 503, so that measuring capacity does not
    // become a retry storm (which would measure the cost of rejections instead).
    const calibrate = options.calibrateSeconds ?? 5;
    await measure([
      { name: "warm-up", seconds: Math.min(3, calibrate), rate: 0, connections: 8, backoffMs: 20 },
    ]);
    // Capacity is the best of 2, 4 and 8 closed-loop connections: with 8, admission turns some
    // away (8 requests of scoring-bound work exceed MAX_QUEUE_WAIT), and each 503's back-off
    // leaves the thread idle, so 8 alone understated capacity and flattered every goodput.
    /** One closed-loop capacity run: the run, and the predictions served per second in its window. */
    const closedLoop = async (connections: number, seconds: number, settle: number) => {
      const run = await measure([{ name: "capacity", seconds, rate: 0, connections, backoffMs: 20 }]);
      const load = totals([run.phases[0]], settle);
      return { run, load, served: load.servedInWindow / load.windowSeconds };
    };
    let cap: Awaited<ReturnType<typeof closedLoop>> | null = null;
    let capacityConnections = 0;
    for (const connections of [2, 4, 8]) {
      const run = await closedLoop(connections, calibrate, 0);
      log(`closed loop, ${connections} connections: ${round(run.served)} req/s`);
      if (cap === null || run.served > cap.served) {
        cap = run;
        capacityConnections = connections;
      }
    }
    // A rate of 0 would mean closed loop below: nothing to offer a multiple of.
    if (cap === null || cap.served === 0)
      throw new Error(`no prediction was served in ${calibrate} s: no capacity to measure`);
    const capacity = cap.served;
    log(`capacity ${round(capacity)} req/s (${capacityConnections} closed-loop connections)`);
    const rows: LoadRow[] = [
      row(`capacity (best closed loop: ${capacityConnections} connections)`, cap.load, cap.run, capacity),
    ];
    const unloaded = await measure([
      { name: "unloaded", seconds: calibrate, rate: capacity / 2, connections: 64 },
    ]);
    rows.push(row("50% of capacity (unloaded)", totals(unloaded.phases, 0), unloaded, capacity));
    const unloadedP99 = unloaded.phases[0].ok.p99;
    log(`unloaded p99 ${unloadedP99} ms at ${round(capacity / 2)} req/s`);
    const recovery: Phase = { name: "recovery", seconds: 1, rate: capacity, connections: 1024 };
    // Each load is offered in slices, with capacity measured again (closed loop, the calibration's
    // connections) before, between and after them, and each slice is held against the capacity
    // slices either side of it. This machine's speed drifts: a closed loop's served rate moves
    // ±10% from one second to the next and ±5% between 10-second means (60 s, one server
    // process), so a 10-second run held against capacities measured 10 s before and after it
    // carried that drift into its goodput. Alternating slices of a few seconds make the load and
    // its capacity share the same seconds. Only answers from `settleSeconds` into a slice count,
    // so a queue filling up or draining at a slice's edges counts for neither side.
    const sliceSeconds = Math.min(options.sliceSeconds ?? 3, options.seconds);
    const slices = Math.max(1, Math.round(options.seconds / sliceSeconds));
    const capacitySeconds = options.capacitySliceSeconds ?? 2;
    const settle = Math.min(options.settleSeconds ?? 0.5, sliceSeconds / 2, capacitySeconds / 2);
    const capacityNow = async () => {
      const { served } = await closedLoop(capacityConnections, capacitySeconds, settle);
      return served;
    };
    let last: Sample | null = null;
    const anyOverload = options.factors.length > 0 || options.stormClients > 0;
    let before = anyOverload ? await capacityNow() : capacity;
    const overload = async (label: string, phase: Phase) => {
      log(
        `${label}: ${phase.rate ? `${round(phase.rate)} req/s` : `${phase.connections} clients`} for ${slices} × ${sliceSeconds} s`,
      );
      const runs: Sample[] = [];
      const served: number[] = [];
      const against: number[] = [];
      for (let i = 0; i < slices; i++) {
        const slice = { ...phase, seconds: sliceSeconds };
        const run = await measure(i === slices - 1 ? [slice, recovery] : [slice]);
        const after = await capacityNow();
        const load = totals([run.phases[0]], settle);
        runs.push(run);
        served.push(load.servedInWindow / load.windowSeconds);
        against.push((before + after) / 2);
        log(`  slice ${i + 1}: served ${round(served[i])} req/s against ${round(before)} → ${round(after)}`);
        before = after;
      }
      const all = combine(runs);
      const capacityThen = against.reduce((a, b) => a + b, 0) / against.length;
      rows.push(
        row(
          label,
          totals(
            runs.map((r) => r.phases[0]),
            settle,
          ),
          all,
          capacityThen,
          runs[runs.length - 1].phases[1],
          served.map((x, i) => x / Math.max(1, against[i])),
        ),
      );
      log(JSON.stringify(rows[rows.length - 1]));
      return all;
    };
    for (const factor of options.factors) {
      last = await overload(`${factor}× offered`, {
        name: `${factor}x`,
        seconds: options.seconds,
        rate: capacity * factor,
        connections: 1024,
      });
    }
    if (options.stormClients > 0) {
      await overload(`${options.stormClients} clients retrying at once`, {
        name: "storm",
        seconds: options.seconds,
        rate: 0,
        connections: options.stormClients,
      });
    }
    // Cost of a rejection: the highest factor's worker CPU outside the scoring threads (event loop,
    // GC helpers), less what its accepted requests cost there at the unloaded rate, over its
    // rejections; against the whole worker CPU of an accepted request, unloaded. (The scoring
    // threads are left out of the difference: a rejection costs them nothing directly, and their
    // CPU per request moves with how many rows each task coalesces, which overload changes.)
    let cost: OverloadReport["cost"] = null;
    const unloadedAnswered = Math.max(1, answeredIn(unloaded.phases));
    const acceptedUs = ((unloaded.loop + unloaded.other) * 1e6) / unloadedAnswered;
    const acceptedOutsideUs = ((unloaded.loop + unloaded.other - unloaded.scoring) * 1e6) / unloadedAnswered;
    if (last) {
      const accepted = last.phases.reduce((n, q) => n + (q.statuses["200"] ?? 0), 0);
      const rejected = last.phases.reduce((n, q) => n + (q.statuses["503"] ?? 0), 0);
      if (rejected > 0) {
        const outside = (last.loop + last.other - last.scoring) * 1e6;
        const rejectedUs = Math.max(0, outside - accepted * acceptedOutsideUs) / rejected;
        cost = {
          acceptedUs: round(acceptedUs),
          rejectedUs: round(rejectedUs),
          ratio: round(rejectedUs / acceptedUs, 3),
        };
      }
    }
    const cpuUsPerRequest = (generatorCpu * 1e6) / Math.max(1, generatorSent);
    return {
      shape: options.shape,
      model: modelName,
      rowsPerRequest,
      bodyBytes: body.length,
      pinning: { server: options.serverCpus ?? "any", generator: options.loadCpus ?? "any" },
      capacityRps: round(capacity),
      unloadedP99Ms: unloadedP99,
      rows,
      cost,
      generator: {
        cpuUsPerRequest: round(cpuUsPerRequest, 1),
        maxRps: round(1e6 / Math.max(1, cpuUsPerRequest)),
      },
      aliveAfter: isAlive(pid),
    };
  } finally {
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
