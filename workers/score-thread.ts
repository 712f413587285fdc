/**
 * A scoring thread (piscina worker): loads the model once, then scores batches. Kept small, as
 * piscina's own worker is: the module caches its model and the handler only scores.
 */
import { move, workerData } from "piscina";
import { loadModel } from "../model/index.js";
import { encodeResult, type ScoreTask } from "./protocol.js";

const { modelPath, testHooks } = workerData as { modelPath: string; testHooks: boolean };
const model = loadModel(modelPath);

export default function score(task: ScoreTask): ArrayBuffer {
  if (testHooks && task.hangMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, task.hangMs);
  const start = process.hrtime.bigint();
  const margins = model.predictBatch(task.values, task.rows, { margin: true });
  const predictions = task.wantPredictions ? model.transform(margins, task.rows) : null;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return move(encodeResult(seconds, task.wantMargins ? margins : null, predictions)) as ArrayBuffer;
}
