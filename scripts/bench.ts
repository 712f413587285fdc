/**
 * npm run bench — forestd under load next to its baselines, measured in the same run on this
 * machine, over 127.0.0.1 only, each scenario for a fixed time after a warm-up.
 *
 * Usage: `npm run bench -- --help` (USAGE below).
 *
 * Scenarios: 1 row (keep-alive on and off), 100 rows by position and by name, OIP infer, 10 000 rows,
 * a rising offered load (latency against throughput), and many models: a repository of the test
 * fixtures (XGBoost, ONNX, scikit-learn) in one server, one row to each model in turn against one
 * row to one of them. Baselines: a bare Fastify server with the
 * same WORKERS (the HTTP ceiling), the engine alone in one thread, and Gunicorn + Flask + XGBoost
 * (scripts/gunicorn_app.py) when Debian's python3 has them.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { defaultModelPath, loadModel, type Model, packageRoot } from "../model/index.js";
import { compareReports } from "./bench/compare.js";
import { timeEngine } from "./bench/engine.js";
import { pickModels, writeRepository } from "./bench/fixture-repository.js";
import { renderHtml } from "./bench/html.js";
import { type Measurement, measure } from "./bench/load.js";
import type { BenchReport, CurvePoint, ScenarioResult, SweepPoint, TargetKind } from "./bench/report.js";
import { find } from "./bench/report.js";
import { scriptArgs } from "./script-args.js";

const USAGE = `  npm run bench [-- options]
    --seconds N            per scenario (default 5; fractions allowed)
    --warm-seconds N       warm-up before each measured scenario (default 1; a freshly started
                           baseline or sweep server warms twice as long); a smoke test of the
                           report itself can take a fraction
    --connections N        for small requests (default 32)
    --workers N --threads N --max-batch-rows N     forestd's settings (default 2, 1, 4096)
    --model FILE           the model served by forestd and Gunicorn (default: the bundled one)
    --url URL              measure a forestd someone else started (no CPU/RSS, no start-up)
    --env KEY=VALUE        a forestd setting for this run, repeatable (e.g. --env ACCESS_LOG=on to
                           price the access log, --env INLINE_SCORING_MAX_US=0 to price inlining)
    --models N             the many-models scenarios: a repository of N fixture models (default 20;
                           0 skips them; not with --url)
    --no-baselines         forestd only
    --sweep                also try WORKERS × THREADS × MAX_BATCH_ROWS and recommend one
      --sweep-workers 1,2 --sweep-threads 1,2 --sweep-batch 256,4096
    --compare OLD.json     flag regressions against an earlier run (exit 1 if any)
      --report NEW.json    compare an existing report instead of running
    --threshold 0.1        a throughput drop beyond this fraction is a regression
    --out DIR              where bench.json and bench.html go (default bench-results/)
    --server-cpus 0 --load-cpus 1   pin every server's process tree to some CPUs and this process
                           (autocannon, the engine-alone baseline) to others, so that a figure
                           measures the server and not its contention with the load generator`;

import { type GrpcLoadSpec, measureGrpc } from "./bench/grpc-load.js";
import {
  engineRows,
  fastPathScenarios,
  forestdScenarios,
  manyModelScenarios,
  type Scenario,
} from "./bench/scenarios.js";
import {
  external,
  gunicornMissing,
  startBare,
  startForestd,
  startGunicorn,
  type Target,
} from "./bench/servers.js";
import { recommend } from "./bench/sweep.js";
import { freePort } from "./loopback.js";

const root = packageRoot();
const list = (text: string) =>
  text
    .split(",")
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);

const { values } = scriptArgs(USAGE, {
  options: {
    seconds: { type: "string", default: "5" },
    "warm-seconds": { type: "string", default: "1" },
    connections: { type: "string", default: "32" },
    workers: { type: "string", default: "2" },
    threads: { type: "string", default: "1" },
    "max-batch-rows": { type: "string", default: "4096" },
    model: { type: "string" },
    url: { type: "string" },
    env: { type: "string", multiple: true, default: [] },
    models: { type: "string", default: "20" },
    "no-baselines": { type: "boolean", default: false },
    sweep: { type: "boolean", default: false },
    "sweep-workers": { type: "string", default: `1,${Math.max(2, cpus().length)}` },
    "sweep-threads": { type: "string", default: "1,2" },
    "sweep-batch": { type: "string", default: "256,4096" },
    compare: { type: "string" },
    report: { type: "string" },
    threshold: { type: "string", default: "0.1" },
    out: { type: "string", default: join(root, "bench-results") },
    "server-cpus": { type: "string" },
    "load-cpus": { type: "string" },
  },
});

const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new Error(`--seconds ${values.seconds}: expected a positive number`);
const warmSeconds = Number(values["warm-seconds"]);
if (!(warmSeconds > 0))
  throw new Error(`--warm-seconds ${values["warm-seconds"]}: expected a positive number`);
const connections = Number(values.connections);
const workers = Number(values.workers);
const threads = Number(values.threads);
const maxBatchRows = Number(values["max-batch-rows"]);
const modelCount = values.url ? 0 : Number(values.models);
if (!Number.isInteger(modelCount) || modelCount < 0)
  throw new Error(`--models ${values.models}: expected a count`);
const threshold = Number(values.threshold);
const serverCpus = values["server-cpus"];
if (values["load-cpus"] !== undefined) {
  // Every thread of this process (autocannon runs here) onto the load's CPUs.
  const pin = spawnSync("taskset", ["-a", "-p", "-c", values["load-cpus"], String(process.pid)], {
    encoding: "utf8",
  });
  if (pin.status !== 0) throw new Error(`--load-cpus ${values["load-cpus"]}: taskset failed: ${pin.stderr}`);
}
const modelPath = resolve(values.model ?? defaultModelPath());
/** --env KEY=VALUE settings, passed to every forestd this run starts. */
const extraEnv = Object.fromEntries(
  (values.env ?? []).map((pair) => {
    const at = pair.indexOf("=");
    if (at <= 0) throw new Error(`--env ${pair}: expected KEY=VALUE`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function run(
  target: Target,
  kind: TargetKind,
  scenario: Scenario,
  overallRate?: number,
): Promise<Measurement> {
  const pid = kind === "forestd" && values.url ? null : target.pid;
  if (scenario.grpc) return measureGrpc(grpcSpec(scenario, seconds), pid);
  return measure(
    {
      url: `${target.origin}${scenario.path}`,
      body: scenario.body,
      headers: scenario.headers,
      rowsPerRequest: scenario.rowsPerRequest,
      seconds,
      connections: scenario.connections,
      keepAlive: scenario.keepAlive,
      requests: scenario.requests,
      overallRate,
    },
    kind === "forestd" && values.url ? null : target.pid,
  );
}

function result(kind: TargetKind, scenario: Scenario, m: Measurement): ScenarioResult {
  log(
    `${kind.padEnd(8)} ${scenario.title.padEnd(38)} ${String(m.requestsPerSec).padStart(7)} req/s ${String(m.rowsPerSec).padStart(9)} rows/s  p99 ${m.p99} ms  ${JSON.stringify(m.statuses)}`,
  );
  return {
    id: scenario.id,
    title: scenario.title,
    target: kind,
    rowsPerRequest: scenario.rowsPerRequest,
    connections: scenario.connections,
    keepAlive: scenario.keepAlive,
    ...m,
  };
}

/**
 * Warm a server (JIT, connections, scoring-rate estimates) before anything counts: `forSeconds`,
 * by default twice --warm-seconds (a server just started).
 */
async function warm(target: Target, scenario: Scenario, forSeconds = 2 * warmSeconds): Promise<void> {
  if (scenario.grpc) {
    await measureGrpc(grpcSpec(scenario, forSeconds), null);
    return;
  }
  await measure(
    {
      url: `${target.origin}${scenario.path}`,
      body: scenario.body,
      headers: scenario.headers,
      rowsPerRequest: 1,
      seconds: forSeconds,
      connections: scenario.connections,
      keepAlive: scenario.keepAlive,
      requests: scenario.requests,
    },
    null,
  );
}

/** GRPC_PORT of the forestd this run starts (the gRPC scenarios' address); 0 with --url. */
let grpcPort = 0;

function grpcSpec(scenario: Scenario, forSeconds: number): GrpcLoadSpec {
  const grpc = scenario.grpc as NonNullable<Scenario["grpc"]>;
  return {
    address: `127.0.0.1:${grpcPort}`,
    request: grpc.request,
    rowsPerRequest: scenario.rowsPerRequest,
    seconds: forSeconds,
    concurrency: scenario.connections,
    connections: grpc.grpcConnections,
  };
}

/** The engine alone, one thread, in this process: rows/s at a batch size (as a Measurement). */
function engineAlone(model: Model, batch: number): Measurement {
  const { rowsPerSec, usPerCall } = timeEngine(model, engineRows(model, batch), batch, seconds);
  const ms = Math.round(usPerCall) / 1000;
  return {
    requestsPerSec: Math.round(rowsPerSec / batch),
    rowsPerSec: Math.round(rowsPerSec),
    p50: ms,
    p90: ms,
    p99: ms,
    max: ms,
    errors: 0,
    non2xx: 0,
    total: Math.round((rowsPerSec / batch) * seconds),
    statuses: {},
    cpuCores: 1,
    peakRssMiB: null,
  };
}

async function risingLoad(target: Target, scenario: Scenario, capacity: number): Promise<CurvePoint[]> {
  const points: CurvePoint[] = [];
  for (const share of [0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.25, 1.5]) {
    const offered = Math.max(10, Math.round(capacity * share));
    const m = await measure(
      {
        url: `${target.origin}${scenario.path}`,
        body: scenario.body,
        rowsPerRequest: 1,
        // At least a second: autocannon paces overallRate per second, so a shorter point would
        // offer a whole second's requests in less.
        seconds: Math.max(1, Math.round(seconds / 2)),
        // Enough connections to carry the rate at ~1.5 ms each, and no more: autocannon paces each
        // connection by its own timer, so many connections at a low rate arrive in bursts.
        connections: Math.min(64, Math.max(4, Math.ceil(offered / 500))),
        overallRate: offered,
      },
      values.url ? null : target.pid,
    );
    log(
      `rising   offered ${String(offered).padStart(7)} req/s → ${m.requestsPerSec} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms`,
    );
    points.push({ offeredPerSec: offered, ...m });
  }
  return points;
}

/**
 * forestd serving a repository of `count` fixture models of every format (one folder each), with
 * the run's settings: one row to each model in turn, then to one of them, on the same server.
 */
async function manyModels(count: number): Promise<ScenarioResult[]> {
  const models = pickModels(count);
  const dir = mkdtempSync(join(tmpdir(), "forestd-bench-models-"));
  writeRepository(dir, models);
  const target = await startForestd({
    workers,
    threads,
    maxBatchRows,
    modelPath: "",
    extraEnv: { ...extraEnv, MODEL_REPOSITORY: dir },
    cpus: serverCpus,
  });
  try {
    // Ready once the first model is: wait until every worker asked (connections land on any)
    // lists all of them, several answers in a row.
    for (let i = 0, inARow = 0; inARow < 4 * workers; i++) {
      const listed = (await fetch(`${target.origin}/v2/models`).then((r) => r.json())) as {
        models: string[];
      };
      inARow = listed.models.length === count ? inARow + 1 : 0;
      if (i === 1200) throw new Error(`${listed.models.length} of ${count} models ready after a minute`);
      if (inARow === 0) await new Promise((r) => setTimeout(r, 50));
    }
    const out: ScenarioResult[] = [];
    const scenarios = manyModelScenarios(models, connections);
    for (const scenario of scenarios) await warm(target, scenario, warmSeconds);
    for (const scenario of scenarios) {
      await warm(target, scenario, warmSeconds);
      out.push(result("forestd", scenario, await run(target, "forestd", scenario)));
    }
    return out;
  } finally {
    await target.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function sweep(scenarios: Scenario[]): Promise<SweepPoint[]> {
  const single = scenarios.find((s) => s.id === "single-row") as Scenario;
  const hundred = scenarios.find((s) => s.id === "rows-100-position") as Scenario;
  const points: SweepPoint[] = [];
  for (const w of list(values["sweep-workers"] as string)) {
    for (const th of list(values["sweep-threads"] as string)) {
      for (const b of list(values["sweep-batch"] as string)) {
        const target = await startForestd({
          workers: w,
          threads: th,
          maxBatchRows: b,
          modelPath,
          extraEnv,
          cpus: serverCpus,
        });
        try {
          await warm(target, single);
          const point = {
            workers: w,
            threads: th,
            maxBatchRows: b,
            single: await run(target, "forestd", single),
            rows100: await run(target, "forestd", hundred),
          };
          log(
            `sweep    WORKERS=${w} THREADS=${th} MAX_BATCH_ROWS=${b}: ${point.single.requestsPerSec} req/s (1 row), ${point.rows100.rowsPerSec} rows/s (100 rows)`,
          );
          points.push(point);
        } finally {
          await target.stop();
        }
      }
    }
  }
  return points;
}

type Side = [id: string, target: TargetKind];
/** Each printed ratio: label, the scenario measured, the one it is divided by, and which figure. */
const RATIOS: [string, Side, Side, "requestsPerSec" | "rowsPerSec" | "p99"][] = [
  [
    "forestd / bare Fastify, 1 row req/s",
    ["single-row", "forestd"],
    ["single-row", "bare"],
    "requestsPerSec",
  ],
  ["forestd / bare Fastify, 1 row p99", ["single-row", "forestd"], ["single-row", "bare"], "p99"],
  [
    "forestd / Gunicorn, 1 row req/s",
    ["single-row", "forestd"],
    ["single-row", "gunicorn"],
    "requestsPerSec",
  ],
  [
    "forestd / Gunicorn, 1 row req/s, both without keep-alive",
    ["single-row-no-keepalive", "forestd"],
    ["single-row", "gunicorn"],
    "requestsPerSec",
  ],
  [
    "forestd / Gunicorn, 100 rows rows/s",
    ["rows-100-position", "forestd"],
    ["rows-100-position", "gunicorn"],
    "rowsPerSec",
  ],
  [
    "forestd / engine alone, 100 rows rows/s",
    ["rows-100-position", "forestd"],
    ["rows-100-position", "engine"],
    "rowsPerSec",
  ],
  [
    "forestd / engine alone, 10 000 rows rows/s",
    ["rows-10000", "forestd"],
    ["rows-10000", "engine"],
    "rowsPerSec",
  ],
  [
    "OIP JSON / engine alone, 10 000 rows rows/s",
    ["oip-json-10000", "forestd"],
    ["rows-10000", "engine"],
    "rowsPerSec",
  ],
  [
    "OIP binary REST / engine alone, 10 000 rows rows/s",
    ["oip-binary-10000", "forestd"],
    ["rows-10000", "engine"],
    "rowsPerSec",
  ],
  [
    "gRPC raw / engine alone, 10 000 rows rows/s",
    ["grpc-10000", "forestd"],
    ["rows-10000", "engine"],
    "rowsPerSec",
  ],
  [
    "gRPC raw (1 connection) / OIP JSON, 1 row req/s",
    ["grpc-1", "forestd"],
    ["oip-json-1", "forestd"],
    "requestsPerSec",
  ],
  [
    "gRPC raw (a connection per worker) / OIP JSON, 1 row req/s",
    ["grpc-1-conns", "forestd"],
    ["oip-json-1", "forestd"],
    "requestsPerSec",
  ],
  [
    "OIP binary REST / OIP JSON, 1 row req/s",
    ["oip-binary-1", "forestd"],
    ["oip-json-1", "forestd"],
    "requestsPerSec",
  ],
  [
    "keep-alive off / on, 1 row req/s",
    ["single-row-no-keepalive", "forestd"],
    ["single-row", "forestd"],
    "requestsPerSec",
  ],
  [
    "many models in turn / one model, 1 row req/s",
    ["models-round-robin", "forestd"],
    ["models-one", "forestd"],
    "requestsPerSec",
  ],
  [
    "by name / by position, 100 rows rows/s",
    ["rows-100-name", "forestd"],
    ["rows-100-position", "forestd"],
    "rowsPerSec",
  ],
];

function ratio(
  a: ScenarioResult | undefined,
  b: ScenarioResult | undefined,
  field: "requestsPerSec" | "rowsPerSec" | "p99",
) {
  return a && b && b[field] > 0 ? a[field] / b[field] : null;
}

function printTable(report: BenchReport): void {
  const head =
    "target   scenario                                  req/s     rows/s   p50 ms   p90 ms   p99 ms   max ms  err non2xx   cpu  rss MiB";
  console.log(head);
  for (const r of report.scenarios) {
    console.log(
      [
        r.target.padEnd(8),
        r.title.padEnd(38),
        String(r.requestsPerSec).padStart(8),
        String(r.rowsPerSec).padStart(10),
        ...[r.p50, r.p90, r.p99, r.max].map((x) => x.toFixed(2).padStart(8)),
        String(r.errors).padStart(4),
        String(r.non2xx).padStart(6),
        (r.cpuCores?.toFixed(2) ?? "—").padStart(5),
        String(r.peakRssMiB ?? "—").padStart(8),
      ].join(" "),
    );
  }
  console.log("");
  for (const [k, v] of Object.entries(report.ratios)) console.log(`${k.padEnd(58)} ${v.toFixed(2)}`);
  for (const note of report.notes) console.log(`note: ${note}`);
  if (report.sweep) console.log(`\nsweep: ${report.sweep.reason}`);
}

function finishComparison(report: BenchReport): number {
  if (!values.compare) return 0;
  const before = JSON.parse(readFileSync(values.compare, "utf8")) as BenchReport;
  const { regressions, checked } = compareReports(before, report, threshold);
  report.comparison = { against: values.compare, regressions, checked };
  if (regressions.length === 0) {
    console.log(`\nno regressions against ${values.compare} (${checked} scenarios)`);
    return 0;
  }
  console.log(`\nREGRESSIONS against ${values.compare}:`);
  for (const r of regressions) {
    console.log(
      `  ${r.id}: ${r.metric} ${r.before} → ${r.after} (${Number.isFinite(r.change) ? `${(r.change * 100).toFixed(0)}%` : "new failures"})`,
    );
  }
  return 1;
}

function write(report: BenchReport): void {
  const out = resolve(values.out as string);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "bench.json"), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(out, "bench.html"), renderHtml(report));
  console.log(`\nwrote ${join(out, "bench.json")} and ${join(out, "bench.html")}`);
}

async function main(): Promise<number> {
  if (values.report) {
    // Compare two existing reports; nothing is measured.
    const report = JSON.parse(readFileSync(values.report, "utf8")) as BenchReport;
    const code = finishComparison(report);
    write(report);
    return code;
  }
  const model = loadModel(modelPath);
  const info = model.info();
  let scenarios: Scenario[] = [];
  const notes: string[] = [];
  const results: ScenarioResult[] = [];
  let curve: CurvePoint[] = [];

  if (!values.url) grpcPort = await freePort();
  const forestd = values.url
    ? external(values.url)
    : await startForestd({
        workers,
        threads,
        maxBatchRows,
        modelPath,
        extraEnv: { GRPC_PORT: String(grpcPort), ...extraEnv },
        cpus: serverCpus,
      });
  try {
    // OIP routes carry the server's model name (MODEL_NAME, else the file's): ask the server.
    const served = (await fetch(`${forestd.origin}/model`).then((r) => r.json())) as { name: string };
    scenarios = [
      ...forestdScenarios(model, served.name, connections),
      ...fastPathScenarios(model, served.name, connections, grpcPort !== 0, workers),
    ];
    // Every request shape warms its code paths (JIT, in every worker) before any is measured, and
    // again just before its own run: otherwise the first scenario of a shape pays for the JIT.
    for (const scenario of scenarios) await warm(forestd, scenario, warmSeconds);
    for (const scenario of scenarios) {
      await warm(forestd, scenario, warmSeconds);
      results.push(result("forestd", scenario, await run(forestd, "forestd", scenario)));
    }
    const capacity = results.find((r) => r.id === "single-row")?.requestsPerSec ?? 0;
    curve = await risingLoad(forestd, scenarios[0], capacity);
  } finally {
    await forestd.stop();
  }
  if (modelCount > 0) results.push(...(await manyModels(modelCount)));

  if (!values["no-baselines"]) {
    const single = scenarios[0];
    const hundred = scenarios.find((s) => s.id === "rows-100-position") as Scenario;
    const bare = await startBare(workers, serverCpus);
    try {
      await warm(bare, single);
      results.push(result("bare", single, await run(bare, "bare", single)));
    } finally {
      await bare.stop();
    }
    for (const scenario of [hundred, scenarios.find((s) => s.id === "rows-10000") as Scenario]) {
      // One engine figure at 10 000 rows serves every 10 000-row scenario's ratio.
      results.push(result("engine", scenario, engineAlone(model, scenario.rowsPerRequest)));
    }
    const missing = gunicornMissing();
    if (missing) {
      notes.push(`Gunicorn + Flask + XGBoost not measured: ${missing}`);
    } else {
      // Gunicorn's sync workers close the connection after every answer: measure it that way
      // (autocannon's latencies are wrong when the server closes connections).
      const closing = (s: Scenario): Scenario => ({ ...s, keepAlive: false });
      // XGBoost may refuse a model forestd serves (one written by another tool, say): the run
      // keeps what it measured and says why this baseline is missing.
      const gunicorn = await startGunicorn(workers, modelPath, serverCpus).catch((error: unknown) => {
        notes.push(`Gunicorn + Flask + XGBoost not measured: it did not start (${String(error)})`);
        return null;
      });
      if (gunicorn) {
        try {
          await warm(gunicorn, closing(single));
          for (const scenario of [single, hundred].map(closing))
            results.push(result("gunicorn", scenario, await run(gunicorn, "gunicorn", scenario)));
        } finally {
          await gunicorn.stop();
        }
      }
    }
  }

  const report: BenchReport = {
    version: 1,
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
    },
    settings: {
      workers,
      threads,
      maxBatchRows,
      seconds,
      connections,
      url: values.url ?? null,
      env: extraEnv,
      models: modelCount,
      ...(serverCpus !== undefined || values["load-cpus"] !== undefined
        ? { pinning: { server: serverCpus ?? null, load: values["load-cpus"] ?? null } }
        : {}),
    },
    model: { path: modelPath, trees: info.numTrees, features: info.numFeature, objective: info.objective },
    scenarios: results,
    curve,
    ratios: {},
    sweep: null,
    comparison: null,
    notes,
  };
  for (const [label, [id, target], [baseId, baseTarget], field] of RATIOS) {
    const value = ratio(find(report, id, target), find(report, baseId, baseTarget), field);
    if (value !== null) report.ratios[label] = Math.round(value * 1000) / 1000;
  }

  if (values.sweep && !values.url) {
    const points = await sweep(scenarios);
    report.sweep = { points, ...recommend(points) };
  }
  console.log(
    `\n${seconds} s per scenario, WORKERS=${workers} THREADS=${threads} MAX_BATCH_ROWS=${maxBatchRows}${Object.entries(
      extraEnv,
    )
      .map(([k, v]) => ` ${k}=${v}`)
      .join("")}, 127.0.0.1\n`,
  );
  printTable(report);
  const code = finishComparison(report);
  write(report);
  return code;
}

process.exitCode = await main();
