/**
 * npm run bench:overload — forestd under 4× its measured capacity, on 127.0.0.1, for a fixed time.
 *
 *   npm run bench:overload [-- --seconds 20 --factor 4]
 *
 * Measures capacity (closed loop, 32 connections) and the unloaded p99 (10% of capacity), then
 * offers `factor` × capacity at a fixed rate for `seconds` and reports: accepted p99 vs unloaded,
 * how fast 503s come back, peak RSS of the process tree, and whether requests right after succeed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { packageRoot } from "../model/index.js";
import { freePort } from "./loopback.js";

const root = packageRoot();
const BODY = JSON.stringify({ height: 180, weight: 80, shoe_size: 44 });

interface Run {
  rps: number;
  accepted: number[];
  rejected: number[];
  errors: number;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function run(url: string, seconds: number, connections: number, overallRate?: number): Promise<Run> {
  const accepted: number[] = [];
  const rejected: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: BODY,
        connections,
        duration: seconds,
        ...(overallRate ? { overallRate } : {}),
      },
      (error, result) =>
        error
          ? reject(error)
          : resolve({
              rps: result.requests.mean,
              accepted,
              rejected,
              errors: result.errors + result.timeouts,
            }),
    );
    instance.on("response", (_client, status, _bytes, ms) => (status === 200 ? accepted : rejected).push(ms));
  });
}

/** Resident memory of a process and its descendants, from /proc (Linux). */
function treeRss(pid: number): number {
  let total = 0;
  const visit = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      const children = readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim();
      for (const c of children ? children.split(/\s+/) : []) visit(Number(c));
    } catch {
      // gone
    }
  };
  visit(pid);
  return total;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { seconds: { type: "string", default: "20" }, factor: { type: "string", default: "4" } },
  });
  const seconds = Number(values.seconds);
  const factor = Number(values.factor);
  const port = await freePort();
  const server: ChildProcess = spawn(process.execPath, [join(root, "dist", "server", "cli.js"), "serve"], {
    env: {
      ...process.env,
      BIND: `127.0.0.1:${port}`,
      WORKERS: "2",
      ACCESS_LOG: "off",
      METRICS_PORT: "0",
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}/predict`;
  try {
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await run(url, 3, 32); // warm-up
    const capacity = (await run(url, 5, 32)).rps;
    const quiet = await run(url, 5, 8, Math.round(capacity / 10));
    const unloadedP99 = percentile(quiet.accepted, 99);
    let peakRss = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, treeRss(server.pid as number));
    }, 250);
    const offered = Math.round(capacity * factor);
    const overload = await run(url, seconds, 512, offered);
    clearInterval(sampler);
    const after = await run(url, 2, 4);
    const report = {
      capacityRps: Math.round(capacity),
      unloadedP99Ms: unloadedP99,
      offeredRps: offered,
      achievedRps: Math.round(overload.rps),
      accepted: overload.accepted.length,
      rejected: overload.rejected.length,
      errors: overload.errors,
      acceptedP99Ms: percentile(overload.accepted, 99),
      acceptedP99VsUnloaded: percentile(overload.accepted, 99) / unloadedP99,
      rejectedP99Ms: percentile(overload.rejected, 99),
      rejectedMaxMs: percentile(overload.rejected, 100),
      peakRssMiB: Math.round(peakRss / 2 ** 20),
      afterLoad: { accepted: after.accepted.length, rejected: after.rejected.length, errors: after.errors },
    };
    console.log(JSON.stringify(report, null, 2));
  } finally {
    server.kill("SIGTERM");
  }
}

await main();
