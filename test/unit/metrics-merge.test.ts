/** The cluster metrics merge, as a pure function on snapshots: no processes needed. */

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import t from "tap";
import { accumulate, mergeSnapshots, monotonicPart, type Snapshot } from "../../server/metrics-merge.js";

async function workerSnapshot(
  requests: number,
  queue: number,
  utilization: number,
  maxFds: number,
  observations: number[],
): Promise<Snapshot> {
  const registry = new Registry();
  const registers = [registry];
  new Counter({ name: "forestd_http_requests_total", help: "h", labelNames: ["status"], registers }).inc(
    { status: "200" },
    requests,
  );
  new Gauge({ name: "forestd_queue_rows", help: "h", registers }).set(queue);
  new Gauge({ name: "forestd_pool_utilization", help: "h", registers, aggregator: "average" }).set(
    utilization,
  );
  new Gauge({ name: "process_max_fds", help: "h", registers }).set(maxFds);
  const h = new Histogram({ name: "forestd_batch_rows", help: "h", buckets: [1, 10], registers });
  for (const o of observations) h.observe(o);
  return (await registry.getMetricsAsJSON()) as Snapshot;
}

const valuesOf = async (registry: Registry, name: string) =>
  (await registry.getSingleMetric(name)?.get())?.values;

t.test("counters and histograms sum, per-process gauges do not", async (t) => {
  const a = await workerSnapshot(10, 3, 0.2, 1024, [1, 5]);
  const b = await workerSnapshot(32, 4, 0.6, 1024, [20]);
  const merged = mergeSnapshots([a, b]);
  t.same(
    (await valuesOf(merged, "forestd_http_requests_total"))?.map((v) => v.value),
    [42],
  );
  t.same(
    (await valuesOf(merged, "forestd_queue_rows"))?.map((v) => v.value),
    [7],
    "rows waiting: all workers",
  );
  t.ok(
    Math.abs(((await valuesOf(merged, "forestd_pool_utilization"))?.[0].value ?? 0) - 0.4) < 1e-12,
    "utilisation: averaged",
  );
  t.same(
    (await valuesOf(merged, "process_max_fds"))?.map((v) => v.value),
    [1024],
    "a limit: max, never 2048",
  );
  const text = await merged.metrics();
  t.match(text, /forestd_batch_rows_count 3/);
  t.match(text, /forestd_batch_rows_bucket\{le="1"\} 1/);
  t.match(text, /forestd_batch_rows_bucket\{le="10"\} 2/);
});

t.test("retired workers keep their counts; their gauges go", async (t) => {
  const gone = await workerSnapshot(100, 9, 0.9, 1024, [3]);
  t.same(
    monotonicPart(gone).map((m) => m.name),
    ["forestd_http_requests_total", "forestd_batch_rows"],
  );
  let retired = await accumulate([], gone);
  retired = await accumulate(retired, await workerSnapshot(5, 1, 0.1, 1024, []));
  const live = await workerSnapshot(7, 2, 0.5, 1024, [1]);
  const merged = mergeSnapshots([live, retired]);
  t.same(
    (await valuesOf(merged, "forestd_http_requests_total"))?.map((v) => v.value),
    [112],
    "7 live + 100 + 5 retired",
  );
  t.same(
    (await valuesOf(merged, "forestd_queue_rows"))?.map((v) => v.value),
    [2],
    "only the live worker's queue",
  );
  t.match(await merged.metrics(), /forestd_batch_rows_count 2/);
});
