/**
 * MODEL_POLL_INTERVAL for a repository: every so many seconds a scan (one listing; only changed
 * files fetched), which adds, replaces and removes models without a restart. A failed scan (the
 * repository unreachable) doubles the wait, up to 300 s; the models served stay as they are.
 */
import { BackoffTimer } from "../backoff-timer.js";
import type { RepositoryLog } from "./repository.js";

export class RepositoryPoller {
  readonly #timer: BackoffTimer;

  constructor(intervalS: number, scan: () => Promise<void>, log: RepositoryLog, source: string) {
    this.#timer = new BackoffTimer(intervalS, async () => {
      try {
        await scan();
        this.#timer.succeeded();
      } catch (error) {
        log.warn(
          { event: "repository_poll_failed", source, ...this.#timer.failed() },
          `cannot read the model repository, the models served stay: ${(error as Error).message}`,
        );
      }
    });
  }

  start(): void {
    this.#timer.start();
  }

  stop(): void {
    this.#timer.stop();
  }

  /** Seconds until the next scan: the interval, doubled per consecutive failure. */
  get nextDelaySeconds(): number {
    return this.#timer.nextDelaySeconds;
  }
}
