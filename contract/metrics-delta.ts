/**
 * The decoding half of the metrics delta: what a worker counted since its last full snapshot,
 * accumulated by the primary from the deltas the worker sends every event-loop turn (encoded by
 * metrics-journal.ts, beside this file). Folded into the worker's last
 * snapshot when it dies without a final one (kill -9, a crash) or stays silent through a scrape, so
 * that a killed worker loses at most its last turn's counts. Pure: tested on fixtures.
 */
import type { MetricObjectWithValues, MetricValue } from "prom-client";
import type { MetricsDelta, SeriesMeta } from "./messages.js";

/** A registry's metrics as prom-client's getMetricsAsJSON gives them (what a worker's snapshot is). */
export type Snapshot = MetricObjectWithValues<MetricValue<string>>[];

interface HistogramSum {
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative), the last one for +Inf. */
  perBucket: number[];
}

type Labels = Record<string, string | number>;

export class DeltaAccumulator {
  readonly #series = new Map<number, SeriesMeta>();
  #counts = new Map<number, number>();
  #histograms = new Map<number, HistogramSum>();

  /** True when nothing has been counted since the last snapshot. */
  get empty(): boolean {
    return this.#counts.size === 0 && this.#histograms.size === 0;
  }

  add(delta: MetricsDelta): void {
    for (const [id, meta] of delta.series) this.#series.set(id, meta);
    for (const [id, n] of delta.inc) this.#counts.set(id, (this.#counts.get(id) ?? 0) + n);
    for (const [id, values] of delta.observe) {
      const meta = this.#series.get(id);
      if (!meta?.buckets) continue;
      let h = this.#histograms.get(id);
      if (!h) {
        h = { count: 0, sum: 0, perBucket: new Array(meta.buckets.length + 1).fill(0) };
        this.#histograms.set(id, h);
      }
      for (const v of values) {
        h.count++;
        h.sum += v;
        let b = 0;
        while (b < meta.buckets.length && v > meta.buckets[b]) b++;
        h.perBucket[b]++;
      }
    }
  }

  /** A full snapshot arrived: it holds everything counted so far. Series names stay known. */
  reset(): void {
    this.#counts = new Map();
    this.#histograms = new Map();
  }

  /** `snapshot` with everything accumulated since it added (a new snapshot; the argument is untouched). */
  applyTo(snapshot: Snapshot): Snapshot {
    const out = new Map(snapshot.map((m) => [m.name, m]));
    const copied = new Set<string>();
    const metricFor = (meta: SeriesMeta) => {
      let m = out.get(meta.name);
      if (!m) {
        m = {
          name: meta.name,
          help: meta.help,
          type: meta.type,
          aggregator: "sum",
          values: [],
        } as unknown as Snapshot[number];
        out.set(meta.name, m);
        copied.add(meta.name);
      } else if (!copied.has(meta.name)) {
        m = { ...m, values: m.values.map((v) => ({ ...v })) };
        out.set(meta.name, m);
        copied.add(meta.name);
      }
      return m;
    };
    const bump = (
      values: MetricValue<string>[],
      metricName: string | undefined,
      labels: Labels,
      by: number,
    ) => {
      const found = values.find(
        (v) =>
          (v as { metricName?: string }).metricName === metricName && sameLabels(v.labels as Labels, labels),
      );
      if (found) found.value += by;
      else values.push({ value: by, labels, ...(metricName ? { metricName } : {}) } as MetricValue<string>);
    };
    for (const [id, n] of this.#counts) {
      const meta = this.#series.get(id);
      if (meta) bump(metricFor(meta).values, undefined, meta.labels, n);
    }
    for (const [id, h] of this.#histograms) {
      const meta = this.#series.get(id) as SeriesMeta;
      const values = metricFor(meta).values;
      const buckets = meta.buckets ?? [];
      let cumulative = 0;
      for (let b = 0; b <= buckets.length; b++) {
        cumulative += h.perBucket[b];
        const le = b < buckets.length ? buckets[b] : "+Inf";
        bump(values, `${meta.name}_bucket`, { ...meta.labels, le }, cumulative);
      }
      bump(values, `${meta.name}_sum`, meta.labels, h.sum);
      bump(values, `${meta.name}_count`, meta.labels, h.count);
    }
    return [...out.values()];
  }
}

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (String(a[k]) !== String(b[k])) return false;
  return true;
}
