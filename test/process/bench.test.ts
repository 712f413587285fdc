/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * npm run bench, end to end but short: one command writes the JSON and the HTML report with
 * forestd and its baselines measured in the same run; the HTML draws its charts in headless
 * Chromium (Debian's) with no network and no page errors; --compare flags regressions; --sweep
 * recommends a setting. Nothing here asserts a speed: the figures are the bench's to report.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import t from "tap";
import { compareReports } from "../../scripts/bench/compare.js";
import type { BenchReport, SweepPoint } from "../../scripts/bench/report.js";
import { gunicornMissing } from "../../scripts/bench/servers.js";
import { recommend } from "../../scripts/bench/sweep.js";
import { ROOT } from "../helpers/fixtures.js";

const BENCH = join(ROOT, "dist", "scripts", "bench.js");
const CHROMIUM = "/usr/bin/chromium";
const dir = mkdtempSync(join(tmpdir(), "forestd-bench-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function bench(args: string[]) {
  return spawnSync(process.execPath, [BENCH, ...args], { encoding: "utf8", timeout: 240_000 });
}

t.test("one command: table, JSON and HTML, forestd against its baselines", async (t) => {
  const out = join(dir, "run");
  // Short phases: this checks the report (every scenario, baseline, ratio, chart), not the figures,
  // and the load phases were most of its time (warm-ups included).
  const r = bench([
    "--seconds",
    "0.5",
    "--warm-seconds",
    "0.25",
    "--connections",
    "16",
    "--sweep",
    "--sweep-workers",
    "1",
    "--sweep-threads",
    "1",
    "--sweep-batch",
    "256,4096",
    "--models",
    "6",
    "--out",
    out,
  ]);
  t.equal(r.status, 0, `exit 0\n${r.stderr.slice(-2000)}`);
  t.match(r.stdout, /target\s+scenario\s+req\/s\s+rows\/s/, "a console table");
  const report = JSON.parse(readFileSync(join(out, "bench.json"), "utf8")) as BenchReport;

  const ours = report.scenarios.filter((s) => s.target === "forestd");
  t.same(
    ours.map((s) => s.id),
    [
      "single-row",
      "single-row-no-keepalive",
      "rows-100-position",
      "rows-100-name",
      "oip-100",
      "rows-10000",
      "oip-json-1",
      "oip-binary-1",
      "grpc-1",
      "grpc-1-conns",
      "oip-json-10000",
      "oip-binary-10000",
      "grpc-10000",
      "models-round-robin",
      "models-one",
    ],
    "every forestd scenario",
  );
  for (const s of ours) {
    t.ok(s.requestsPerSec > 0 && s.rowsPerSec === s.requestsPerSec * s.rowsPerRequest, `${s.id}: answered`);
    t.equal(s.errors, 0, `${s.id}: no errors`);
    t.ok(s.p50 > 0 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max, `${s.id}: ordered percentiles`);
    t.ok((s.cpuCores ?? 0) > 0 && (s.peakRssMiB ?? 0) > 0, `${s.id}: server CPU and RSS measured`);
  }
  t.ok(
    report.scenarios.some((s) => s.target === "bare" && s.requestsPerSec > 0),
    "bare Fastify measured",
  );
  t.ok(
    report.scenarios.some((s) => s.target === "engine" && s.rowsPerSec > 0),
    "engine alone measured",
  );
  const missing = gunicornMissing();
  if (missing === null) {
    t.ok(
      report.scenarios.some((s) => s.target === "gunicorn" && (s.statuses["200"] ?? 0) > 0),
      "Gunicorn + Flask + XGBoost measured in the same run",
    );
    t.ok(report.ratios["forestd / Gunicorn, 1 row req/s"] > 0);
  } else {
    t.match(report.notes.join(" "), /Gunicorn \+ Flask \+ XGBoost not measured/, "its absence is said");
  }
  t.ok(report.ratios["forestd / bare Fastify, 1 row req/s"] > 0, "ratio to the ceiling");
  t.equal(report.settings.models, 6, "the many-models scenarios served 6 fixture models");
  t.ok(report.ratios["many models in turn / one model, 1 row req/s"] > 0, "many models against one");
  // JSON, binary REST and gRPC side by side, each against the engine alone at 10 000 rows.
  for (const label of [
    "OIP JSON / engine alone, 10 000 rows rows/s",
    "OIP binary REST / engine alone, 10 000 rows rows/s",
    "gRPC raw / engine alone, 10 000 rows rows/s",
    "gRPC raw (1 connection) / OIP JSON, 1 row req/s",
  ])
    t.ok(report.ratios[label] > 0, label);
  t.equal(
    report.scenarios.find((s) => s.id === "models-round-robin")?.statuses["200"],
    report.scenarios.find((s) => s.id === "models-round-robin")?.total,
    "every model answered every request",
  );
  t.equal(report.curve.length, 8, "a rising-load curve");
  t.ok(
    report.curve.every((p, i) => i === 0 || p.offeredPerSec > report.curve[i - 1].offeredPerSec),
    "offered load rises",
  );
  t.equal(report.sweep?.points.length, 2, "the sweep tried each setting");
  t.ok(report.sweep?.recommended, "and recommends one");

  const html = readFileSync(join(out, "bench.html"), "utf8");
  t.notMatch(html, /<script[^>]+src=|<link[^>]+href=|sourceMappingURL/, "self-contained: nothing fetched");

  t.test("the HTML draws its charts in headless Chromium", async (t) => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run scripts/install-test-deps.sh`);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
    });
    t.teardown(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("request", (req) => {
      if (!req.url().startsWith("file://")) problems.push(`fetched ${req.url()}`);
    });
    await page.goto(`file://${join(out, "bench.html")}`);
    await page.waitForSelector("body[data-charts]", { timeout: 15_000 });
    t.equal(await page.getAttribute("body", "data-charts"), "5", "five charts");
    const charts = await page.evaluate(() => {
      const w = window as unknown as {
        Chart: { getChart(c: HTMLCanvasElement): { data: { datasets: { data: unknown[] }[] } } | undefined };
      };
      return [...document.querySelectorAll("canvas")].map((canvas) => {
        const chart = w.Chart.getChart(canvas);
        const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
        const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
        return {
          id: canvas.id,
          points: chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0,
          painted,
        };
      });
    });
    t.same(
      charts.map((c) => c.id),
      ["chart-single", "chart-hundred", "chart-curve", "chart-scenarios", "chart-sweep"],
    );
    for (const c of charts) {
      t.ok(c.points > 0, `${c.id}: has data`);
      t.ok(c.painted > 1000, `${c.id}: drawn (${c.painted} pixels painted)`);
    }
    await page.screenshot({ path: join(dir, "report.png"), fullPage: true });
    t.same(problems, [], "no page errors, nothing fetched");
  });

  t.test("--compare flags regressions against an earlier report", async (t) => {
    const same = bench([
      "--report",
      join(out, "bench.json"),
      "--compare",
      join(out, "bench.json"),
      "--out",
      join(dir, "c1"),
    ]);
    t.equal(same.status, 0, "against itself: exit 0");
    t.match(same.stdout, /no regressions/);
    const faster: BenchReport = {
      ...report,
      scenarios: report.scenarios.map((s) =>
        s.id === "single-row" && s.target === "forestd" ? { ...s, rowsPerSec: s.rowsPerSec * 2 } : s,
      ),
    };
    writeFileSync(join(dir, "faster.json"), JSON.stringify(faster));
    const worse = bench([
      "--report",
      join(out, "bench.json"),
      "--compare",
      join(dir, "faster.json"),
      "--out",
      join(dir, "c2"),
    ]);
    t.equal(worse.status, 1, "a regression: exit 1");
    t.match(worse.stdout, /REGRESSIONS[\s\S]*forestd\/single-row: rows\/s/);
    t.match(
      readFileSync(join(dir, "c2", "bench.html"), "utf8"),
      /forestd\/single-row/,
      "and the report shows it",
    );
  });
});

t.test("compareReports: throughput, p99 and failures", async (t) => {
  const base = {
    id: "single-row",
    title: "1 row",
    target: "forestd" as const,
    rowsPerRequest: 1,
    connections: 32,
    keepAlive: true,
    requestsPerSec: 1000,
    rowsPerSec: 1000,
    p50: 1,
    p90: 2,
    p99: 4,
    max: 9,
    errors: 0,
    non2xx: 0,
    total: 5000,
    statuses: {},
    cpuCores: 1,
    peakRssMiB: 100,
  };
  const report = (s: typeof base) => ({ scenarios: [s] }) as unknown as BenchReport;
  t.same(compareReports(report(base), report({ ...base, rowsPerSec: 950 })).regressions, [], "-5%: noise");
  t.match(
    compareReports(report(base), report({ ...base, rowsPerSec: 850 })).regressions,
    [{ metric: "rows/s" }],
    "-15%",
  );
  t.match(
    compareReports(report(base), report({ ...base, p99: 6 })).regressions,
    [{ metric: "p99 ms" }],
    "p99 +50%",
  );
  t.same(compareReports(report(base), report({ ...base, p99: 4.3 })).regressions, [], "p99 +7.5%: noise");
  t.match(compareReports(report(base), report({ ...base, non2xx: 3 })).regressions, [
    { metric: "errors + non-2xx" },
  ]);
});

t.test("recommend: the best balance, never a setting that failed requests", async (t) => {
  const m = (rps: number, rows: number, errors = 0) =>
    ({ requestsPerSec: rps, rowsPerSec: rows, errors, non2xx: 0 }) as SweepPoint["single"];
  const points: SweepPoint[] = [
    { workers: 1, threads: 1, maxBatchRows: 256, single: m(100, 1000), rows100: m(10, 1000) },
    { workers: 2, threads: 1, maxBatchRows: 256, single: m(190, 1900), rows100: m(18, 1800) },
    { workers: 2, threads: 2, maxBatchRows: 4096, single: m(300, 3000, 5), rows100: m(30, 3000) },
  ];
  const { recommended, reason } = recommend(points);
  t.match(recommended, { workers: 2, threads: 1 }, "the failing one is excluded");
  t.match(reason, /WORKERS=2 THREADS=1 MAX_BATCH_ROWS=256/);
  t.equal(recommend([points[2]]).recommended, null);
});
