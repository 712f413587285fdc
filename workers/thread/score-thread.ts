/**
 * A scoring thread (piscina worker), made by a factory: it loads the model once, claims its slot in
 * the busy table the pool's watchdog reads, then scores batches. Kept small, as piscina's own
 * worker is; the entry piscina loads (score-thread-main.ts) only calls the factory, so the thread
 * can also be built and driven without piscina (stand-in threads in test/fixtures/threads/).
 */
import { threadId } from "node:worker_threads";
import { move } from "piscina";
import { loadModel, type Model } from "../../model/index.js";
import { BUSY_SLOTS, type ScoreTask, type ThreadData } from "../scoring/protocol.js";
import { scoreTask } from "./score-task.js";

export interface ScoreThread {
  readonly model: Model;
  /** Scores one task; its result's buffer is moved (transferred) back to the event loop. */
  score(task: ScoreTask): ArrayBuffer;
  /** Runs `work` marked busy in the table, so that the watchdog can see how long it takes. */
  busyWhile<T>(work: () => T): T;
}

export function createScoreThread(data: ThreadData): ScoreThread {
  const model = loadModel(data.modelPath);
  // This thread's slot in the busy table the pool's watchdog reads.
  const table = new Float64Array(data.busy);
  const slot = (threadId % BUSY_SLOTS) * 2;
  table[slot] = threadId;
  const busyWhile = <T>(work: () => T): T => {
    table[slot + 1] = Date.now();
    try {
      return work();
    } finally {
      table[slot + 1] = 0;
    }
  };
  return {
    model,
    busyWhile,
    score: (task) => move(busyWhile(() => scoreTask(model, task))) as ArrayBuffer,
  };
}
