/**
 * MODEL_POLL_INTERVAL for a repository: every so many seconds a scan (one listing; only changed
 * files fetched), which adds, replaces and removes models without a restart. A failed scan (the
 * repository unreachable) doubles the wait, up to 300 s; the models served stay as they are.
 */
import type { RepositoryLog } from "./repository.js";

const MAX_BACKOFF_S = 300;
/** Each wait is stretched by up to this share, so replicas polling one repository drift apart. */
const JITTER = 0.1;

export class RepositoryPoller {
  readonly #intervalS: number;
  readonly #scan: () => Promise<void>;
  readonly #log: RepositoryLog;
  readonly #source: string;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #failures = 0;

  constructor(intervalS: number, scan: () => Promise<void>, log: RepositoryLog, source: string) {
    this.#intervalS = intervalS;
    this.#scan = scan;
    this.#log = log;
    this.#source = source;
  }

  start(): void {
    if (this.#intervalS <= 0 || this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Seconds until the next scan: the interval, doubled per consecutive failure. */
  get nextDelaySeconds(): number {
    return Math.min(this.#intervalS * 2 ** this.#failures, Math.max(this.#intervalS, MAX_BACKOFF_S));
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(
      () => void this.#look(),
      this.nextDelaySeconds * 1000 * (1 + Math.random() * JITTER),
    );
    // Polling alone must not keep the primary alive.
    this.#timer.unref();
  }

  async #look(): Promise<void> {
    try {
      await this.#scan();
      this.#failures = 0;
    } catch (error) {
      this.#failures++;
      this.#log.warn(
        {
          event: "repository_poll_failed",
          source: this.#source,
          failures: this.#failures,
          retry_in_s: this.nextDelaySeconds,
        },
        `cannot read the model repository, the models served stay: ${(error as Error).message}`,
      );
    }
    this.#schedule();
  }
}
