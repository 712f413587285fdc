#!/usr/bin/env node
/**
 * Two builds of the server, interleaved: `node scripts/ab/http-ab.mjs BEFORE_CLI AFTER_CLI` starts
 * both (`BEFORE_CLI serve`, `AFTER_CLI serve`; WORKERS=1 THREADS=1 ACCESS_LOG=off, the bundled model)
 * pinned to CPU 0 at the same time — an idle server costs nothing — and alternates SECS-second
 * autocannon bursts between them (order flipped each round) for each keep-alive `/predict` scenario of
 * `npm run bench`. Prints each side's median requests/s and the median of the per-round ratios.
 * Run it pinned apart from the servers (`taskset -c 1`), after `npm run build:scripts`.
 *
 * Why this shape: separate runs minutes apart on a shared machine differ by ±30%; bursts seconds
 * apart see the same machine. Used for the #26 "HTTP hot path not slower" figure.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { positionalArgs } from "./args.mjs";

const USAGE =
  "usage: node scripts/ab/http-ab.mjs BEFORE_CLI AFTER_CLI   (env ROUNDS, SECS; pin it: taskset -c 1)";
const argv = positionalArgs(USAGE);

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const [beforeCli, afterCli] = argv;
if (!afterCli) {
  console.error(USAGE);
  process.exit(2);
}
const ROUNDS = Number(process.env.ROUNDS ?? 8);
const SECS = Number(process.env.SECS ?? 2);
const fromRoot = async (path) => import(pathToFileURL(join(root, path)).href);
const autocannon = (await fromRoot("node_modules/autocannon/autocannon.js")).default;
const { loadModel } = await fromRoot("dist/model/index.js");
const { forestdScenarios } = await fromRoot("dist/scripts/bench/scenarios.js");
const model = loadModel(readFileSync(join(root, "model", "default", "model.json")));
const scenarios = forestdScenarios(model, "default", 32).filter((s) => s.keepAlive && s.path === "/predict");
const servers = { before: { cli: beforeCli, port: 18400 }, after: { cli: afterCli, port: 18410 } };
const children = Object.values(servers).map((s) =>
  spawn("taskset", ["-c", "0", process.execPath, resolve(s.cli), "serve"], {
    env: {
      ...process.env,
      PORT: String(s.port),
      METRICS_PORT: String(s.port + 1),
      WORKERS: "1",
      THREADS: "1",
      ACCESS_LOG: "off",
    },
    stdio: "ignore",
  }),
);
process.on("exit", () => {
  for (const child of children) child.kill();
});
for (const s of Object.values(servers)) {
  let ready = false;
  for (let i = 0; i < 150 && !ready; i++) {
    ready = await fetch(`http://127.0.0.1:${s.port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await new Promise((r) => setTimeout(r, 200));
  }
  if (!ready) throw new Error(`${s.cli} did not become ready on port ${s.port}`);
}
const burst = (port, scenario, seconds) =>
  new Promise((done, fail) =>
    autocannon(
      {
        url: `http://127.0.0.1:${port}${scenario.path}`,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: scenario.body,
        connections: scenario.connections,
        duration: seconds,
      },
      (error, result) => (error ? fail(error) : done(result)),
    ),
  );
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return (sorted[(sorted.length - 1) >> 1] + sorted[sorted.length >> 1]) / 2;
};
for (const scenario of scenarios) {
  const rates = { before: [], after: [] };
  const ratios = [];
  for (const side of ["before", "after"]) await burst(servers[side].port, scenario, 1);
  for (let round = 0; round < ROUNDS; round++) {
    const got = {};
    for (const side of round % 2 ? ["after", "before"] : ["before", "after"]) {
      const result = await burst(servers[side].port, scenario, SECS);
      if (result.non2xx || result.errors)
        console.error(`${side} ${scenario.title}: ${result.non2xx} non-2xx, ${result.errors} errors`);
      got[side] = result.requests.total / SECS;
      rates[side].push(got[side]);
    }
    ratios.push(got.after / got.before);
  }
  console.log(
    JSON.stringify({
      scenario: scenario.title,
      beforeRequestsPerSecond: Math.round(median(rates.before)),
      afterRequestsPerSecond: Math.round(median(rates.after)),
      medianRatio: Number(median(ratios).toFixed(3)),
      ratios: ratios.map((r) => Number(r.toFixed(2))),
    }),
  );
}
process.exit(0);
