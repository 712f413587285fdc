/**
 * The primary's own metrics: worker count, restarts by reason, boot failures, the model being
 * served, and how fetching it from its source (path, S3, HTTPS) goes. Every label value that is
 * known in advance starts at 0, so that `increase()` sees the first event (Prometheus
 * instrumentation practice).
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { FETCH_RESULTS, type FetchResult } from "./model-source/index.js";
import { RESTART_REASONS } from "./supervisor.js";

export class PrimaryMetrics {
  readonly registry = new Registry();
  readonly restarts: Counter<"reason">;
  readonly bootFailures: Counter;
  readonly #modelInfo: Gauge<"model" | "version" | "model_version" | "objective" | "generation">;
  #models: readonly { model: string; modelVersion: string; sha256: string; objective: string }[] = [];
  #generation = 0;
  readonly #fetches: Counter<"result">;
  readonly #fetchDuration: Histogram;
  readonly #lastReload: Gauge;

  constructor(servingWorkers: () => number) {
    const registers = [this.registry];
    new Gauge({
      name: "forestd_workers",
      help: "Worker processes serving (booting or ready, not draining).",
      registers,
      collect() {
        this.set(servingWorkers());
      },
    });
    this.restarts = new Counter({
      name: "forestd_worker_restarts_total",
      help: "Workers replaced, by reason (crashed, killed, timeout, boot_failure, max_requests, reload, scale_down).",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of RESTART_REASONS) this.restarts.inc({ reason }, 0);
    this.bootFailures = new Counter({
      name: "forestd_worker_boot_failures_total",
      help: "Workers that failed to boot while the cluster was serving (retried with backoff; the others keep serving).",
      registers,
    });
    this.#modelInfo = new Gauge({
      name: "forestd_model_info",
      help: "Each model version served: name, version (sha256 of the file), model_version (its version folder, or the digest's first 12 hex digits), objective and the generation of the workers serving it (1 at start, +1 per reload); always 1.",
      labelNames: ["model", "version", "model_version", "objective", "generation"],
      registers,
    });
    this.#fetches = new Counter({
      name: "forestd_model_fetch_total",
      help: "Fetches and checks of the model's source, by result: fetched (bytes read), unchanged (the served version is current), failed (unreachable, denied, missing, timed out), rejected (wrong MODEL_SHA256, not a valid model, or one CLASS_NAMES does not fit).",
      labelNames: ["result"],
      registers,
    });
    for (const result of FETCH_RESULTS) this.#fetches.inc({ result }, 0);
    this.#fetchDuration = new Histogram({
      name: "forestd_model_fetch_duration_seconds",
      help: "Time to fetch (or check) the model from its source, whatever the result.",
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.#lastReload = new Gauge({
      name: "forestd_model_last_reload_timestamp_seconds",
      help: "When the model now served started serving (Unix time): at start, then at each successful reload.",
      registers,
    });
  }

  /** A fetch (or a poll's check) of the model's source ended with `result` after `seconds`. */
  readonly observeFetch = (result: FetchResult, seconds: number): void => {
    this.#fetches.inc({ result });
    this.#fetchDuration.observe(seconds);
  };

  /** The model fetched was refused after download (does not parse, fails validation, or CLASS_NAMES does not fit it). */
  rejectModel(): void {
    this.#fetches.inc({ result: "rejected" });
  }

  modelReloaded(at = Date.now()): void {
    this.#lastReload.set(at / 1000);
  }

  /** The model versions served now (forestd_model_info). */
  setModels(
    models: readonly { model: string; modelVersion: string; sha256: string; objective: string }[],
    generation: number,
  ): void {
    this.#models = models;
    this.#generation = generation;
    this.#showModels();
  }

  /** The generation serving now (after start, or a reload). */
  setGeneration(generation: number): void {
    this.#generation = generation;
    this.#showModels();
  }

  #showModels(): void {
    this.#modelInfo.reset();
    for (const m of this.#models)
      this.#modelInfo.set(
        {
          model: m.model,
          version: m.sha256,
          model_version: m.modelVersion,
          objective: m.objective,
          generation: String(this.#generation),
        },
        1,
      );
  }
}
