/**
 * The per-request metrics kept outside prom-client read exactly as prom-client's own Counter and
 * Histogram would for the same requests: in get() (what the cluster merge reads) and as text.
 */
import fc from "fast-check";
import { Counter, Histogram, Registry } from "prom-client";
import t from "tap";
import { RequestMetrics } from "../workers/request-metrics.js";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NAME = "forestd_http_request_duration_seconds";
const labelNames = ["method", "route", "status"] as const;

function registries() {
  const ours = new Registry();
  const answered = new RequestMetrics(BUCKETS);
  new Counter({
    name: "forestd_http_requests_total",
    help: "h",
    labelNames,
    registers: [ours],
    collect() {
      answered.addCountsTo(this);
    },
  });
  answered.registerHistogram(ours, NAME, "d");
  const theirs = new Registry();
  const counter = new Counter({
    name: "forestd_http_requests_total",
    help: "h",
    labelNames,
    registers: [theirs],
  });
  const histogram = new Histogram({
    name: NAME,
    help: "d",
    labelNames,
    buckets: BUCKETS,
    registers: [theirs],
  });
  return { ours, answered, theirs, counter, histogram };
}

/** get() values keyed and sorted, so that label order and set order do not matter. */
async function samples(registry: Registry) {
  const all = await registry.getMetricsAsJSON();
  return all
    .flatMap((m) =>
      m.values.map((v) => {
        const labels = Object.entries(v.labels).sort(([a], [b]) => a.localeCompare(b));
        return `${(v as { metricName?: string }).metricName ?? m.name}${JSON.stringify(labels)} ${v.value}`;
      }),
    )
    .sort();
}

t.test("the same numbers as prom-client's Counter and Histogram", async (t) => {
  const request = fc.record({
    method: fc.constantFrom("POST", "GET"),
    route: fc.constantFrom("/predict", "/v2/models/:name/infer", "unmatched"),
    status: fc.constantFrom(200, 400, 503),
    seconds: fc.oneof(fc.double({ min: 0, max: 20, noNaN: true }), fc.constantFrom(...BUCKETS)),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(request, { maxLength: 30 }),
      fc.array(request, { maxLength: 10 }),
      async (a, b) => {
        const { ours, answered, theirs, counter, histogram } = registries();
        // Two scrapes: counts are handed over once each.
        for (const batch of [a, b]) {
          for (const r of batch) {
            answered.observe(r.method, r.route, r.status, r.seconds);
            const labels = { method: r.method, route: r.route, status: String(r.status) };
            counter.inc(labels);
            histogram.observe(labels, r.seconds);
          }
          const [mine, real] = [await samples(ours), await samples(theirs)];
          if (JSON.stringify(mine) !== JSON.stringify(real)) return false;
        }
        return true;
      },
    ),
    { numRuns: 300, seed: 20261124 },
  );
  const { ours, answered } = registries();
  answered.observe("POST", "/predict", 200, 0.0007);
  const text = await ours.metrics();
  t.match(text, /forestd_http_requests_total\{method="POST",route="\/predict",status="200"\} 1/);
  t.match(
    text,
    /forestd_http_request_duration_seconds_bucket\{le="0.001",method="POST",route="\/predict",status="200"\} 1/,
  );
  t.match(
    text,
    /forestd_http_request_duration_seconds_count\{method="POST",route="\/predict",status="200"\} 1/,
  );
});
