/**
 * A scoring thread (piscina worker): loads the model once, then scores batches. Kept small, as
 * piscina's own worker is: the module caches its model and the handler only scores.
 *
 * `busyWhile` is exported for stand-in threads (test/fixtures/threads/) that wrap this one: work
 * inside it is watched by the pool's watchdog exactly as scoring is.
 */
import { threadId } from "node:worker_threads";
import { move, workerData } from "piscina";
import { loadModel } from "../../model/index.js";
import { BUSY_SLOTS, type ScoreTask, type ThreadData } from "./protocol.js";
import { scoreTask } from "./score-task.js";

const { modelPath, busy } = workerData as ThreadData;
const model = loadModel(modelPath);
// This thread's slot in the busy table the pool's watchdog reads.
const table = new Float64Array(busy);
const slot = (threadId % BUSY_SLOTS) * 2;
table[slot] = threadId;

/** Runs `work` marked busy in the table, so that the watchdog can see how long it takes. */
export function busyWhile<T>(work: () => T): T {
  table[slot + 1] = Date.now();
  try {
    return work();
  } finally {
    table[slot + 1] = 0;
  }
}

export default function score(task: ScoreTask): ArrayBuffer {
  return move(busyWhile(() => scoreTask(model, task))) as ArrayBuffer;
}
