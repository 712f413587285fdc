#!/usr/bin/env node
/**
 * The Open Inference Protocol's fast paths against the engine, interleaved (issue #32's figures):
 * `node scripts/ab/fast-paths.mjs` starts this build's server (WORKERS=1 THREADS=1, GRPC_PORT, the
 * bundled model) pinned to CPU 0, then from this process (pin it: `taskset -c 1`) runs `npm run
 * bench`'s fast-path scenarios — OIP JSON and binary REST by autocannon, gRPC raw by the bench's
 * grpc-js load — at 1 and 10 000 rows, and the engine alone (predictBatch in this thread) on the
 * same rows, ROUNDS rounds of SECS seconds each (env; default 5 and 3), and prints rows/s medians
 * and the 10 000-row paths over the engine. After `npm run build:scripts`.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { positionalArgs } from "./args.mjs";

const USAGE = `usage: node scripts/ab/fast-paths.mjs   (env ROUNDS, SECS, EXTRA='{"SETTING":"value"}'; pin it: taskset -c 1)`;
positionalArgs(USAGE);

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const autocannon = (await import(`${root}/node_modules/autocannon/autocannon.js`)).default;
const { loadModel } = await import(`${root}/dist/model/index.js`);
const { fastPathScenarios, engineRows } = await import(`${root}/dist/scripts/bench/scenarios.js`);
const { measureGrpc } = await import(`${root}/dist/scripts/bench/grpc-load.js`);
const ROUNDS = Number(process.env.ROUNDS ?? 5),
  SECS = Number(process.env.SECS ?? 3);
const modelBytes = readFileSync(`${root}/model/default/model.json`);
const model = loadModel(modelBytes);
const port = 18420,
  grpcPort = 18422;
const child = spawn("taskset", ["-c", "0", process.execPath, `${root}/dist/cli/forestd.js`, "serve"], {
  env: {
    ...process.env,
    PORT: String(port),
    METRICS_PORT: String(port + 1),
    GRPC_PORT: String(grpcPort),
    WORKERS: "1",
    THREADS: "1",
    ACCESS_LOG: "off",
    ...(process.env.EXTRA ? JSON.parse(process.env.EXTRA) : {}),
  },
  stdio: "ignore",
});
process.on("exit", () => child.kill());
for (let i = 0; i < 150; i++) {
  try {
    if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
  } catch {}
  await new Promise((r) => setTimeout(r, 200));
}
const name =
  (await (await fetch(`http://127.0.0.1:${port}/v2/models`)).json()).models?.[0]?.name ?? "default";
const scenarios = fastPathScenarios(model, name, 32, true, 1);
const ac = (sc, seconds) =>
  new Promise((resolve, reject) =>
    autocannon(
      {
        url: `http://127.0.0.1:${port}${sc.path}`,
        method: "POST",
        headers: sc.headers ?? { "content-type": "application/json" },
        body: sc.body,
        connections: sc.connections,
        duration: seconds,
      },
      (e, r) =>
        e
          ? reject(e)
          : resolve({ rps: r.requests.total / seconds, bad: r.non2xx + r.errors, p99: r.latency.p99 }),
    ),
  );
const grpc = async (sc, seconds) => {
  const m = await measureGrpc(
    {
      address: `127.0.0.1:${grpcPort}`,
      request: sc.grpc.request,
      rowsPerRequest: sc.rowsPerRequest,
      seconds,
      concurrency: sc.connections,
      connections: sc.grpc.grpcConnections,
    },
    null,
  );
  return { rps: m.requestsPerSec ?? m.reqPerSec ?? m.requests / seconds, raw: m };
};
const once = (sc, s) => (sc.grpc ? grpc(sc, s) : ac(sc, s));
function engine(batch, seconds) {
  const rows = engineRows(model, batch);
  let n = 0;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    model.predictBatch(rows, batch);
    n++;
  }
  return (n * batch) / seconds;
}
const med = (a) => {
  const b = [...a].sort((x, y) => x - y);
  return (b[(b.length - 1) >> 1] + b[b.length >> 1]) / 2;
};
for (const sc of scenarios) await once(sc, 1);
engine(10000, 1);
const got = Object.fromEntries(scenarios.map((s) => [s.title, []]));
got.engine = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const sc of r % 2 ? [...scenarios].reverse() : scenarios) {
    const x = await once(sc, SECS);
    got[sc.title].push(x.rps * sc.rowsPerRequest);
    if (r === 0 && sc.grpc) console.error(sc.title, JSON.stringify(x.raw).slice(0, 400));
  }
  got.engine.push(engine(10000, SECS));
}
const e = med(got.engine);
for (const [k, v] of Object.entries(got))
  console.log(
    `${k.padEnd(36)} rows/s median ${Math.round(med(v))}  (${v.map(Math.round).join(" ")})  ${k.includes("10 000") ? `÷ engine ${(med(v) / e).toFixed(2)}` : ""}`,
  );
process.exit(0);
