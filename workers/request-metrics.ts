/**
 * The per-request metrics (forestd_http_requests_total, forestd_http_request_duration_seconds)
 * counted in plain numbers per label set and handed to prom-client when it is scraped.
 *
 * prom-client hashes and validates the label object on every inc() and observe(), label children
 * included: about 1 µs of CPU per request for these two (measured), several percent of a
 * single-row request. Here a request costs one map lookup and a few additions.
 */
import type { Counter, Metric, Registry } from "prom-client";

type Labels = { method: string; route: string; status: string };

/** One sample, as prom-client's metrics give them from get(). */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

interface LabelSet {
  labels: Labels;
  /** Requests not yet added to the prom-client counter. */
  uncounted: number;
  /** Observations per bucket (not cumulative), the last one past every bound. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

export class RequestMetrics {
  readonly #sets = new Map<string, LabelSet>();
  readonly #bounds: readonly number[];

  constructor(buckets: readonly number[]) {
    this.#bounds = [...buckets].sort((a, b) => a - b);
  }

  /** Adds the requests counted since the last call to prom-client's counter (from its collect()). */
  addCountsTo(requests: Counter<"method" | "route" | "status">): void {
    for (const set of this.#sets.values()) {
      if (set.uncounted > 0) {
        requests.inc(set.labels, set.uncounted);
        set.uncounted = 0;
      }
    }
  }

  /** Registers the duration histogram, read as prom-client's own Histogram would report it. */
  registerHistogram(registry: Registry, name: string, help: string): void {
    registry.registerMetric(this.#histogramMetric(name, help) as unknown as Metric);
  }

  /** One answered request. */
  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let set = this.#sets.get(key);
    if (set === undefined) {
      set = {
        labels: { method, route, status: String(status) },
        uncounted: 0,
        buckets: new Float64Array(this.#bounds.length + 1),
        sum: 0,
        count: 0,
      };
      this.#sets.set(key, set);
    }
    set.uncounted++;
    const bounds = this.#bounds;
    let b = 0;
    while (b < bounds.length && seconds > bounds[b]) b++;
    set.buckets[b]++;
    set.sum += seconds;
    set.count++;
  }

  /** The histogram in prom-client's shape (get() feeds the text format and the cluster merge). */
  #histogramMetric(name: string, help: string) {
    const sets = this.#sets;
    const bounds = this.#bounds;
    return {
      name,
      help,
      type: "histogram",
      aggregator: "sum",
      async get() {
        const values: Sample[] = [];
        for (const { labels, buckets, sum, count } of sets.values()) {
          let cumulative = 0;
          for (let b = 0; b < bounds.length; b++) {
            cumulative += buckets[b];
            values.push({
              labels: { le: bounds[b], ...labels },
              value: cumulative,
              metricName: `${name}_bucket`,
            });
          }
          values.push({ labels: { le: "+Inf", ...labels }, value: count, metricName: `${name}_bucket` });
          values.push({ labels: { ...labels }, value: sum, metricName: `${name}_sum` });
          values.push({ labels: { ...labels }, value: count, metricName: `${name}_count` });
        }
        return {
          name,
          help,
          type: "histogram",
          values,
          aggregator: "sum",
        };
      },
      reset(): void {
        for (const set of sets.values()) {
          set.buckets.fill(0);
          set.sum = 0;
          set.count = 0;
        }
      },
    };
  }
}
