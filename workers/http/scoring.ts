/**
 * The part of every prediction route after parsing: rows → batcher → outputs, plus the row and
 * class counters. Routes stay plain: parse, validate, call this, serialise.
 */

import { type ExplainKind, explainWidth } from "../../model/outputs.js";
import type { ModelMetrics, WorkerMetrics } from "../process/metrics.js";
import type { Batcher } from "../scoring/batcher.js";
import type { InlineScorer } from "../scoring/inline-scorer.js";
import type { Numbers } from "../scoring/protocol.js";
import { InvalidInputError } from "./errors.js";
import type { ServedModel } from "./served-model.js";

/** One model version's scoring: its model, queue, inline scorer, metrics and limits. */
export interface ScoringDeps {
  served: ServedModel;
  batcher: Batcher;
  /** Scores tiny requests on this loop; absent = every request goes to the batcher. */
  inline?: InlineScorer;
  metrics: WorkerMetrics;
  /** The model version's own series (rows, predicted classes, ...), labelled once. */
  modelMetrics: ModelMetrics;
  maxRequestRows: number;
  /** REQUEST_DEADLINE in ms: the longest any request may wait for scoring. */
  defaultDeadlineMs: number;
  /**
   * With tracing on (tracing/otel.ts): spans for rows scored inline. Rows that go to the batcher
   * (predictions too large to inline, every explanation) are traced by its BatchTracer, which
   * sees their queue wait and the task they share with other requests.
   */
  tracer?: InlineTracer;
}

export interface InlineTracer {
  /**
   * A request's `rows` rows scored on this loop: handed over at `startedAt`, outputs back at
   * `endedAt` (performance.now()): the wait for the end of the turn and the turn's inline scoring.
   */
  inlineScored(
    rows: number,
    startedAt: number,
    endedAt: number,
    model?: { name: string; version: string },
  ): void;
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
  outputs: Numbers;
  /** Values per row in `outputs`. */
  width: number;
}

export async function scoreRows(
  deps: ScoringDeps,
  values: Numbers,
  rows: number,
  margin: boolean,
  timeoutMs: number,
): Promise<Scored> {
  const { served, modelMetrics } = deps;
  // Tiny requests on this loop, at the end of the turn (no deadline can pass); the rest wait for a
  // thread. The clock is read for the span only when tracing: the untraced hot path is unchanged.
  const startedAt = deps.tracer === undefined ? 0 : performance.now();
  const inline = deps.inline?.submit(values, rows, margin);
  const outputs = inline ? await inline : await deps.batcher.submit(values, rows, margin, timeoutMs);
  if (inline && deps.tracer) deps.tracer.inlineScored(rows, startedAt, performance.now(), served);
  const width = margin ? served.model.numMarginOutputs : served.model.numOutputs;
  modelMetrics.rows.inc(rows);
  if (served.classes.length > 0) countClasses(deps, outputs, rows, width, margin);
  return { outputs, width };
}

/** forestd_predictions_total{class}: the predicted class of each row (as the model's head decides it), counted per request. */
function countClasses(
  deps: ScoringDeps,
  outputs: Numbers,
  rows: number,
  _width: number,
  margin: boolean,
): void {
  const { served, modelMetrics } = deps;
  const n = served.classes.length;
  const counts = new Float64Array(n);
  const classes = served.model.classes(
    outputs,
    rows,
    margin ? "margins" : "predictions",
    served.labels.threshold,
  );
  // An indexed loop over typed arrays: a 10 000-row request's for-of over the classes and a
  // plain array of counts took ~0.1 ms of the event loop (profiled, binary REST at 10 000 rows).
  for (let i = 0; i < classes.length; i++) {
    const c = classes[i];
    if (c >= 0 && c < n) counts[c]++;
  }
  for (let c = 0; c < n; c++) if (counts[c] > 0) modelMetrics.predicted(served.classes[c]).inc(counts[c]);
}

/**
 * Most values one request's explanation may hold: interactions are (F+1)² per row and class, so a
 * few rows of a wide model would otherwise ask for gigabytes (and a JSON answer larger still).
 */
export const MAX_EXPLAIN_VALUES = 1 << 22;

/** A 400's message when `rows` rows of `kind` would exceed MAX_EXPLAIN_VALUES, else null. */
export function explainSizeProblem(served: ServedModel, kind: ExplainKind, rows: number): string | null {
  const perRow = explainWidth(served.model, kind);
  if (rows * perRow <= MAX_EXPLAIN_VALUES) return null;
  const most = Math.max(0, Math.floor(MAX_EXPLAIN_VALUES / perRow));
  return `output "${kind}" is ${perRow} values per row; ${rows} rows would be ${rows * perRow}, over the limit of ${MAX_EXPLAIN_VALUES}: send at most ${most} rows per request`;
}

/** Each row's explanation, through the same queue, admission and deadline as predictions. */
export async function explainRows(
  deps: ScoringDeps,
  values: Numbers,
  rows: number,
  kind: ExplainKind,
  timeoutMs: number,
): Promise<Numbers> {
  const tooBig = explainSizeProblem(deps.served, kind, rows);
  if (tooBig) throw new InvalidInputError(tooBig);
  const outputs = await deps.batcher.explain(values, rows, kind, timeoutMs);
  deps.modelMetrics.rows.inc(rows);
  return outputs;
}
