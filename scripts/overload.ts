/**
 * The overload experiment behind `npm run bench:overload` and test/overload.process.test.ts: start forestd
 * on 127.0.0.1, measure its capacity and unloaded latency, then offer `factor` × capacity at a
 * fixed rate for a fixed time, and report what happened to accepted and rejected requests.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { loadModel, packageRoot } from "../model/index.js";
import { measure } from "./bench/load.js";
import { makeRows } from "./bench/scenarios.js";
import { startForestd } from "./bench/servers.js";

const root = packageRoot();

export interface OverloadOptions {
  /** Seconds of offered overload. */
  seconds: number;
  /** Offered load as a multiple of the measured capacity. */
  factor: number;
  /**
   * `scoring`: the 1000-tree bench model, 20 rows per request, one worker with one scoring thread
   * — capacity is bound by that thread, the case admission control is for, and the other core is
   * left to the HTTP loop and the load generator. `http`: the default model, one row, two workers —
   * capacity is bound by the HTTP loops and the CPU; on a small machine the load generator then
   * competes with the server for the same cores, so 4× capacity cannot even be offered.
   */
  scenario: "scoring" | "http";
  /** Rows per request in the `scoring` scenario (default 20). */
  rows?: number;
  /** Extra environment for the server (settings). */
  env?: Record<string, string>;
  /** Called with progress lines. */
  log?: (line: string) => void;
}

export interface OverloadReport {
  scenario: string;
  seconds: number;
  capacityRps: number;
  unloadedP99Ms: number;
  offeredRps: number;
  achievedRps: number;
  accepted: number;
  rejected: number;
  otherStatuses: number;
  errors: number;
  acceptedP50Ms: number;
  acceptedP99Ms: number;
  acceptedP99VsUnloaded: number;
  rejectedP50Ms: number;
  rejectedP99Ms: number;
  rejectedWithRetryAfter: number;
  peakRssMiB: number;
  aliveAfter: boolean;
  afterLoad: { accepted: number; rejected: number; errors: number };
}

/** One autocannon run against the server (POSTs of `body`), with its CPU and RSS sampled. */
function run(
  url: string,
  body: string,
  pid: number,
  seconds: number,
  connections: number,
  overallRate?: number,
) {
  return measure({ url, body, rowsPerRequest: 1, seconds, connections, overallRate }, pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function runOverload(options: OverloadOptions): Promise<OverloadReport> {
  const log = options.log ?? (() => {});
  const tmp = mkdtempSync(join(tmpdir(), "forestd-overload-"));
  let modelPath = join(root, "model", "default", "model.json");
  let rowsPerRequest = 1;
  if (options.scenario === "scoring") {
    modelPath = join(tmp, "large.json");
    writeFileSync(
      modelPath,
      gunzipSync(readFileSync(join(root, "test", "fixtures", "bench", "large.json.gz"))),
    );
    rowsPerRequest = options.rows ?? 20;
  }
  const body =
    options.scenario === "scoring"
      ? JSON.stringify({ instances: makeRows(loadModel(readFileSync(modelPath)).numFeature, rowsPerRequest) })
      : JSON.stringify({ height: 180, weight: 80, shoe_size: 44 });
  const server = await startForestd({
    workers: options.scenario === "scoring" ? 1 : 2,
    threads: 1,
    modelPath,
    extraEnv: options.env,
  }).catch((error: unknown) => {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  });
  const pid = server.pid as number;
  const url = `${server.origin}/predict`;
  try {
    await run(url, body, pid, 3, 32); // warm-up: JIT, scoring-rate estimates
    // Capacity counts answered predictions only (requestsPerSec counts 2xx): a 503 is not capacity.
    const capacity = (await run(url, body, pid, 5, 32)).requestsPerSec;
    log(`capacity ${Math.round(capacity)} req/s`);
    // Two connections: autocannon paces each connection by its own timer, so many connections at a
    // low rate arrive in bursts and measure the burst rather than an unloaded server.
    const unloadedP99 = (await run(url, body, pid, 5, 2, Math.max(1, Math.round(capacity / 10)))).p99;
    log(`unloaded p99 ${unloadedP99} ms at ${Math.round(capacity / 10)} req/s`);
    const offered = Math.round(capacity * options.factor);
    log(`offering ${offered} req/s for ${options.seconds} s`);
    const overload = await run(url, body, pid, options.seconds, 512, offered);
    // After the load, once the Retry-After the 503s gave (1 s) has passed: one request at a time,
    // each must be answered 200.
    await new Promise((r) => setTimeout(r, 1000));
    const after = { accepted: 0, rejected: 0, errors: 0 };
    for (let i = 0; i < 50; i++) {
      const status = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      }).then(
        (r) => r.arrayBuffer().then(() => r.status),
        () => 0,
      );
      if (status === 200) after.accepted++;
      else if (status === 503) after.rejected++;
      else after.errors++;
    }
    const accepted = overload.statuses["200"] ?? 0;
    const rejected = overload.statuses["503"] ?? 0;
    return {
      scenario: options.scenario,
      seconds: options.seconds,
      capacityRps: Math.round(capacity),
      unloadedP99Ms: unloadedP99,
      offeredRps: offered,
      achievedRps: Math.round(overload.total / options.seconds),
      accepted,
      rejected,
      otherStatuses: Object.values(overload.statuses).reduce((n, c) => n + c, 0) - accepted - rejected,
      errors: overload.errors,
      acceptedP50Ms: overload.p50,
      acceptedP99Ms: overload.p99,
      acceptedP99VsUnloaded: Math.round((overload.p99 / Math.max(unloadedP99, 0.001)) * 100) / 100,
      rejectedP50Ms: overload.rejected?.p50 ?? 0,
      rejectedP99Ms: overload.rejected?.p99 ?? 0,
      rejectedWithRetryAfter: overload.rejected?.withRetryAfter ?? 0,
      peakRssMiB: overload.peakRssMiB ?? 0,
      aliveAfter: isAlive(pid),
      afterLoad: after,
    };
  } finally {
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
