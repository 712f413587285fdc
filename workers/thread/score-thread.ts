/**
 * A scoring thread (piscina worker), made by a factory: it claims its slot in the busy table the
 * pool's watchdog reads, then scores batches of whichever model version each task names. Kept
 * small, as piscina's own worker is; the entry piscina loads (score-thread-main.ts) only calls the
 * factory, so the thread can also be built and driven without piscina (stand-in threads in
 * test/fixtures/threads/).
 *
 * Models: a task names its model version by id. A thread that does not hold it yet rebuilds it
 * from what the pool attaches to the task (ScoreTask.load: the model in the worker's shared memory,
 * no copy) and keeps it; the pool attaches it until every thread has answered a task of that model. Unloaded versions are dropped when the pool says
 * so on the thread channel (ThreadData.channel).
 */

import { BroadcastChannel, threadId } from "node:worker_threads";
import { move } from "piscina";
import { Model } from "../../model/index.js";
import {
  BUSY_SLOTS,
  type ScoreTask,
  stampThread,
  type ThreadData,
  type ThreadNotice,
} from "../scoring/protocol.js";
import { scoreTask } from "./score-task.js";

export interface ScoreThread {
  /** The model version a task names (loaded from the task's `load` the first time). */
  modelOf(task: ScoreTask): Model;
  /** Scores one task; its result's buffer is moved (transferred) back to the event loop. */
  score(task: ScoreTask): ArrayBuffer;
  /** Runs `work` marked busy in the table, so that the watchdog can see how long it takes. */
  busyWhile<T>(work: () => T): T;
}

export function createScoreThread(data: ThreadData): ScoreThread {
  const models = new Map<number, Model>();
  const channel = new BroadcastChannel(data.channel);
  // The channel alone must not keep the thread alive.
  channel.unref();
  channel.onmessage = (event) => {
    models.delete((event as { data: ThreadNotice }).data.evict);
  };
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
  const modelOf = (task: ScoreTask): Model => {
    let model = models.get(task.model);
    if (model === undefined) {
      if (!task.load)
        throw new Error(
          `model ${task.model} is not loaded in this thread, and the task does not say where it is`,
        );
      // The worker's compiled model, in shared memory: views of it, scratch of this thread's own.
      model = Model.fromShared(task.load.shared);
      models.set(task.model, model);
    }
    return model;
  };
  return {
    modelOf,
    busyWhile,
    score: (task) =>
      move(busyWhile(() => stampThread(scoreTask(modelOf(task), task), threadId))) as ArrayBuffer,
  };
}
