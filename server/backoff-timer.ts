/**
 * A look repeated every `intervalS` seconds, each wait stretched by up to 10% so that replicas
 * polling one source drift apart, and doubled per consecutive failure up to MAX_BACKOFF_S (or the
 * interval, if longer): a broken object or an unreachable bucket is retried, not hammered. The
 * timer never keeps the process alive. The model poller and the repository poller both run on it.
 */

const MAX_BACKOFF_S = 300;
const JITTER = 0.1;

export class BackoffTimer {
  readonly #intervalS: number;
  readonly #look: () => Promise<void>;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #failures = 0;

  /** @param look one look; it calls `failed()` or `succeeded()`, and the next waits for it to end */
  constructor(intervalS: number, look: () => Promise<void>) {
    this.#intervalS = intervalS;
    this.#look = look;
  }

  /** Starts looking, unless the interval is 0 (polling off) or it already runs. */
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

  /** Seconds until the next look: the interval, doubled per consecutive failure. */
  get nextDelaySeconds(): number {
    return Math.min(this.#intervalS * 2 ** this.#failures, Math.max(this.#intervalS, MAX_BACKOFF_S));
  }

  /** Counts a failure; the figures a log line gives for it. */
  failed(): { failures: number; retry_in_s: number } {
    this.#failures++;
    return { failures: this.#failures, retry_in_s: this.nextDelaySeconds };
  }

  succeeded(): void {
    this.#failures = 0;
  }

  #schedule(): void {
    if (!this.#running) return;
    const ms = this.nextDelaySeconds * 1000 * (1 + Math.random() * JITTER);
    this.#timer = setTimeout(() => void this.#look().finally(() => this.#schedule()), ms);
    this.#timer.unref();
  }
}
