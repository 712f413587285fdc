/**
 * Deltas journalled by a worker, accumulated by the primary and folded into the worker's last
 * snapshot, give exactly what the worker's own registry says: the property behind "counts survive
 * kill -9". Real prom-client registries on both sides, random increments and snapshot points.
 */
import fc from "fast-check";
import { Registry } from "prom-client";
import t from "tap";
import type { MetricsDelta } from "../../contract/messages.js";
import { DeltaAccumulator } from "../../contract/metrics-delta.js";
import { MetricsJournal } from "../../contract/metrics-journal.js";
import { monotonicPart, type Snapshot } from "../../server/metrics-merge.js";
import { waitFor } from "../helpers/wait.js";

const BUCKETS = [0.001, 0.01, 0.1, 1];

/** Flushes are per event-loop turn: wait for one. */
const turn = () => new Promise((r) => setImmediate(r));

type Step =
  | { kind: "inc"; status: string; n: number }
  | { kind: "observe"; route: string; v: number }
  | { kind: "snapshot" }
  | { kind: "turn" };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("inc" as const),
    status: fc.constantFrom("200", "400", "503"),
    n: fc.integer({ min: 0, max: 5 }),
  }),
  fc.record({
    kind: fc.constant("observe" as const),
    route: fc.constantFrom("/a", "/b"),
    v: fc.double({ min: 0, max: 3, noNaN: true }),
  }),
  fc.constant({ kind: "snapshot" as const }),
  fc.constant({ kind: "turn" as const }),
);

/** Values keyed by metric name, series name and labels, for comparing snapshots whatever their order. */
function flatten(snapshot: Snapshot): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of monotonicPart(snapshot))
    for (const v of m.values) {
      const labels = Object.entries(v.labels)
        .sort()
        .map(([k, x]) => `${k}=${x}`)
        .join(",");
      const key = `${(v as { metricName?: string }).metricName ?? m.name}{${labels}}`;
      if (v.value !== 0) out.set(key, v.value);
    }
  return out;
}

t.test("last snapshot + deltas since = the worker's registry, for any interleaving", async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
      const registry = new Registry();
      const accumulator = new DeltaAccumulator();
      const journal = new MetricsJournal((delta: MetricsDelta) =>
        accumulator.add(JSON.parse(JSON.stringify(delta))),
      );
      const requests = journal.counter({
        name: "req_total",
        help: "h",
        labelNames: ["status"],
        registers: [registry],
      });
      const bound = requests.labels({ status: "bound" });
      const latency = journal.histogram({
        name: "lat_seconds",
        help: "h",
        labelNames: ["route"],
        buckets: BUCKETS,
        registers: [registry],
      });
      let last: Snapshot = [];
      for (const s of steps) {
        if (s.kind === "inc") {
          requests.inc({ status: s.status }, s.n);
          bound.inc();
        } else if (s.kind === "observe") latency.observe({ route: s.route }, s.v);
        else if (s.kind === "turn") await turn();
        else {
          // As the worker does: read, drop the pending journal, send; the primary resets on receipt.
          const snapshot = (await registry.getMetricsAsJSON()) as Snapshot;
          journal.discardPending();
          await turn(); // deltas flushed before the snapshot arrive first (IPC is ordered)
          last = JSON.parse(JSON.stringify(snapshot));
          accumulator.reset();
        }
      }
      await turn(); // the worker's last turn flushed; then it is killed
      const expected = flatten((await registry.getMetricsAsJSON()) as Snapshot);
      const actual = flatten(accumulator.applyTo(last));
      t.same(Object.fromEntries(actual), Object.fromEntries(expected));
    }),
    { numRuns: 200 },
  );
});

t.test("a worker killed before any snapshot is known from its deltas alone", async (t) => {
  const accumulator = new DeltaAccumulator();
  const journal = new MetricsJournal((delta) => accumulator.add(delta));
  const c = journal.counter({ name: "x_total", help: "help text", labelNames: ["k"], registers: [] });
  c.inc({ k: "a" }, 3);
  c.inc({ k: "b" });
  await turn();
  const snapshot = accumulator.applyTo([]);
  t.same(
    snapshot.map((m) => [m.name, m.help, m.type]),
    [["x_total", "help text", "counter"]],
  );
  t.same(
    snapshot[0].values.map((v) => [v.labels.k, v.value]),
    [
      ["a", 3],
      ["b", 1],
    ],
  );
});

t.test("one delta per turn by default; METRICS_FLUSH_INTERVAL gathers several turns into one", async (t) => {
  const sent = { everyTurn: [] as MetricsDelta[], interval: [] as MetricsDelta[] };
  const everyTurn = new MetricsJournal((delta) => sent.everyTurn.push(delta));
  const interval = new MetricsJournal((delta) => sent.interval.push(delta), 200);
  const counters = [everyTurn, interval].map((journal) =>
    journal.counter({ name: "x_total", help: "h", labelNames: ["k"], registers: [] }),
  );
  for (let i = 0; i < 3; i++) {
    for (const c of counters) c.inc({ k: "a" });
    await turn();
  }
  t.equal(sent.everyTurn.length, 3, "every turn that counted: a delta each");
  t.equal(sent.interval.length, 0, "with an interval of 200 ms: nothing yet after three turns");
  await waitFor(() => sent.interval.length > 0, 5000);
  t.equal(sent.interval.length, 1, "then one delta");
  t.same(
    sent.interval[0].inc.map(([, n]) => n),
    [3],
    "holding the three turns' counts",
  );
});
