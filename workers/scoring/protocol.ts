import type { ExplainKind } from "../../model/outputs.js";

/**
 * What crosses between a worker's event loop and its scoring threads. Both directions move a
 * single ArrayBuffer (transferred, never copied): piscina transfers only a task's top-level value,
 * so the result packs its timing in front of its outputs.
 */
export interface ScoreTask {
  /** Row-major float32 features, `rows × numFeature`; its buffer is transferred to the thread. */
  values: Float32Array;
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

/** What each scoring thread is started with (piscina workerData). */
export interface ThreadData {
  modelPath: string;
  /** BUSY_SLOTS pairs of float64 [threadId, epoch ms the current task started or 0]. */
  busy: SharedArrayBuffer;
}

/** Slots in the busy table; a thread uses slot threadId % BUSY_SLOTS (threads ≤ 256). */
export const BUSY_SLOTS = 1024;

/** Result layout: [f64 seconds scoring][margins f32 × rows·groups if wanted][predictions f32 × rows·width if wanted]. */
const HEADER_BYTES = 8;

export function encodeResult(
  seconds: number,
  margins: Float32Array | null,
  predictions: Float32Array | null,
): ArrayBuffer {
  const m = margins?.length ?? 0;
  const p = predictions?.length ?? 0;
  const buffer = new ArrayBuffer(HEADER_BYTES + 4 * (m + p));
  new Float64Array(buffer, 0, 1)[0] = seconds;
  const out = new Float32Array(buffer, HEADER_BYTES);
  if (margins) out.set(margins, 0);
  if (predictions) out.set(predictions, m);
  return buffer;
}

/** Whether a thread skipped the task (skippedResult) instead of scoring it. */
export function wasSkipped(buffer: ArrayBuffer): boolean {
  return buffer.byteLength >= 8 && new Float64Array(buffer, 0, 1)[0] < 0;
}

/** The answer of a skipped task: just the header, with seconds = -1. */
export function skippedResult(): ArrayBuffer {
  const buffer = new ArrayBuffer(HEADER_BYTES);
  new Float64Array(buffer, 0, 1)[0] = -1;
  return buffer;
}

export interface DecodedResult {
  seconds: number;
  margins: Float32Array | null;
  predictions: Float32Array | null;
}

export function decodeResult(
  buffer: ArrayBuffer,
  task: { rows: number; wantMargins: boolean; wantPredictions: boolean },
  groups: number,
  width: number,
): DecodedResult {
  const seconds = new Float64Array(buffer, 0, 1)[0];
  const m = task.wantMargins ? task.rows * groups : 0;
  return {
    seconds,
    margins: task.wantMargins ? new Float32Array(buffer, HEADER_BYTES, m) : null,
    predictions: task.wantPredictions
      ? new Float32Array(buffer, HEADER_BYTES + 4 * m, task.rows * width)
      : null,
  };
}

/** The outputs of an explanation task: rows × `width` float32 values after the header. */
export function decodeExplainResult(
  buffer: ArrayBuffer,
  rows: number,
  width: number,
): { seconds: number; outputs: Float32Array } {
  return {
    seconds: new Float64Array(buffer, 0, 1)[0],
    outputs: new Float32Array(buffer, HEADER_BYTES, rows * width),
  };
}
