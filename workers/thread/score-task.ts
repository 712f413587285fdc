/**
 * The body of a scoring task, apart from the thread it runs on: an explanation when the task asks
 * for one; else margins (predictions are computed from them) and the outputs the task asked for, packed as protocol.ts says. Shared by
 * the scoring thread and by tests that stand in for the thread hop.
 */
import type { Model } from "../../model/index.js";
import { explain } from "../../model/outputs.js";
import { encodeResult, type ScoreTask, skippedResult } from "../scoring/protocol.js";

export function scoreTask(model: Model, task: ScoreTask): ArrayBuffer {
  // Held in the thread's port behind another task until every request in it gave up: skip it.
  if (task.notAfter !== undefined && Date.now() > task.notAfter) return skippedResult();
  const start = process.hrtime.bigint();
  if (task.explain) {
    const outputs = explain(model, task.explain, task.values, task.rows);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return encodeResult(seconds, null, outputs);
  }
  const margins = model.predictBatch(task.values, task.rows, { margin: true });
  const predictions = task.wantPredictions ? model.transform(margins, task.rows) : null;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return encodeResult(seconds, task.wantMargins ? margins : null, predictions);
}
