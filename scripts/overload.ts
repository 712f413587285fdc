/**
 * The overload experiment behind `npm run bench:overload` and test/overload.process.test.ts.
 *
 * Method (docs/performance.md#overload): forestd's whole process tree is pinned to one set of CPUs
 * and the open-loop generator (scripts/bench/open-loop.ts, its own process) to another, so the
 * generator cannot take the server's CPU and a slow server cannot slow the offered load. Under
 * that pinning: capacity (the best of 2, 4 and 8 closed-loop connections), unloaded latency (open loop at half of
 * capacity), then each overload factor (open loop at factor × capacity) followed at once by one
 * second at capacity (recovery), and a retry storm (closed-loop clients that resend as soon as
 * they are answered, 503 or not). Worker CPU (event loop vs the rest) and bytes read are sampled
 * around every run, so the cost of a rejected request can be set against an accepted one.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { loadModel, packageRoot } from "../model/index.js";
import type { LoadPlan, Phase, PhaseResult } from "./bench/open-loop.js";
import { TreeSampler, workerUsage } from "./bench/proc.js";
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
  /** Seconds of each overload run. */
  seconds: number;
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
  /** Another build's dist/server/cli.js to run instead (before/after comparisons). */
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
   * servedRps ÷ the capacity this row is held against: for an overload row, the mean of the
   * closed-loop capacity runs just before and just after it (`againstRps`); else the calibration's.
   */
  goodput: number;
  /** The capacity (req/s) this row's goodput is against. */
  againstRps: number;
  rejectedRps: number;
  /** Answers 503 (count), and how many of them carried Retry-After. */
  rejected: number;
  /**
   * 503s that went through Fastify (routing, hooks, maybe the body) instead of the shed gate: the
   * expensive kind (under-pressure shedding, or a queue that filled between gate and batcher).
   */
  rejectedAfterGate: number;
  errors: number;
  otherStatuses: number;
  withRetryAfter: number;
  acceptedP50Ms: number;
  acceptedP99Ms: number;
  rejectedP50Ms: number;
  rejectedP99Ms: number;
  /** Generator's send lag against its schedule, p99 (includes waiting for a free connection). */
  sendLagP99Ms: number;
  /** Workers' event-loop CPU share, and the rest of their CPU (scoring threads, GC), in cores. */
  loopCores: number;
  otherCores: number;
  /** Bytes the workers read per answered request. */
  readBytesPerRequest: number;
  /** Worker CPU µs (all threads) per answered request. */
  workerCpuUsPerRequest: number;
  peakRssMiB: number;
  /** The second right after the load, offered at capacity (absent for capacity/unloaded rows). */
  recovery?: { servedRps: number; goodput: number; acceptedP99Ms: number; rejected: number; errors: number };
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
  /** Body-bound cost: worker CPU µs per accepted (unloaded run) and per rejected request (at the highest factor). */
  cost: { acceptedUs: number; rejectedUs: number; ratio: number } | null;
  /** Generator CPU per request it sent (µs), and what one core of it could offer at that cost. */
  generator: { cpuUsPerRequest: number; maxRps: number };
  aliveAfter: boolean;
}

interface GeneratorRun {
  phases: PhaseResult[];
  cpuSeconds: number;
}

/** Runs a plan in the generator's own process, pinned to `cpus` when given. */
function generate(plan: LoadPlan, cpus: string | undefined): Promise<GeneratorRun> {
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

/**
 * 503s answered so far, all and those that went through Fastify (only those are timed in
 * forestd_http_request_duration_seconds; the shed gate's are counted in requests_total alone).
 */
async function rejectionCounts(origin: string): Promise<{ all: number; afterGate: number }> {
  const text = await fetch(`${origin}/metrics`).then(
    (r) => r.text(),
    () => "",
  );
  const sum = (name: string) =>
    text
      .split("\n")
      .filter((line) => line.startsWith(`${name}{`) && line.includes('status="503"'))
      .reduce((n, line) => n + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
  return {
    all: sum("forestd_http_requests_total"),
    afterGate: sum("forestd_http_request_duration_seconds_count"),
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

  /** One generator run, with the workers' CPU, bytes read and the tree's RSS sampled around it. */
  const measure = async (phases: Phase[]) => {
    const rejectedBefore = await rejectionCounts(server.origin);
    const sampler = new TreeSampler(pid);
    const before = workerUsage(pid);
    const started = performance.now();
    const run = await generate(
      {
        host: hostname,
        port: Number(port),
        path: "/predict",
        body,
        expectContinue: options.expectContinue,
        phases,
      },
      options.loadCpus,
    );
    const wall = (performance.now() - started) / 1000;
    const after = workerUsage(pid);
    const peakRssMiB = sampler.stop().peakRssMiB;
    const rejectedAfter = await rejectionCounts(server.origin);
    generatorCpu += run.cpuSeconds;
    generatorSent += run.phases.reduce((n, p) => n + p.sent, 0);
    const answered = run.phases.reduce((n, p) => n + Object.values(p.statuses).reduce((a, b) => a + b, 0), 0);
    const loop = after.loopSeconds - before.loopSeconds;
    const other = after.otherSeconds - before.otherSeconds;
    return {
      phases: run.phases,
      loopCores: round(loop / wall, 2),
      otherCores: round(other / wall, 2),
      workerCpuUs: (loop + other) * 1e6,
      answered,
      readBytesPerRequest: Math.round((after.readBytes - before.readBytes) / Math.max(1, answered)),
      peakRssMiB,
      rejectedAfterGate: rejectedAfter.afterGate - rejectedBefore.afterGate,
    };
  };

  const row = (load: string, m: Awaited<ReturnType<typeof measure>>, capacity: number): LoadRow => {
    const p = m.phases[0];
    const served = (p.statuses["200"] ?? 0) / p.seconds;
    const rejected = p.statuses["503"] ?? 0;
    const answered = Object.values(p.statuses).reduce((a, b) => a + b, 0);
    const recovery = m.phases[1];
    return {
      load,
      offeredRps: round(p.scheduled / p.seconds),
      sentRps: round(p.sent / p.seconds),
      servedRps: round(served),
      goodput: round(served / Math.max(1, capacity), 2),
      againstRps: round(capacity),
      rejectedRps: round(rejected / p.seconds),
      rejected,
      rejectedAfterGate: m.rejectedAfterGate,
      errors: p.errors,
      otherStatuses: answered - (p.statuses["200"] ?? 0) - rejected,
      withRetryAfter: p.withRetryAfter,
      acceptedP50Ms: p.ok.p50,
      acceptedP99Ms: p.ok.p99,
      rejectedP50Ms: p.rejected.p50,
      rejectedP99Ms: p.rejected.p99,
      sendLagP99Ms: p.sendLagP99Ms,
      loopCores: m.loopCores,
      otherCores: m.otherCores,
      readBytesPerRequest: m.readBytesPerRequest,
      workerCpuUsPerRequest: round(m.workerCpuUs / Math.max(1, m.answered)),
      peakRssMiB: m.peakRssMiB,
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
    /** One closed-loop capacity run: the run, and the predictions it got served per second. */
    const closedLoop = async (connections: number) => {
      const run = await measure([
        { name: "capacity", seconds: calibrate, rate: 0, connections, backoffMs: 20 },
      ]);
      return { run, served: (run.phases[0].statuses["200"] ?? 0) / calibrate };
    };
    let cap: Awaited<ReturnType<typeof measure>> | null = null;
    let capacity = 0;
    let capacityConnections = 0;
    for (const connections of [2, 4, 8]) {
      const { run, served } = await closedLoop(connections);
      log(`closed loop, ${connections} connections: ${round(served)} req/s`);
      if (cap === null || served > capacity) {
        cap = run;
        capacity = served;
        capacityConnections = connections;
      }
    }
    // A rate of 0 would mean closed loop below: nothing to offer a multiple of.
    if (cap === null || capacity === 0)
      throw new Error(`no prediction was served in ${calibrate} s: no capacity to measure`);
    log(`capacity ${round(capacity)} req/s (${capacityConnections} closed-loop connections)`);
    const rows: LoadRow[] = [
      row(`capacity (best closed loop: ${capacityConnections} connections)`, cap, capacity),
    ];
    const unloaded = await measure([
      { name: "unloaded", seconds: calibrate, rate: capacity / 2, connections: 64 },
    ]);
    rows.push(row("50% of capacity (unloaded)", unloaded, capacity));
    const unloadedP99 = unloaded.phases[0].ok.p99;
    log(`unloaded p99 ${unloadedP99} ms at ${round(capacity / 2)} req/s`);
    const recovery: Phase = { name: "recovery", seconds: 1, rate: capacity, connections: 1024 };
    // Capacity again, closed loop with the calibration's connections, before every overload run and
    // after the last: each run is held against the mean of the two around it. This machine's speed
    // drifts (±15% between 5-second runs of one build, one server process), and a capacity taken
    // once, as the best of three, leans high: bracketing holds each run against the capacity of the
    // same minute instead. The offered load stays a multiple of the calibration's capacity.
    const capacityNow = async () => {
      const { served } = await closedLoop(capacityConnections);
      log(`capacity now: ${round(served)} req/s`);
      return served;
    };
    let last: Awaited<ReturnType<typeof measure>> | null = null;
    const anyOverload = options.factors.length > 0 || options.stormClients > 0;
    let before = anyOverload ? await capacityNow() : capacity;
    const overload = async (label: string, phase: Phase) => {
      log(
        `${label}: ${phase.rate ? `${round(phase.rate)} req/s` : `${phase.connections} clients`} for ${options.seconds} s`,
      );
      const run = await measure([phase, recovery]);
      const after = await capacityNow();
      rows.push(row(label, run, (before + after) / 2));
      log(JSON.stringify(rows[rows.length - 1]));
      before = after;
      return run;
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
    // Cost of a rejection: the highest factor's worker CPU, less what its accepted requests cost at
    // the unloaded rate, over its rejections.
    let cost: OverloadReport["cost"] = null;
    const acceptedUs = unloaded.workerCpuUs / Math.max(1, unloaded.answered);
    if (last) {
      const p = last.phases[0];
      const accepted = last.phases.reduce((n, q) => n + (q.statuses["200"] ?? 0), 0);
      const rejected = last.phases.reduce((n, q) => n + (q.statuses["503"] ?? 0), 0);
      if (rejected > 0 && p) {
        const rejectedUs = Math.max(0, last.workerCpuUs - accepted * acceptedUs) / rejected;
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
