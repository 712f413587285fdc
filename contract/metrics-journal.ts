/**
 * Counter increments and histogram observations, journalled as they happen and sent to the primary
 * once per event-loop turn that had any (coalesced: one small IPC message for all the requests a turn
 * answered), so that a worker killed with -9 loses at most its last turn's counts — the job
 * prometheus_client's multiprocess mode does with memory-mapped files. METRICS_FLUSH_INTERVAL trades
 * that bound for fewer messages.
 *
 * A full snapshot (the answer to a scrape, or the final one of a graceful stop) includes everything
 * journalled so far: the pending journal is dropped at that moment (`discardPending`), and the
 * primary starts accumulating deltas afresh from each snapshot.
 */
import { Counter, type CounterConfiguration, Histogram, type HistogramConfiguration } from "prom-client";
import type { MetricsDelta, SeriesMeta } from "./messages.js";

type Labels = Record<string, string | number>;

interface Described {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "histogram";
  readonly labelNames: readonly string[];
  readonly buckets?: readonly number[];
  readonly ids: Map<string, number>;
}

export class MetricsJournal {
  readonly #send: (delta: MetricsDelta) => void;
  #nextId = 0;
  #newSeries: [number, SeriesMeta][] = [];
  #inc = new Map<number, number>();
  #observe = new Map<number, number[]>();
  #scheduled = false;

  readonly #intervalMs: number;

  /**
   * `intervalMs` (METRICS_FLUSH_INTERVAL): 0 sends once per event-loop turn that had any; more sends
   * at most once per that many ms — fewer IPC messages under load (each one costs the worker a write
   * and wakes the primary), but a worker killed with -9 then loses up to that long of counts.
   */
  constructor(send: (delta: MetricsDelta) => void, intervalMs = 0) {
    this.#send = send;
    this.#intervalMs = intervalMs;
  }

  counter<T extends string>(config: CounterConfiguration<T>): Counter<T> {
    const counter = new Counter(config);
    const described = this.#describe(config.name, config.help, "counter", config.labelNames ?? []);
    const inc = counter.inc.bind(counter);
    // labels(...).inc binds this property, so bound children are journalled too.
    counter.inc = ((labels?: Labels | number, value?: number) => {
      inc(labels as Partial<Record<T, string | number>>, value as number);
      const [l, v] = typeof labels === "object" ? [labels, value ?? 1] : [undefined, labels ?? 1];
      if (v !== 0) this.#add(this.#seriesId(described, l), v);
    }) as typeof counter.inc;
    return counter;
  }

  histogram<T extends string>(config: HistogramConfiguration<T> & { buckets: number[] }): Histogram<T> {
    const histogram = new Histogram(config);
    const described = this.#describe(
      config.name,
      config.help,
      "histogram",
      config.labelNames ?? [],
      config.buckets,
    );
    const observe = histogram.observe.bind(histogram);
    histogram.observe = ((labels: Labels | number, value?: number) => {
      observe(labels as Partial<Record<T, string | number>>, value as number);
      const [l, v] = typeof labels === "object" ? [labels, value as number] : [undefined, labels];
      this.#record(this.#seriesId(described, l), v);
    }) as typeof histogram.observe;
    return histogram;
  }

  /** A full snapshot is being sent: it already holds everything journalled so far. */
  discardPending(): void {
    this.#inc = new Map();
    this.#observe = new Map();
  }

  #describe(
    name: string,
    help: string,
    type: "counter" | "histogram",
    labelNames: readonly string[],
    buckets?: readonly number[],
  ): Described {
    return { name, help, type, labelNames: [...labelNames].sort(), buckets, ids: new Map() };
  }

  #seriesId(described: Described, labels: Labels | undefined): number {
    let key = "";
    for (const n of described.labelNames) key += `${labels?.[n] ?? ""}\u0001`;
    let id = described.ids.get(key);
    if (id === undefined) {
      id = this.#nextId++;
      described.ids.set(key, id);
      const clean: Labels = {};
      for (const n of described.labelNames) if (labels?.[n] !== undefined) clean[n] = labels[n];
      this.#newSeries.push([
        id,
        {
          name: described.name,
          help: described.help,
          type: described.type,
          labels: clean,
          buckets: described.buckets,
        },
      ]);
    }
    return id;
  }

  #add(id: number, value: number): void {
    this.#inc.set(id, (this.#inc.get(id) ?? 0) + value);
    this.#schedule();
  }

  #record(id: number, value: number): void {
    const values = this.#observe.get(id);
    if (values) values.push(value);
    else this.#observe.set(id, [value]);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    if (this.#intervalMs > 0) setTimeout(() => this.#flush(), this.#intervalMs).unref();
    else setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#inc.size === 0 && this.#observe.size === 0 && this.#newSeries.length === 0) return;
    const delta: MetricsDelta = { series: this.#newSeries, inc: [...this.#inc], observe: [...this.#observe] };
    this.#newSeries = [];
    this.#inc = new Map();
    this.#observe = new Map();
    this.#send(delta);
  }
}
