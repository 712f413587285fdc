/**
 * The primary's own metrics: worker count, restarts by reason, boot failures, and the model being
 * served. Every label value that is known in advance starts at 0, so that `increase()` sees the
 * first event (Prometheus instrumentation practice).
 */
import { Counter, Gauge, Registry } from "prom-client";
import { RESTART_REASONS } from "./supervisor.js";

export class PrimaryMetrics {
  readonly registry = new Registry();
  readonly restarts: Counter<"reason">;
  readonly bootFailures: Counter;
  readonly #modelInfo: Gauge<"model" | "version" | "objective" | "generation">;

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
      help: "The served model: name, version (sha256 of the file), objective and generation (1 at start, +1 per reload); always 1.",
      labelNames: ["model", "version", "objective", "generation"],
      registers,
    });
  }

  setModel(model: string, version: string, objective: string, generation: number): void {
    this.#modelInfo.reset();
    this.#modelInfo.set({ model, version, objective, generation: String(generation) }, 1);
  }
}
