/**
 * Tiny jobs scored on the worker's own event loop, with the same engine the threads use.
 *
 * Handing rows to a scoring thread costs a round trip of some 20–30 µs (post, wake, transfer,
 * answer); scoring one row of a typical model costs a few µs. A request whose predicted scoring
 * time is at most INLINE_SCORING_MAX_US is therefore scored here, at once; anything larger goes
 * to the batcher and the threads as before. The prediction is `overhead + rows × perRow`: both
 * are measured when the worker starts and the per-row cost keeps following what inline scoring
 * actually takes, so a slower machine (or a busier one) inlines fewer rows. Every inline scoring's
 * time goes to forestd_inline_scoring_seconds: the record that the loop is held only that long.
 */
import type { Model } from "../../model/index.js";

export interface InlineScorerOptions {
  /** Longest predicted scoring time to inline, µs; 0 = never. */
  maxUs: number;
  /** Called with each inline scoring's seconds. */
  onScored?: (seconds: number) => void;
}

/** Rows of the calibration's larger call: enough to see the per-row cost past the per-call one. */
const CALIBRATION_ROWS = 32;

export class InlineScorer {
  readonly #model: Model;
  readonly #maxUs: number;
  readonly #onScored?: (seconds: number) => void;
  /** µs every call costs whatever its rows (copying in and out of WebAssembly memory, the transform). */
  #overheadUs = 0;
  /** µs each row adds. */
  #perRowUs = 0;
  #calibratedPerRowUs = 0;

  constructor(model: Model, options: InlineScorerOptions) {
    this.#model = model;
    this.#maxUs = options.maxUs;
    this.#onScored = options.onScored;
    if (this.#maxUs > 0) this.#calibrate();
  }

  /** The largest number of rows inlined now (0 when off). */
  get maxRows(): number {
    if (this.#maxUs <= 0 || this.#perRowUs <= 0) return 0;
    return Math.max(0, Math.floor((this.#maxUs - this.#overheadUs) / this.#perRowUs));
  }

  /** Predicted µs to score `rows` rows here. */
  predictUs(rows: number): number {
    return this.#overheadUs + rows * this.#perRowUs;
  }

  /**
   * Scores `rows` rows now when that is predicted to take at most the bound; null otherwise
   * (then the caller hands them to the batcher).
   */
  score(values: Float32Array, rows: number, margin: boolean): Float32Array | null {
    if (this.#maxUs <= 0 || this.predictUs(rows) > this.#maxUs) return null;
    const start = performance.now();
    const outputs = this.#model.predictBatch(values, rows, { margin });
    const us = (performance.now() - start) * 1000;
    this.#onScored?.(us / 1e6);
    // Follow the measured cost: a smoothed per-row cost beyond the calibrated overhead, learnt
    // only from calls with enough rows to show it (a 1-row call measures the overhead, and could
    // drag the estimate to 0 and inline everything), never below half the calibrated cost.
    if (rows >= 8) {
      const perRow = Math.max(0, us - this.#overheadUs) / rows;
      const next = 0.95 * this.#perRowUs + 0.05 * Math.min(perRow, 4 * this.#perRowUs);
      this.#perRowUs = Math.max(this.#calibratedPerRowUs / 2, next);
    }
    return outputs;
  }

  /**
   * The median time of a 1-row call and of a CALIBRATION_ROWS-row call, after a warm-up that also
   * gets the engine compiled and optimised in this thread before the first request needs it.
   */
  #calibrate(): void {
    const nf = this.#model.numFeature;
    const values = new Float32Array(CALIBRATION_ROWS * nf);
    // Deterministic values of mixed magnitude, some missing, so rows take varied paths.
    let state = 12345;
    for (let i = 0; i < values.length; i++) {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      const u = state / 0x7fffffff;
      values[i] = u < 0.05 ? Number.NaN : (u - 0.5) * 10 ** Math.floor(u * 6 - 2);
    }
    const one = values.subarray(0, nf);
    const median = (rows: number, input: Float32Array, times: number) => {
      const samples: number[] = [];
      for (let i = 0; i < times; i++) {
        const start = performance.now();
        this.#model.predictBatch(input, rows);
        samples.push((performance.now() - start) * 1000);
      }
      samples.sort((a, b) => a - b);
      return samples[times >> 1];
    };
    median(1, one, 500); // warm-up
    median(CALIBRATION_ROWS, values, 100);
    const t1 = median(1, one, 301);
    const tn = median(CALIBRATION_ROWS, values, 101);
    this.#perRowUs = Math.max(0.01, (tn - t1) / (CALIBRATION_ROWS - 1));
    this.#calibratedPerRowUs = this.#perRowUs;
    this.#overheadUs = Math.max(0, t1 - this.#perRowUs);
  }
}
