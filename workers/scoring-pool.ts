/**
 * The scoring thread pool: a thin facade over piscina, one thread per THREADS, each loading the
 * model once. Queueing is the batcher's job, so piscina's own queue stays empty by design.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { packageRoot } from "../model/default-model.js";
import type { TaskRunner } from "./batcher.js";
import type { ScoreTask } from "./protocol.js";

/** The built thread module: beside this file in dist/, or dist/ when running from the sources. */
function threadModule(): string {
  const sibling = fileURLToPath(new URL("./score-thread.js", import.meta.url));
  return existsSync(sibling) ? sibling : join(packageRoot(), "dist", "workers", "score-thread.js");
}

export class ScoringPool implements TaskRunner {
  readonly threads: number;
  readonly #piscina: Piscina<ScoreTask, ArrayBuffer>;
  readonly #taskTimeoutMs: number;

  /**
   * `taskTimeoutMs`: a task still running after this long has its thread terminated (piscina
   * replaces it) and is rejected with an AbortError: a stuck thread never hangs requests.
   */
  constructor(
    modelPath: string,
    threads: number,
    options: { testHooks?: boolean; taskTimeoutMs?: number } = {},
  ) {
    this.threads = threads;
    this.#taskTimeoutMs = options.taskTimeoutMs ?? 30_000;
    this.#piscina = new Piscina<ScoreTask, ArrayBuffer>({
      filename: threadModule(),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      workerData: { modelPath, testHooks: options.testHooks === true },
    });
  }

  run(task: ScoreTask, transfer: ArrayBuffer[]): Promise<ArrayBuffer> {
    return this.#piscina.run(task, {
      transferList: transfer,
      signal: AbortSignal.timeout(this.#taskTimeoutMs),
    });
  }

  /** Share of time the threads were busy since start (piscina's own measure). */
  get utilization(): number {
    return this.#piscina.utilization;
  }

  close(): Promise<void> {
    return this.#piscina.close();
  }

  destroy(): Promise<void> {
    return this.#piscina.destroy();
  }
}
