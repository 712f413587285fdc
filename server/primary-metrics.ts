/**
 * The primary's own metrics: worker count, restarts by reason, and the model being served.
 */
import { Counter, Gauge, Registry } from "prom-client";

export class PrimaryMetrics {
  readonly registry = new Registry();
  readonly restarts: Counter<"reason">;
  readonly #modelInfo: Gauge<"model" | "version" | "objective">;

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
      help: "Workers replaced, by reason (crashed, killed, timeout, max_requests, reload, scale_down).",
      labelNames: ["reason"],
      registers,
    });
    this.#modelInfo = new Gauge({
      name: "forestd_model_info",
      help: "The served model: name, version (sha256 of the file) and objective; always 1.",
      labelNames: ["model", "version", "objective"],
      registers,
    });
  }

  setModel(model: string, version: string, objective: string): void {
    this.#modelInfo.reset();
    this.#modelInfo.set({ model, version, objective }, 1);
  }
}
