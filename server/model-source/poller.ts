/**
 * MODEL_POLL_INTERVAL: every so many seconds, a cheap look at the model's source (S3 HEAD, HTTPS
 * conditional GET, stat). When it holds another version than the one served, `onChange` runs a
 * reload (as SIGHUP does) and the next look waits for it to finish. A failed look, or a reload
 * after which the served version is still not the source's, doubles the wait, up to
 * MAX_BACKOFF_S: a broken object or an unreachable bucket is retried, not hammered.
 */
import type { Settings } from "../../config/settings.js";
import { BackoffTimer } from "../backoff-timer.js";
import { checkModel, type FetchObserver, modelSource, type SourceSettings } from "./fetch-model.js";
import type { ModelOrigin } from "./origin.js";

export interface PollerLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export type PollerSettings = SourceSettings & Pick<Settings, "model_poll_interval">;

export class ModelPoller {
  readonly #settings: PollerSettings;
  readonly #current: () => ModelOrigin | undefined;
  readonly #onChange: () => Promise<void>;
  readonly #log: PollerLog;
  readonly #observe: FetchObserver | undefined;
  readonly #timer: BackoffTimer;

  /**
   * @param current the origin of the model being served: a reload that succeeds (or finds the
   *   object unchanged) replaces it with the new origin object; one that fails leaves it as is
   * @param onChange reloads; resolves once the reload succeeded or failed
   * @param observe counts each look (unchanged, failed) for forestd_model_fetch_total
   */
  constructor(
    settings: PollerSettings,
    current: () => ModelOrigin | undefined,
    onChange: () => Promise<void>,
    log: PollerLog,
    observe?: FetchObserver,
  ) {
    this.#settings = settings;
    this.#current = current;
    this.#onChange = onChange;
    this.#log = log;
    this.#observe = observe;
    this.#timer = new BackoffTimer(settings.model_poll_interval, () => this.#look());
  }

  start(): void {
    this.#timer.start();
  }

  stop(): void {
    this.#timer.stop();
  }

  /** Seconds until the next look: the interval, doubled per consecutive failure. */
  get nextDelaySeconds(): number {
    return this.#timer.nextDelaySeconds;
  }

  async #look(): Promise<void> {
    const started = performance.now();
    const source = modelSource(this.#settings);
    let changed: boolean;
    try {
      changed = await checkModel(this.#settings, this.#current());
    } catch (error) {
      const backoff = this.#timer.failed();
      this.#observe?.("failed", (performance.now() - started) / 1000);
      this.#log.warn(
        { event: "model_poll_failed", source, ...backoff },
        `cannot check the model's source, still serving the current model: ${(error as Error).message}`,
      );
      return;
    }
    if (!changed) {
      this.#timer.succeeded();
      this.#observe?.("unchanged", (performance.now() - started) / 1000);
      return;
    }
    this.#log.info({ event: "model_changed", source }, "the model's source has a new version: reloading");
    const before = this.#current();
    try {
      await this.#onChange();
    } catch {
      // The reload reports its own failure; here it only means "back off".
    }
    // Still the same version served: the reload failed (and was counted and logged by it).
    if (this.#current() === before)
      this.#log.warn(
        { event: "model_poll_backoff", source, ...this.#timer.failed() },
        "the new version is not served; retrying later",
      );
    else this.#timer.succeeded();
  }
}
