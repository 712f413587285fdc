/**
 * The scoring thread pool: a thin facade over piscina, one thread per THREADS, each loading the
 * model once. Queueing is the batcher's job, so piscina's own queue stays empty by design.
 *
 * Stuck threads: each thread marks in shared memory when it started its current task. A watchdog
 * (one timer, not one per task: per-task abort signals cost measurable throughput) terminates a
 * thread busy past TIMEOUT; piscina rejects its task and starts a replacement thread.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { packageRoot } from "../../model/default-model.js";
import { DeadlineError, ScoringFailedError } from "../http/errors.js";
import type { TaskRunner } from "./batcher.js";
import { BUSY_SLOTS, type ScoreTask, type ThreadData } from "./protocol.js";

/** The built thread module: beside this file in dist/, or dist/ when running from the sources. */
function defaultThreadModule(): string {
  const sibling = fileURLToPath(new URL("../thread/score-thread-main.js", import.meta.url));
  return existsSync(sibling)
    ? sibling
    : join(packageRoot(), "dist", "workers", "thread", "score-thread-main.js");
}

export interface ScoringPoolOptions {
  /**
   * The thread module (a built .js file whose default export scores a ScoreTask). The shipped one
   * unless given: tests pass a stand-in that hangs, holds or fails (test/fixtures/threads/).
   */
  threadFile?: string;
  /** A task still running after this long has its thread terminated. */
  taskTimeoutMs?: number;
  onThreadTimeout?: (threadId: number) => void;
}

export class ScoringPool implements TaskRunner {
  readonly threads: number;
  /** Each thread holds its next task in its port while it scores one (see TaskRunner). */
  readonly tasksPerThread = 2;
  readonly #piscina: Piscina<ScoreTask, ArrayBuffer>;
  readonly #taskTimeoutMs: number;
  readonly #busy: Float64Array;
  readonly #watchdog: NodeJS.Timeout;
  readonly #onThreadTimeout?: (threadId: number) => void;
  #terminations = 0;
  #stopping = false;

  constructor(modelPath: string, threads: number, options: ScoringPoolOptions = {}) {
    this.threads = threads;
    this.#taskTimeoutMs = options.taskTimeoutMs ?? 30_000;
    this.#onThreadTimeout = options.onThreadTimeout;
    const busy = new SharedArrayBuffer(BUSY_SLOTS * 2 * Float64Array.BYTES_PER_ELEMENT);
    this.#busy = new Float64Array(busy);
    const workerData: ThreadData = { modelPath, busy };
    this.#piscina = new Piscina<ScoreTask, ArrayBuffer>({
      filename: options.threadFile ?? defaultThreadModule(),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: this.tasksPerThread,
      workerData,
    });
    const every = Math.max(50, Math.min(1000, this.#taskTimeoutMs / 4));
    this.#watchdog = setInterval(() => this.#terminateStuckThreads(), every).unref();
    // Once the pool is being shut down, a thread may still post the answer of a task that
    // shutdown already settled (one it had in its port, say): piscina reports that as an
    // "Unexpected message from Worker" error on the pool, which nobody waits for any more. Before
    // that, an error on the pool is a bug and stays uncaught, as it would be without a listener.
    this.#piscina.on("error", (error: unknown) => {
      if (this.#stopping) return;
      process.nextTick(() => {
        throw error;
      });
    });
  }

  #terminateStuckThreads(): void {
    const now = Date.now();
    for (let slot = 0; slot < BUSY_SLOTS; slot++) {
      const since = this.#busy[slot * 2 + 1];
      if (since === 0 || now - since <= this.#taskTimeoutMs) continue;
      const threadId = this.#busy[slot * 2];
      this.#busy[slot * 2 + 1] = 0;
      const thread = this.#piscina.threads.find((t) => t.threadId === threadId);
      if (!thread) continue;
      this.#terminations++;
      this.#onThreadTimeout?.(threadId);
      void thread.terminate();
    }
  }

  run(task: ScoreTask, transfer: ArrayBuffer[]): Promise<ArrayBuffer> {
    const terminationsBefore = this.#terminations;
    return this.#piscina.run(task, { transferList: transfer }).catch((error: unknown) => {
      // A task that fails while the watchdog terminated a stuck thread was that thread's task.
      if (this.#terminations !== terminationsBefore) {
        throw new DeadlineError(
          `scoring did not finish within ${this.#taskTimeoutMs / 1000} s (TIMEOUT); its thread was terminated and replaced`,
        );
      }
      throw new ScoringFailedError((error as Error)?.message ?? String(error), { cause: error });
    });
  }

  /** Share of time the threads were busy since start (piscina's own measure). */
  get utilization(): number {
    return this.#piscina.utilization;
  }

  close(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#watchdog);
    return this.#piscina.close();
  }

  destroy(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#watchdog);
    return this.#piscina.destroy();
  }
}
