import type { SharedModel } from "../../model/index.js";
import type { ExplainKind } from "../../model/outputs.js";

/** Rows or outputs: float32 for models that compare and add in float32, float64 for the others. */
export type Numbers = Float32Array | Float64Array;
export type NumberType = "f32" | "f64";

/** A new array of `length` values of `type`. */
export function numbers(type: NumberType, length: number): Numbers {
  return type === "f64" ? new Float64Array(length) : new Float32Array(length);
}

/**
 * What crosses between a worker's event loop and its scoring threads. Both directions move a
 * single ArrayBuffer (transferred, never copied; rows already in shared memory are shared
 * instead): piscina transfers only a task's top-level value, so the result packs its timing in
 * front of its outputs.
 */
export interface ScoreTask {
  /** The model version to score with (its id in the pool: ScoringPool.addModel). */
  model: number;
  /**
   * How a thread gets the model: attached (by the pool) until every thread has said it holds it;
   * a thread that already does ignores it.
   */
  load?: ThreadModelRef;
  /**
   * Row-major features, `rows × numFeature`, in the model's row type; its buffer is transferred to
   * the thread, or, on a SharedArrayBuffer (a binary body: binary-body.ts), shared with it as it lies.
   */
  values: Numbers;
  rows: number;
  /** Which outputs the batch needs: margins, transformed predictions, or both. */
  wantMargins: boolean;
  wantPredictions: boolean;
  /** An explanation instead of scores: the result's outputs are rows × its width. */
  explain?: ExplainKind;
  /**
   * Epoch ms after which no request in the task wants its rows (the latest of their deadlines): a
   * thread that gets to the task later skips it and answers skippedResult().
   */
  notAfter?: number;
}

/**
 * How a thread gets a model version: the model in shared memory (model/shared.ts), compiled once by
 * the worker: the thread rebuilds it from views, holding no copy of its own.
 */
export interface ThreadModelRef {
  readonly shared: SharedModel;
}

/** What each scoring thread is started with (piscina workerData). */
export interface ThreadData {
  /** BUSY_SLOTS pairs of float64 [threadId, epoch ms the current task started or 0]. */
  busy: SharedArrayBuffer;
  /** The BroadcastChannel on which the pool tells its threads which models to drop. */
  channel: string;
}

/** What the pool says on ThreadData.channel: forget this model version (it is unloaded). */
export interface ThreadNotice {
  evict: number;
}

/** Slots in the busy table; a thread uses slot threadId % BUSY_SLOTS (threads ≤ 256). */
export const BUSY_SLOTS = 1024;

/**
 * Result layout: [f64 seconds scoring][f64 the thread's id][margins × rows·groups if wanted]
 * [predictions × rows·width if wanted], margins and predictions in the model's output type (an
 * explanation's outputs: in its own type, explainPrecision: float32, LightGBM's contributions float64). The thread's id tells the pool which thread now holds the task's
 * model (ScoringPool: attach the model to tasks until every thread does).
 */
const HEADER_BYTES = 16;

/** Writes the id of the thread that answered into a result's header. */
export function stampThread(buffer: ArrayBuffer, threadId: number): ArrayBuffer {
  if (buffer.byteLength >= HEADER_BYTES) new Float64Array(buffer, 8, 1)[0] = threadId;
  return buffer;
}

/** The id of the thread that answered (0 when not stamped). */
export function threadOfResult(buffer: ArrayBuffer): number {
  return buffer.byteLength >= HEADER_BYTES ? new Float64Array(buffer, 8, 1)[0] : 0;
}

export function encodeResult(
  seconds: number,
  margins: Numbers | null,
  predictions: Numbers | null,
): ArrayBuffer {
  const m = margins?.length ?? 0;
  const p = predictions?.length ?? 0;
  const size = (margins ?? predictions)?.BYTES_PER_ELEMENT ?? 4;
  const buffer = new ArrayBuffer(HEADER_BYTES + size * (m + p));
  new Float64Array(buffer, 0, 1)[0] = seconds;
  const out = size === 8 ? new Float64Array(buffer, HEADER_BYTES) : new Float32Array(buffer, HEADER_BYTES);
  if (margins) out.set(margins, 0);
  if (predictions) out.set(predictions, m);
  return buffer;
}

/** Whether a thread skipped the task (skippedResult) instead of scoring it. */
export function wasSkipped(buffer: ArrayBuffer): boolean {
  return buffer.byteLength >= HEADER_BYTES && new Float64Array(buffer, 0, 1)[0] < 0;
}

/** The answer of a skipped task: just the header, with seconds = -1. */
export function skippedResult(): ArrayBuffer {
  const buffer = new ArrayBuffer(HEADER_BYTES);
  new Float64Array(buffer, 0, 1)[0] = -1;
  return buffer;
}

export interface DecodedResult {
  seconds: number;
  margins: Numbers | null;
  predictions: Numbers | null;
}

export function decodeResult(
  buffer: ArrayBuffer,
  task: { rows: number; wantMargins: boolean; wantPredictions: boolean },
  groups: number,
  width: number,
  type: NumberType = "f32",
): DecodedResult {
  const seconds = new Float64Array(buffer, 0, 1)[0];
  const m = task.wantMargins ? task.rows * groups : 0;
  const view = (at: number, length: number): Numbers =>
    type === "f64" ? new Float64Array(buffer, at, length) : new Float32Array(buffer, at, length);
  const size = type === "f64" ? 8 : 4;
  return {
    seconds,
    margins: task.wantMargins ? view(HEADER_BYTES, m) : null,
    predictions: task.wantPredictions ? view(HEADER_BYTES + size * m, task.rows * width) : null,
  };
}

/**
 * The outputs of an explanation task: rows × `width` values after the header, in the explanation's
 * type (float32, or float64 for LightGBM's contributions: model/outputs.ts explainPrecision).
 */
export function decodeExplainResult(
  buffer: ArrayBuffer,
  rows: number,
  width: number,
  type: NumberType = "f32",
): { seconds: number; outputs: Numbers } {
  return {
    seconds: new Float64Array(buffer, 0, 1)[0],
    outputs:
      type === "f64"
        ? new Float64Array(buffer, HEADER_BYTES, rows * width)
        : new Float32Array(buffer, HEADER_BYTES, rows * width),
  };
}
