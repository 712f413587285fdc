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
  // Predictions alone (the common task) as the engine gives them, over the margins' own array where
  // the head allows (predictBatch): one array less per task than margins and then their transform.
  const margins = task.wantMargins ? model.predictBatch(task.values, task.rows, { margin: true }) : null;
  const predictions = !task.wantPredictions
    ? null
    : margins
      ? model.transform(margins, task.rows)
      : model.predictBatch(task.values, task.rows);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return encodeResult(seconds, margins, predictions);
}
