/**
 * forestd (WORKERS=2) scraped every second by a real Prometheus (Debian's binary, loopback, a temp
 * dir): the request counter equals exactly what was sent, across workers; it stays monotonic when a
 * worker is killed; every PromQL expression of the Grafana dashboard returns data; the config and
 * alert rules pass promtool.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { ROOT } from "../helpers/fixtures.js";
import { freePort, postJson, request, startServer, waitFor } from "../helpers/server.js";

const PROMETHEUS = "/usr/bin/prometheus";
const PROMTOOL = "/usr/bin/promtool";
const ROW = { height: 180, weight: 80, shoe_size: 44 };

t.test("promtool: scrape config, alert rules and their unit tests", async (t) => {
  const dir = join(ROOT, "deploy", "prometheus");
  for (const args of [
    ["check", "config", "prometheus.yml"],
    ["check", "rules", "alerts.yml"],
    ["test", "rules", "alerts.test.yml"],
  ]) {
    const run = spawnSync(PROMTOOL, args, { cwd: dir, encoding: "utf8" });
    t.equal(run.status, 0, `promtool ${args.join(" ")}\n${run.stdout}${run.stderr}`);
  }
});

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(base: string, expr: string): Promise<Sample[]> {
  const r = await request(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
  if (r.status !== 200) throw new Error(`query ${expr}: ${r.status} ${r.text}`);
  return (r.json as { data: { result: Sample[] } }).data.result;
}

t.test("a real Prometheus sees exact, monotonic cluster-wide counts", async (t) => {
  const metricsPort = await freePort();
  const server = await startServer({ WORKERS: "2", METRICS_PORT: String(metricsPort), ACCESS_LOG: "off" });
  t.teardown(() => server.stop());

  const dir = mkdtempSync(join(tmpdir(), "forestd-prometheus-"));
  const promPort = await freePort();
  writeFileSync(
    join(dir, "prometheus.yml"),
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: forestd\n    static_configs:\n      - targets: ["127.0.0.1:${metricsPort}"]\n`,
  );
  const prometheus: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    { stdio: "ignore" },
  );
  t.teardown(() => {
    prometheus.kill("SIGTERM");
  });
  const prom = `http://127.0.0.1:${promPort}`;
  await waitFor(async () => (await query(prom, 'up{job="forestd"}')).some((s) => s.value[1] === "1"), 30_000);

  // A known number of requests, spread over both workers by separate connections.
  const sent = 300;
  for (let i = 0; i < sent; i += 10) {
    const batch = await Promise.all(Array.from({ length: 10 }, () => postJson(`${server.url}/predict`, ROW)));
    if (batch.some((r) => r.status !== 200)) t.fail("a request failed");
  }
  await postJson(`${server.url}/predict`, { instances: [["not a number", 1, 2]] }); // one rejection, for its series
  const total = 'sum(forestd_http_requests_total{route="/predict",status="200"})';
  await waitFor(async () => (await query(prom, total))[0]?.value[1] === String(sent), 20_000);
  t.pass(`Prometheus counts exactly ${sent} requests`);
  const perWorker = server.logs().match(/"worker":\d+,"log":"access"/g);
  t.equal(perWorker, null, "(access log off)");

  // Kill a worker in the middle of traffic; the counter must never go backwards.
  const killAt = sent / 2;
  for (let i = 0; i < 200; i += 10) {
    if (i === killAt - 150) {
      const pid = server.events().find((e) => e.event === "worker_spawn")?.pid as number;
      process.kill(pid, "SIGKILL");
    }
    await Promise.all(
      Array.from({ length: 10 }, () => postJson(`${server.url}/predict`, ROW).catch(() => undefined)),
    );
    await new Promise((r) => setTimeout(r, 100));
  }
  await waitFor(async () => (await query(prom, "sum(forestd_workers)"))[0]?.value[1] === "2", 20_000);
  await new Promise((r) => setTimeout(r, 3000));
  const resets = await query(prom, 'resets(forestd_http_requests_total{route="/predict",status="200"}[5m])');
  t.ok(resets.length > 0, "the counter has samples");
  t.ok(
    resets.every((s) => s.value[1] === "0"),
    `no resets: ${JSON.stringify(resets.map((s) => s.value[1]))}`,
  );
  const after = Number((await query(prom, total))[0].value[1]);
  t.ok(after > sent, `still counting after the kill (${after})`);
  t.same(
    (await query(prom, 'forestd_worker_restarts_total{reason="killed"}')).map((s) => s.value[1]),
    ["1"],
    "the one kill is counted once",
  );
  t.same(
    (await query(prom, "forestd_scrape_partial")).map((s) => s.value[1]),
    ["0"],
  );

  // Every expression the dashboard draws returns data.
  const dashboard = JSON.parse(readFileSync(join(ROOT, "deploy", "grafana", "forestd.json"), "utf8")) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      // As Grafana fills its variables in: a rate window, and the model selector at "All".
      const expr = target.expr.replaceAll("$__rate_interval", "1m").replaceAll("$model", ".*");
      const result = await query(prom, expr);
      t.ok(result.length > 0, `${panel.title}: ${expr}`);
    }
  }
});
