/**
 * The part of every prediction route after parsing: rows → batcher → outputs, plus the row and
 * class counters. Routes stay plain: parse, validate, call this, serialise.
 */

import { InvalidInputError } from "./errors.js";
import type { WorkerMetrics } from "./metrics.js";
import type { Batcher } from "./scoring/batcher.js";
import type { ServedModel } from "./served-model.js";

export interface ScoringDeps {
  served: ServedModel;
  batcher: Batcher;
  metrics: WorkerMetrics;
  maxRequestRows: number;
  /** REQUEST_DEADLINE in ms: the longest any request may wait for scoring. */
  defaultDeadlineMs: number;
}

/**
 * The scoring deadline of a request: what it asked for (X-Request-Timeout-Ms, or OIP
 * parameters.timeout, in ms), never beyond the server's REQUEST_DEADLINE.
 */
export function deadlineMs(deps: ScoringDeps, asked: unknown, where: string): number {
  if (asked === undefined) return deps.defaultDeadlineMs;
  const ms =
    typeof asked === "number"
      ? asked
      : typeof asked === "string" && /^\s*\d+(\.\d+)?\s*$/.test(asked)
        ? Number(asked)
        : Number.NaN;
  if (!(ms > 0) || !Number.isFinite(ms))
    throw new InvalidInputError(`${where} must be a positive number of milliseconds`);
  return Math.min(ms, deps.defaultDeadlineMs);
}

export interface Scored {
  outputs: Float32Array;
  /** Values per row in `outputs`. */
  width: number;
}

export async function scoreRows(
  deps: ScoringDeps,
  values: Float32Array,
  rows: number,
  margin: boolean,
  timeoutMs: number,
): Promise<Scored> {
  const { served, metrics } = deps;
  const outputs = await deps.batcher.submit(values, rows, margin, timeoutMs);
  const width = margin ? served.model.numMarginOutputs : served.model.numOutputs;
  metrics.rowsScored(served.name).inc(rows);
  if (served.classes.length > 0) countClasses(deps, outputs, rows, width, margin);
  return { outputs, width };
}

/** forestd_predictions_total{class}: the predicted class of each row, counted per request. */
function countClasses(
  deps: ScoringDeps,
  outputs: Float32Array,
  rows: number,
  width: number,
  margin: boolean,
): void {
  const { served, metrics } = deps;
  const counts = new Array<number>(served.classes.length).fill(0);
  const objective = served.info.objective;
  if (margin && served.model.format === "onnx") {
    // An ONNX binary classifier's margin may be one probability column: ask the model itself.
    const index = new Map(served.classes.map((c, i) => [c, i]));
    for (const label of served.model.labels(outputs, rows)) counts[index.get(String(label)) ?? 0]++;
    counts.forEach((n, c) => {
      if (n > 0) metrics.predicted(served.name, served.classes[c]).inc(n);
    });
    return;
  }
  for (let r = 0; r < rows; r++) {
    let cls: number;
    if (width > 1) {
      let best = 0;
      for (let g = 1; g < width; g++) if (outputs[r * width + g] > outputs[r * width + best]) best = g;
      cls = best;
    } else if (objective === "multi:softmax" && !margin) {
      cls = outputs[r];
    } else {
      // Binary: a probability above 0.5, a hinge output of 1, or a positive margin.
      const threshold = margin || objective !== "binary:logistic" ? 0 : 0.5;
      cls = objective === "binary:hinge" && !margin ? outputs[r] : outputs[r] > threshold ? 1 : 0;
    }
    if (cls >= 0 && cls < counts.length) counts[cls]++;
  }
  counts.forEach((n, c) => {
    if (n > 0) metrics.predicted(served.name, served.classes[c]).inc(n);
  });
}
