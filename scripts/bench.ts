/**
 * npm run bench — forestd against the bare-Fastify HTTP ceiling, measured in the same run on this
 * machine, over 127.0.0.1 only, each scenario for a fixed time after a warm-up.
 *
 *   npm run bench [-- --seconds 10 --connections 32 --workers 2 --json bench-results/latest.json]
 *
 * Reports requests/s, latency percentiles, errors; the ratio forestd / bare; and forestd against
 * the reference figure for Gunicorn + Flask + XGBoost (2 sync workers) on this kind of machine.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { packageRoot } from "../model/index.js";
import { freePort } from "./loopback.js";

/** Gunicorn + Flask + XGBoost predict, 2 sync workers, single-row requests/s (issue #3's figure). */
const GUNICORN_REFERENCE_RPS = 3900;
const root = packageRoot();

interface Result {
  name: string;
  requestsPerSec: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
  total: number;
}

async function waitReady(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms`);
}

function start(command: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, command, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Latencies in ms, exact (autocannon's own histogram truncates them to whole milliseconds). */
class Latencies {
  #values = new Float64Array(1 << 16);
  #n = 0;
  add(ms: number): void {
    if (this.#n === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#n++] = ms;
  }
  percentile(p: number): number {
    const sorted = this.#values.subarray(0, this.#n).sort();
    if (sorted.length === 0) return 0;
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }
}

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

async function measure(
  name: string,
  url: string,
  body: string,
  seconds: number,
  connections: number,
): Promise<Result> {
  const latencies = new Latencies();
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        connections,
        duration: seconds,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.add(responseTime);
    });
  });
  return {
    name,
    requestsPerSec: r.requests.mean,
    p50: round3(latencies.percentile(50)),
    p90: round3(latencies.percentile(90)),
    p99: round3(latencies.percentile(99)),
    max: round3(latencies.percentile(100)),
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    total: r.requests.total,
  };
}

/** The round with the median requests/s: one noisy round (a busy neighbour) does not decide. */
function median(rounds: Result[]): Result {
  const sorted = [...rounds].sort((a, b) => a.requestsPerSec - b.requestsPerSec);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "10" },
      connections: { type: "string", default: "32" },
      workers: { type: "string", default: "2" },
      rounds: { type: "string", default: "3" },
      json: { type: "string", default: join(root, "bench-results", "latest.json") },
    },
  });
  const rounds = Math.max(1, Number(values.rounds));
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const workers = values.workers as string;
  const row = JSON.stringify({ height: 180, weight: 80, shoe_size: 44 });

  const barePort = await freePort();
  const port = await freePort();
  const bare = start([join(root, "dist", "scripts", "bare-server.js"), String(barePort), workers], {});
  const forestd = start([join(root, "dist", "server", "cli.js"), "serve"], {
    BIND: `127.0.0.1:${port}`,
    WORKERS: workers,
    THREADS: "1",
    ACCESS_LOG: "off",
    METRICS_PORT: "0",
    LOG_LEVEL: "warn",
  });
  const bareUrl = `http://127.0.0.1:${barePort}/predict`;
  const forestdUrl = `http://127.0.0.1:${port}/predict`;
  const bareRounds: Result[] = [];
  const forestdRounds: Result[] = [];
  try {
    await waitReady(`http://127.0.0.1:${barePort}/readyz`, bare);
    await waitReady(`http://127.0.0.1:${port}/readyz`, forestd);
    // Warm both (JIT, connections), then alternate so drift on the machine hits both alike.
    await measure("warm-up", bareUrl, row, 3, connections);
    await measure("warm-up", forestdUrl, row, 3, connections);
    for (let i = 0; i < rounds; i++) {
      bareRounds.push(await measure("bare fastify (constant)", bareUrl, row, seconds, connections));
      forestdRounds.push(await measure("forestd /predict (1 row)", forestdUrl, row, seconds, connections));
      console.log(
        `round ${i + 1}: bare ${bareRounds[i].requestsPerSec.toFixed(0)} req/s, forestd ${forestdRounds[i].requestsPerSec.toFixed(0)} req/s`,
      );
    }
  } finally {
    await Promise.all([stop(bare), stop(forestd)]);
  }
  const results = [median(bareRounds), median(forestdRounds)];
  const [ceiling, ours] = results;
  console.log(
    `\n${connections} connections, ${seconds} s per round, median of ${rounds} rounds, WORKERS=${workers}, 127.0.0.1\n`,
  );
  console.log("scenario                      req/s     p50 ms  p90 ms  p99 ms  max ms  errors  non-2xx");
  for (const r of results) {
    console.log(
      `${r.name.padEnd(28)} ${r.requestsPerSec.toFixed(0).padStart(7)}  ${String(r.p50).padStart(7)} ${String(r.p90).padStart(7)} ${String(r.p99).padStart(7)} ${String(r.max).padStart(7)} ${String(r.errors).padStart(7)} ${String(r.non2xx).padStart(8)}`,
    );
  }
  const ratio = ours.requestsPerSec / ceiling.requestsPerSec;
  const p99Ratio = ours.p99 / ceiling.p99;
  console.log(
    `\nforestd / bare fastify: ${(ratio * 100).toFixed(0)}% of requests/s (target ≥ 70%), p99 ${p99Ratio.toFixed(2)}× (target ≤ 1.5×)`,
  );
  console.log(
    `forestd / Gunicorn+Flask+XGBoost reference (${GUNICORN_REFERENCE_RPS} req/s): ${(ours.requestsPerSec / GUNICORN_REFERENCE_RPS).toFixed(1)}×`,
  );
  mkdirSync(dirname(values.json as string), { recursive: true });
  writeFileSync(
    values.json as string,
    `${JSON.stringify({ date: new Date().toISOString(), seconds, connections, rounds, workers: Number(workers), results, bareRounds, forestdRounds, ratio, p99Ratio }, null, 2)}\n`,
  );
}

await main();
