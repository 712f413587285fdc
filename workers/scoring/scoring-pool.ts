/**
 * The scoring thread pool: a thin facade over piscina, one thread per THREADS, shared by every
 * model version the worker serves. Queueing is the batcher's job, so piscina's own queue stays
 * empty by design.
 *
 * Models: each version is added with an id (`addModel`) and what a thread loads it from; a task
 * names the id. Until every live thread has answered a task of a version, the pool attaches the
 * version's reference to its tasks (a thread that lacks it loads it then); a new thread (one
 * replacing a stuck one) makes every version cold again. `removeModel` tells the threads, on a
 * BroadcastChannel, to drop it.
 *
 * Stuck threads: each thread marks in shared memory when it started its current task. A watchdog
 * (one timer, not one per task: per-task abort signals cost measurable throughput) terminates a
 * thread busy past TIMEOUT; piscina rejects its task and starts a replacement thread.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BroadcastChannel } from "node:worker_threads";
import { Piscina } from "piscina";
import { packageRoot } from "../../model/default-model.js";
import { DeadlineError, ScoringFailedError } from "../http/errors.js";
import type { TaskRunner } from "./batcher.js";
import {
  BUSY_SLOTS,
  type ScoreTask,
  type ThreadData,
  type ThreadModelRef,
  type ThreadNotice,
  threadOfResult,
} from "./protocol.js";

/** Each pool's thread channel has its own name: tests run several pools in one process. */
let pools = 0;

interface PooledModel {
  readonly ref: ThreadModelRef;
  /** Threads that answered a task of it (they hold it). */
  readonly holders: Set<number>;
  /** Every live thread holds it: its tasks go without the reference. */
  warm: boolean;
}

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
  readonly #models = new Map<number, PooledModel>();
  readonly #channel: BroadcastChannel;

  constructor(threads: number, options: ScoringPoolOptions = {}) {
    this.threads = threads;
    this.#taskTimeoutMs = options.taskTimeoutMs ?? 30_000;
    this.#onThreadTimeout = options.onThreadTimeout;
    const busy = new SharedArrayBuffer(BUSY_SLOTS * 2 * Float64Array.BYTES_PER_ELEMENT);
    this.#busy = new Float64Array(busy);
    const channel = `forestd-pool-${process.pid}-${++pools}`;
    this.#channel = new BroadcastChannel(channel);
    this.#channel.unref();
    const workerData: ThreadData = { busy, channel };
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
    // A new thread (at start, or replacing a stuck one) holds no model yet; a thread that goes is
    // replaced, and tasks handed over meanwhile may reach the replacement: both make every model
    // cold, so its tasks carry it again until every live thread has answered one.
    const cold = () => {
      for (const model of this.#models.values()) model.warm = false;
    };
    this.#piscina.on("workerCreate", cold);
    this.#piscina.on("workerDestroy", cold);
  }

  /** A model version tasks may name from now on, and what a thread loads it from. */
  addModel(id: number, ref: ThreadModelRef): void {
    this.#models.set(id, { ref, holders: new Set(), warm: false });
  }

  /** No task names the version any more: threads drop it. */
  removeModel(id: number): void {
    if (!this.#models.delete(id)) return;
    this.#channel.postMessage({ evict: id } satisfies ThreadNotice);
  }

  /** Ids of the threads alive now. */
  #liveThreads(): number[] {
    return this.#piscina.threads.map((t) => t.threadId);
  }

  /** A thread answered a task of `model`: it holds it; once every live thread does, tasks go bare. */
  #held(model: PooledModel | undefined, thread: number): void {
    if (model === undefined || model.warm || thread === 0) return;
    model.holders.add(thread);
    const live = this.#liveThreads();
    model.warm = live.length > 0 && live.every((id) => model.holders.has(id));
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
    const model = this.#models.get(task.model);
    if (model !== undefined && !model.warm) task.load = model.ref;
    const running = this.#piscina.run(task, { transferList: transfer });
    return running.then(
      (result) => {
        this.#held(model, threadOfResult(result));
        return result;
      },
      (error: unknown) => {
        // A task that fails while the watchdog terminated a stuck thread was that thread's task.
        if (this.#terminations !== terminationsBefore) {
          throw new DeadlineError(
            `scoring did not finish within ${this.#taskTimeoutMs / 1000} s (TIMEOUT); its thread was terminated and replaced`,
          );
        }
        throw new ScoringFailedError((error as Error)?.message ?? String(error), { cause: error });
      },
    );
  }

  /** Share of time the threads were busy since start (piscina's own measure). */
  get utilization(): number {
    return this.#piscina.utilization;
  }

  close(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#watchdog);
    this.#channel.close();
    return this.#piscina.close();
  }

  destroy(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#watchdog);
    this.#channel.close();
    return this.#piscina.destroy();
  }
}
