/**
 * A worker's Prometheus metrics (prom-client). Names and labels are the public contract that the
 * Grafana dashboard and alert rules in deploy/ rely on.
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";
import {
  Counter,
  type CounterConfiguration,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type HistogramConfiguration,
  Registry,
} from "prom-client";
import type { MetricsDelta } from "../../contract/messages.js";
import { MetricsJournal } from "../../contract/metrics-journal.js";

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Inline scoring is bounded by INLINE_SCORING_MAX_US (µs): buckets around it. */
const INLINE_BUCKETS = [1e-6, 2.5e-6, 5e-6, 1e-5, 1.5e-5, 2e-5, 3e-5, 5e-5, 1e-4, 2.5e-4, 1e-3];
const ROW_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536];

export interface WorkerMetricsSources {
  queueRows(): number;
  poolUtilization(): number;
  /** Where counter and histogram deltas go every event-loop turn (the primary); none outside a cluster. */
  sendDelta?: (delta: MetricsDelta) => void;
  /** METRICS_FLUSH_INTERVAL in ms: at most one delta per this long instead of one per turn (0). */
  deltaIntervalMs?: number;
}

/** Every `reason` of forestd_rejected_total, so each series exists (at 0) from the first scrape. */
export const REJECTION_REASONS = [
  "overload",
  "too_many_rows",
  "url_too_long",
  "body_too_large",
  "unsupported_media_type",
  "deadline",
  "not_ready",
  "invalid_input",
] as const;

/**
 * A model version's labels: `model`, and `version` for a model with version folders in a
 * repository (1, 2, ...). A model without versions (MODEL_PATH's, or a repository folder holding
 * one file) has no `version` label: its series stay the same across replacements, whose digests
 * forestd_model_info shows.
 */
export type ModelLabels = { readonly model: string; readonly version?: string };

/** The metrics of one model version, with its labels bound once (the hot path does no hashing). */
export interface ModelMetrics {
  readonly labels: ModelLabels;
  readonly rows: { inc(n?: number): void };
  predicted(cls: string): { inc(n?: number): void };
  readonly batchRows: { observe(v: number): void };
  readonly inferenceDuration: { observe(v: number): void };
  readonly queueWait: { observe(v: number): void };
  readonly inlineScoring: { observe(v: number): void };
  /** One answered request of this model: its status and seconds (forestd_model_request*). */
  answered(status: number, seconds: number): void;
}

/** prom-client hashes label objects on every call; hot paths bind their few label sets once. */
function bound<T>(cache: Map<string, T>, key: string, make: () => T): T {
  let found = cache.get(key);
  if (found === undefined) {
    found = make();
    cache.set(key, found);
  }
  return found;
}

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"method" | "route" | "status">;
  readonly requestDuration: Histogram<"method" | "route" | "status">;
  readonly inferenceDuration: Histogram<"model" | "version">;
  readonly inlineScoring: Histogram<"model" | "version">;
  readonly queueWait: Histogram<"model" | "version">;
  readonly batchRows: Histogram<"model" | "version">;
  readonly rows: Counter<"model" | "version">;
  readonly predictions: Counter<"model" | "version" | "class">;
  readonly modelRequests: Counter<"model" | "version" | "status">;
  readonly modelRequestDuration: Histogram<"model" | "version">;
  readonly #modelBytes: Gauge<"model" | "version">;
  /** Label sets whose series were started at 0 (forModel): each once per worker. */
  readonly #started = new Set<string>();
  readonly rejected: Counter<"reason">;
  /** Set when counts go to the primary as deltas; taken by `snapshotForPrimary`. */
  readonly journal: MetricsJournal | null;
  readonly #openSockets = new Set<Socket>();
  #closedBytesRead = 0;
  #closedBytesWritten = 0;

  /** Counts the bytes of every connection `server` accepts. */
  trackTraffic(server: Server): void {
    server.on("connection", (socket: Socket) => {
      this.#openSockets.add(socket);
      socket.once("close", () => {
        this.#openSockets.delete(socket);
        this.#closedBytesRead += socket.bytesRead;
        this.#closedBytesWritten += socket.bytesWritten;
      });
    });
  }

  /** The metrics of one model version, labelled once. */
  forModel(labels: ModelLabels): ModelMetrics {
    const l = labels.version === undefined ? { model: labels.model } : { ...labels };
    const byStatus = new Map<number, { inc(n?: number): void }>();
    const byClass = new Map<string, { inc(n?: number): void }>();
    // Histograms through observe(labels, v), not labels(l).observe: prom-client's bound observe
    // skips the journal (contract/metrics-journal.ts), whose deltas must see every observation.
    const histogram = (h: Histogram<"model" | "version">) => ({ observe: (v: number) => h.observe(l, v) });
    const duration = histogram(this.modelRequestDuration);
    // Each series exists from the model's first load in this worker, at 0: increase() and rate() see
    // its first event, and a panel of a model that has scored nothing yet shows zero rather than
    // nothing. Only the first: a replacement with the same labels (a model without version folders,
    // replaced) keeps counting where it was, since zero() would set its histograms back to 0 and
    // the cluster's sums would go backwards.
    const key = JSON.stringify(l);
    if (!this.#started.has(key)) {
      this.#started.add(key);
      this.rows.inc(l, 0);
      for (const h of [
        this.batchRows,
        this.inferenceDuration,
        this.queueWait,
        this.inlineScoring,
        this.modelRequestDuration,
      ])
        h.zero(l);
    }
    return {
      labels,
      rows: this.rows.labels(l),
      predicted: (cls) => bound(byClass, cls, () => this.predictions.labels({ ...l, class: cls })),
      batchRows: histogram(this.batchRows),
      inferenceDuration: histogram(this.inferenceDuration),
      queueWait: histogram(this.queueWait),
      inlineScoring: histogram(this.inlineScoring),
      answered: (status, seconds) => {
        let counter = byStatus.get(status);
        if (counter === undefined) {
          counter = this.modelRequests.labels({ ...l, status: String(status) });
          byStatus.set(status, counter);
        }
        counter.inc();
        duration.observe(seconds);
      },
    };
  }

  /** A model version's compiled bytes in this worker (forestd_model_bytes), or gone (undefined). */
  modelBytes(labels: ModelLabels, bytes: number | undefined): void {
    const l = labels.version === undefined ? { model: labels.model } : { ...labels };
    if (bytes === undefined) this.#modelBytes.remove(l);
    else this.#modelBytes.set(l, bytes);
  }

  constructor(sources: WorkerMetricsSources) {
    const registers = [this.registry];
    const journal = sources.sendDelta ? new MetricsJournal(sources.sendDelta, sources.deltaIntervalMs) : null;
    this.journal = journal;
    const counter = <T extends string>(config: CounterConfiguration<T>) =>
      journal ? journal.counter(config) : new Counter(config);
    const histogram = <T extends string>(config: HistogramConfiguration<T> & { buckets: number[] }) =>
      journal ? journal.histogram(config) : new Histogram(config);
    collectDefaultMetrics({ register: this.registry });
    this.requests = counter({
      name: "forestd_http_requests_total",
      help: "HTTP requests answered, by method, route and status.",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.requestDuration = histogram({
      name: "forestd_http_request_duration_seconds",
      help: "Time from request received to response sent.",
      labelNames: ["method", "route", "status"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.inferenceDuration = histogram({
      name: "forestd_inference_duration_seconds",
      help: "Scoring time of one task in a thread.",
      buckets: LATENCY_BUCKETS,
      labelNames: ["model", "version"],
      registers,
    });
    this.inlineScoring = histogram({
      name: "forestd_inline_scoring_seconds",
      help: "Event-loop time of each inline engine call (one per batch of the inline requests read in one event-loop turn; INLINE_SCORING_MAX_US), rather than on a thread.",
      buckets: INLINE_BUCKETS,
      labelNames: ["model", "version"],
      registers,
    });
    this.queueWait = histogram({
      name: "forestd_queue_wait_seconds",
      help: "Time rows waited for a scoring thread.",
      buckets: LATENCY_BUCKETS,
      labelNames: ["model", "version"],
      registers,
    });
    this.batchRows = histogram({
      name: "forestd_batch_rows",
      help: "Rows per scoring task.",
      buckets: ROW_BUCKETS,
      labelNames: ["model", "version"],
      registers,
    });
    this.rows = counter({
      name: "forestd_rows_total",
      help: "Rows scored, by model (and version, for models with version folders).",
      labelNames: ["model", "version"],
      registers,
    });
    this.predictions = counter({
      name: "forestd_predictions_total",
      help: "Predicted class per row, for classifiers, by model (and version).",
      labelNames: ["model", "version", "class"],
      registers,
    });
    this.modelRequests = counter({
      name: "forestd_model_requests_total",
      help: "Scoring requests answered, by model (and version, for models with version folders) and status; forestd_http_requests_total has them by route.",
      labelNames: ["model", "version", "status"],
      registers,
    });
    this.modelRequestDuration = histogram({
      name: "forestd_model_request_duration_seconds",
      help: "Time from request received to response sent, of scoring requests, by model (and version).",
      labelNames: ["model", "version"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#modelBytes = new Gauge({
      name: "forestd_model_bytes",
      help: "Bytes a model version's compiled trees hold, summed over the workers (each holds them once, shared by its scoring threads).",
      labelNames: ["model", "version"],
      registers,
    });
    this.rejected = counter({
      name: "forestd_rejected_total",
      help: "Requests turned away, by reason.",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of REJECTION_REASONS) this.rejected.inc({ reason }, 0);
    const traffic = () => {
      let read = this.#closedBytesRead;
      let written = this.#closedBytesWritten;
      for (const socket of this.#openSockets) {
        read += socket.bytesRead;
        written += socket.bytesWritten;
      }
      return { read, written };
    };
    // Counters whose value is read from the sockets at scrape time: add what is new since last time.
    const socketBytes = (name: string, help: string, total: () => number) => {
      let reported = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const now = total();
          if (now > reported) this.inc(now - reported);
          reported = Math.max(reported, now);
        },
      });
    };
    socketBytes(
      "forestd_network_receive_bytes_total",
      "Bytes received by the HTTP server.",
      () => traffic().read,
    );
    socketBytes(
      "forestd_network_transmit_bytes_total",
      "Bytes sent by the HTTP server.",
      () => traffic().written,
    );
    new Gauge({
      name: "forestd_queue_rows",
      help: "Rows waiting for a scoring thread.",
      registers,
      collect() {
        this.set(sources.queueRows());
      },
    });
    new Gauge({
      name: "forestd_pool_utilization",
      help: "Share of time the scoring threads were busy (0..1), averaged over workers.",
      registers,
      aggregator: "average",
      collect() {
        this.set(sources.poolUtilization());
      },
    });
  }
}

/**
 * Sends the worker's full snapshot to the primary. Counter values are read as the message is
 * serialised, so the deltas journalled until then are in it: they are dropped in the same step.
 */
export async function sendSnapshot(metrics: WorkerMetrics, send: (snapshot: unknown) => void): Promise<void> {
  const snapshot = await metrics.registry.getMetricsAsJSON();
  metrics.journal?.discardPending();
  send(snapshot);
}
