/**
 * A scoring thread (piscina worker): loads the model once, then scores batches. Kept small, as
 * piscina's own worker is: the module caches its model and the handler only scores.
 */
import { threadId } from "node:worker_threads";
import { move, workerData } from "piscina";
import { loadModel } from "../../model/index.js";
import { BUSY_SLOTS, encodeResult, type ScoreTask, skippedResult, type ThreadData } from "./protocol.js";

const { modelPath, testHooks, busy } = workerData as ThreadData;
const model = loadModel(modelPath);
// This thread's slot in the busy table the pool's watchdog reads.
const table = new Float64Array(busy);
const slot = (threadId % BUSY_SLOTS) * 2;
table[slot] = threadId;

export default function score(task: ScoreTask): ArrayBuffer {
  table[slot + 1] = Date.now();
  try {
    if (testHooks && task.hangMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, task.hangMs);
    // Held in this thread's port behind another task until every request in it gave up: skip it.
    if (task.notAfter !== undefined && Date.now() > task.notAfter)
      return move(skippedResult()) as ArrayBuffer;
    const start = process.hrtime.bigint();
    const margins = model.predictBatch(task.values, task.rows, { margin: true });
    const predictions = task.wantPredictions ? model.transform(margins, task.rows) : null;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return move(encodeResult(seconds, task.wantMargins ? margins : null, predictions)) as ArrayBuffer;
  } finally {
    table[slot + 1] = 0;
  }
}
