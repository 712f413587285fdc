/**
 * npm run bench:overload — the overload experiment (scripts/overload.ts) with the server pinned to
 * some CPUs and the open-loop generator to others; prints the table of issue 15 and the report as
 * JSON (stdout), progress on stderr.
 *
 * Usage: `npm run bench:overload -- --help` (USAGE below).
 *
 * `--server-cpus ''` leaves both unpinned. On a bigger machine give each side more CPUs
 * (e.g. --server-cpus 0-3 --load-cpus 4-7); the generator must be able to offer the highest factor:
 * the report's generator.maxRps says what one of its cores can send.
 */
import { type OverloadReport, runOverload } from "./overload.js";
import { scriptArgs } from "./script-args.js";

const USAGE = `  npm run bench:overload [-- --shape scoring|body --seconds 15 --slice 3 --factors 2,4,10 --storm 64
                             --server-cpus 0 --load-cpus 1 --rows 100 --expect-continue
                             --trees 2000 --server-cli <another build's dist/cli/forestd.js>
                             --env LOOP_NICE=10 --env MAX_QUEUE_WAIT=0.05 --cpu-prof <dir>]`;

const { values } = scriptArgs(USAGE, {
  options: {
    shape: { type: "string", default: "scoring" },
    seconds: { type: "string", default: "15" },
    slice: { type: "string", default: "3" },
    factors: { type: "string", default: "2,4,10" },
    storm: { type: "string", default: "64" },
    "server-cpus": { type: "string", default: "0" },
    "load-cpus": { type: "string", default: "1" },
    rows: { type: "string", default: "100" },
    "expect-continue": { type: "boolean", default: false },
    trees: { type: "string" },
    "server-cli": { type: "string" },
    env: { type: "string", multiple: true, default: [] },
    "cpu-prof": { type: "string" },
  },
});
const pinned = values["server-cpus"] !== "";
for (const name of ["seconds", "slice", "rows", "storm"] as const) {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && name !== "storm")) {
    console.error(`bench:overload: --${name} must be a positive number (got ${values[name]})`);
    process.exit(2);
  }
}
const report = await runOverload({
  shape: values.shape === "body" ? "body" : "scoring",
  seconds: Number(values.seconds),
  sliceSeconds: Number(values.slice),
  factors: values.factors.split(",").map(Number),
  stormClients: Number(values.storm),
  serverCpus: pinned ? values["server-cpus"] : undefined,
  loadCpus: pinned ? values["load-cpus"] : undefined,
  rows: Number(values.rows),
  expectContinue: values["expect-continue"],
  serverCli: values["server-cli"],
  cpuProfDir: values["cpu-prof"],
  env: Object.fromEntries(
    values.env.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  ),
  ...(values.trees ? { model: { trees: Number(values.trees), depth: 10, features: 8 } } : {}),
  log: (line) => console.error(line),
});
console.error(table(report));
console.log(JSON.stringify(report, null, 2));

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function table(r: OverloadReport): string {
  const ms = (x: number) => (x > 0 ? `${x} ms` : "—");
  const edges = (x: number | undefined) => (x ? ` (p99 ${ms(x)} with slice starts)` : "");
  const lines = [
    `${r.shape}-bound: ${r.model}, ${r.rowsPerRequest} rows = ${r.bodyBytes} B/request; server on CPUs ${r.pinning.server}, generator on ${r.pinning.generator}`,
    "| load | offered req/s | sent req/s | served req/s | goodput (of capacity req/s) | accepted p50 / p99 | 503 p50 / p99 | 503s after the gate | cores: worker loop / scoring / other / primary | thread busy, ms/row, rows/task | bytes read/req | recovery: served, p99 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...r.rows.map(
      (x) =>
        `| ${x.load} | ${x.offeredRps || "closed loop"} | ${x.sentRps} | ${x.servedRps} | ${Math.round(x.goodput * 100)}% (of ${x.againstRps})${x.sliceGoodputs ? `; slices ${x.sliceGoodputs.map((g) => `${Math.round(g * 100)}`).join("/")}` : ""} | ${ms(x.acceptedP50Ms)} / ${ms(x.acceptedP99Ms)}${edges(x.p99WithEdgesMs?.accepted)} | ${ms(x.rejectedP50Ms)} / ${ms(x.rejectedP99Ms)}${edges(x.p99WithEdgesMs?.rejected)} | ${x.rejectedAfterGate} of ${x.rejected} | ${x.loopCores} / ${x.scoringCores} / ${round2(x.otherCores - x.scoringCores)} / ${x.primaryCores} | ${x.thread.busy}, ${x.thread.msPerRow}, ${x.thread.rowsPerTask} | ${x.readBytesPerRequest} | ${x.recovery ? `${x.recovery.servedRps} req/s, ${ms(x.recovery.acceptedP99Ms)}` : ""} |`,
    ),
    r.cost
      ? `worker CPU per request: accepted ${r.cost.acceptedUs} µs, rejected ${r.cost.rejectedUs} µs (${Math.round(r.cost.ratio * 1000) / 10}%)`
      : "",
    `generator: ${r.generator.cpuUsPerRequest} µs CPU per request sent, so up to ~${r.generator.maxRps} req/s on one core`,
  ];
  return lines.join("\n");
}
