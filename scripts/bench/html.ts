/**
 * One self-contained HTML report: Chart.js (inlined from node_modules, no network) draws latency vs
 * offered load, forestd against its baselines, throughput per scenario and, after --sweep, per
 * setting; tables carry every number. The page sets data-charts="N" on <body> once all N charts
 * are drawn, which the headless-Chromium test waits for.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { BenchReport } from "./report.js";

const require = createRequire(import.meta.url);

function chartJsSource(): string {
  // Without its source-map comment: the report must not point anywhere outside itself.
  const dist = dirname(require.resolve("chart.js")); // its exports hide dist/ files, not the entry
  return readFileSync(join(dist, "chart.umd.min.js"), "utf8").replace(/\/\/# sourceMappingURL=\S+\s*$/, "");
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

/** JSON safe inside <script>: no "</script>" can close the element early. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c");

function table(headers: string[], rows: (string | number | null)[][]): string {
  const cell = (v: string | number | null) =>
    `<td>${v === null ? "—" : escapeHtml(typeof v === "number" ? v.toLocaleString("en-US") : v)}</td>`;
  return `<table><thead><tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map(cell).join("")}</tr>`)
    .join("")}</tbody></table>`;
}

/** The page's own script: builds the charts from the embedded report. */
const PAGE_SCRIPT = `
const report = JSON.parse(document.getElementById("report-data").textContent);
const charts = [];
const byTarget = (id, target) => report.scenarios.find((s) => s.id === id && s.target === target);
function chart(id, config) {
  const canvas = document.getElementById(id);
  if (!canvas) return;
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
  charts.push(new Chart(canvas, config));
}
if (report.curve.length > 0) {
  chart("chart-curve", {
    type: "line",
    data: {
      datasets: [
        { label: "p50 ms", data: report.curve.map((p) => ({ x: p.offeredPerSec, y: p.p50 })), yAxisID: "latency" },
        { label: "p99 ms", data: report.curve.map((p) => ({ x: p.offeredPerSec, y: p.p99 })), yAxisID: "latency" },
        { label: "achieved req/s", data: report.curve.map((p) => ({ x: p.offeredPerSec, y: p.requestsPerSec })), yAxisID: "throughput", borderDash: [4, 4] },
      ],
    },
    options: {
      scales: {
        x: { type: "linear", title: { display: true, text: "offered requests/s" } },
        latency: { type: "logarithmic", position: "left", title: { display: true, text: "latency ms" } },
        throughput: { type: "linear", position: "right", title: { display: true, text: "achieved requests/s" }, grid: { drawOnChartArea: false } },
      },
    },
  });
}
const single = ["bare", "forestd", "gunicorn"].map((t) => byTarget("single-row", t)).filter(Boolean);
const hundred = ["forestd", "gunicorn", "engine"].map((t) => byTarget("rows-100-position", t)).filter(Boolean);
const names = { bare: "bare Fastify (ceiling)", forestd: "forestd", gunicorn: "Gunicorn + Flask + XGBoost", engine: "engine alone, 1 thread" };
chart("chart-single", {
  type: "bar",
  data: { labels: single.map((s) => names[s.target]), datasets: [{ label: "1 row: requests/s", data: single.map((s) => s.requestsPerSec) }] },
  options: { indexAxis: "y" },
});
chart("chart-hundred", {
  type: "bar",
  data: { labels: hundred.map((s) => names[s.target]), datasets: [{ label: "100 rows: rows/s", data: hundred.map((s) => s.rowsPerSec) }] },
  options: { indexAxis: "y" },
});
const ours = report.scenarios.filter((s) => s.target === "forestd");
chart("chart-scenarios", {
  type: "bar",
  data: {
    labels: ours.map((s) => s.title),
    datasets: [
      { label: "rows/s", data: ours.map((s) => s.rowsPerSec), yAxisID: "rows" },
      { label: "p99 ms", data: ours.map((s) => s.p99), yAxisID: "latency", type: "line" },
    ],
  },
  options: {
    scales: {
      rows: { type: "logarithmic", position: "left", title: { display: true, text: "rows/s" } },
      latency: { type: "linear", position: "right", title: { display: true, text: "p99 ms" }, grid: { drawOnChartArea: false } },
    },
  },
});
if (report.sweep) {
  const points = report.sweep.points;
  chart("chart-sweep", {
    type: "bar",
    data: {
      labels: points.map((p) => "W" + p.workers + " T" + p.threads + " B" + p.maxBatchRows),
      datasets: [
        { label: "1 row: requests/s", data: points.map((p) => p.single.requestsPerSec), yAxisID: "req" },
        { label: "100 rows: rows/s", data: points.map((p) => p.rows100.rowsPerSec), yAxisID: "rows" },
      ],
    },
    options: {
      scales: {
        req: { position: "left", title: { display: true, text: "requests/s" } },
        rows: { position: "right", title: { display: true, text: "rows/s" }, grid: { drawOnChartArea: false } },
      },
    },
  });
}
document.body.dataset.charts = String(charts.length);
`;

export function renderHtml(report: BenchReport): string {
  const s = report.settings;
  const scenarioRows = report.scenarios.map((r) => [
    r.target,
    r.title,
    r.requestsPerSec,
    r.rowsPerSec,
    r.p50,
    r.p90,
    r.p99,
    r.max,
    r.errors,
    r.non2xx,
    r.cpuCores,
    r.peakRssMiB,
  ]);
  const curveRows = report.curve.map((p) => [
    p.offeredPerSec,
    p.requestsPerSec,
    p.p50,
    p.p90,
    p.p99,
    p.max,
    p.non2xx,
    p.cpuCores,
  ]);
  const ratioRows = Object.entries(report.ratios).map(([k, v]) => [k, Math.round(v * 100) / 100]);
  const sweepSection = report.sweep
    ? `<h2>Throughput per setting (--sweep)</h2><div class="chart"><canvas id="chart-sweep"></canvas></div>
<p><strong>Recommended:</strong> ${escapeHtml(report.sweep.reason)}</p>
${table(
  [
    "WORKERS",
    "THREADS",
    "MAX_BATCH_ROWS",
    "1 row req/s",
    "1 row p99 ms",
    "100 rows rows/s",
    "100 rows p99 ms",
  ],
  report.sweep.points.map((p) => [
    p.workers,
    p.threads,
    p.maxBatchRows,
    p.single.requestsPerSec,
    p.single.p99,
    p.rows100.rowsPerSec,
    p.rows100.p99,
  ]),
)}`
    : "";
  const comparison = report.comparison
    ? `<h2>Against ${escapeHtml(report.comparison.against)}</h2>${
        report.comparison.regressions.length === 0
          ? `<p>No regressions in ${report.comparison.checked} scenarios.</p>`
          : table(
              ["scenario", "metric", "before", "after", "change"],
              report.comparison.regressions.map((r) => [
                r.id,
                r.metric,
                r.before,
                r.after,
                `${(r.change * 100).toFixed(0)}%`,
              ]),
            )
      }`
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>forestd bench ${escapeHtml(report.date)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1b1f24; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child, td:nth-child(2) { text-align: left; }
.chart { position: relative; height: 320px; margin: 0.5rem 0 1.5rem; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
</style>
</head>
<body>
<h1>forestd bench</h1>
<p>${escapeHtml(report.date)} · ${report.machine.cpus} CPUs (${escapeHtml(report.machine.cpuModel)}) · Node.js ${escapeHtml(report.machine.node)} ·
WORKERS=${s.workers} THREADS=${s.threads} MAX_BATCH_ROWS=${s.maxBatchRows} · ${s.seconds} s per scenario · ${s.connections} connections ·
${s.pinning ? `servers on CPUs ${escapeHtml(s.pinning.server ?? "any")}, load generator on ${escapeHtml(s.pinning.load ?? "any")} · ` : "unpinned (servers and load generator share the CPUs) · "}
model ${escapeHtml(report.model.path)} (${report.model.trees} trees, ${report.model.features} features, ${escapeHtml(report.model.objective)})</p>
${report.notes.length > 0 ? `<ul>${report.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>` : ""}
<h2>forestd against its baselines, measured in this run</h2>
<div class="pair"><div class="chart"><canvas id="chart-single"></canvas></div><div class="chart"><canvas id="chart-hundred"></canvas></div></div>
${table(["ratio", "value"], ratioRows)}
<h2>Latency against offered load (1 row)</h2>
<div class="chart"><canvas id="chart-curve"></canvas></div>
${table(["offered req/s", "achieved req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "non-2xx", "server CPU cores"], curveRows)}
<h2>Throughput per scenario</h2>
<div class="chart"><canvas id="chart-scenarios"></canvas></div>
${table(["target", "scenario", "req/s", "rows/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "non-2xx", "CPU cores", "peak RSS MiB"], scenarioRows)}
${sweepSection}
${comparison}
<script id="report-data" type="application/json">${scriptJson(report)}</script>
<script>${chartJsSource()}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
