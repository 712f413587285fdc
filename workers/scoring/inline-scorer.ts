/**
 * Tiny jobs scored on the worker's own event loop, with the same engine the threads use.
 *
 * Handing rows to a scoring thread costs a round trip of some 20–30 µs (post, wake, transfer,
 * answer); scoring one row of a typical model costs a few µs. A request whose predicted scoring
 * time is at most INLINE_SCORING_MAX_US is therefore scored here; anything larger goes to the
 * batcher and the threads as before. The prediction is `overhead + rows × perRow`: both are
 * measured when the worker starts and the per-row cost keeps following what inline scoring
 * actually takes, so a slower machine (or a busier one) inlines fewer rows. A model whose calls
 * have a large fixed cost is not inlined at all (MAX_OVERHEAD_SHARE).
 *
 * Inline requests are coalesced per event-loop turn, as the batcher coalesces the threads' work:
 * the requests read in one turn are scored together at its end (setImmediate), one engine call per
 * batch of at most the bound's predicted time, and all their answers are then written back to back.
 * Why: scored and answered one by one, each answer was written while the client had gone idle, and
 * on loopback (a load generator, a proxy on the same host) the writer pays for waking the reader:
 * measured, coalescing per turn raised single-row throughput by 60% (docs/performance.md). An idle
 * server's lone request waits for nothing but the end of its own turn. Every engine call's time
 * goes to forestd_inline_scoring_seconds: the record that no single call holds the loop longer
 * than the bound (a turn with more inline rows than one call may take makes several calls back to
 * back, as it made one per request before). A batch shares its fate: should the engine throw, every
 * request in that call gets the error.
 */
import type { Model } from "../../model/index.js";
import { type Numbers, numbers } from "./protocol.js";

export interface InlineScorerOptions {
  /** Longest predicted scoring time to inline, µs; 0 = never. */
  maxUs: number;
  /** Called with each inline scoring's seconds. */
  onScored?: (seconds: number) => void;
  /**
   * The model's costs as measured elsewhere (calibrateInline in the thread that loaded it), so
   * that a model loaded while the worker serves costs its event loop no calibration.
   */
  calibration?: InlineCalibration;
}

/** What calibration measured: µs per call whatever its rows, µs per row, and whether to inline at all. */
export interface InlineCalibration {
  readonly overheadUs: number;
  readonly perRowUs: number;
  readonly worthwhile: boolean;
}

/**
 * Measures `model`'s inline costs for a bound of `maxUs` (see InlineScorer's #measure), on the
 * calling thread: run where the model is loaded, off the event loop.
 */
export function calibrateInline(model: Model, maxUs: number): InlineCalibration {
  const scorer = new InlineScorer(model, { maxUs });
  return scorer.calibration;
}

/** Requests read in one turn, scored together in one engine call at its end. */
interface TurnBatch {
  margin: boolean;
  rows: number;
  jobs: {
    values: Numbers;
    rows: number;
    resolve(outputs: Numbers): void;
    reject(error: unknown): void;
  }[];
}

/**
 * Largest share of the bound one call's fixed cost may take. Inline calls are cut at the bound,
 * the threads' batches are not: a model whose every call costs much whatever its rows (measured:
 * 1000 trees of depth 8, ~45 µs a call) scores single rows faster in the threads' batches (pinned,
 * 14 000–16 000 single-row requests/s there against 12 300–12 900 inline at a 100 µs bound).
 */
const MAX_OVERHEAD_SHARE = 0.25;
/** Rows of the calibration's larger call: enough to see the per-row cost past the per-call one. */
const CALIBRATION_ROWS = 32;
/** Longest a calibration step runs (ms), once it has MIN_SAMPLES samples. */
const CALIBRATION_STEP_MS = 20;
const MIN_SAMPLES = 5;

export class InlineScorer {
  readonly #model: Model;
  readonly #maxUs: number;
  readonly #onScored?: (seconds: number) => void;
  /** µs every call costs whatever its rows (copying in and out of WebAssembly memory, the transform). */
  #overheadUs = 0;
  /** µs each row adds. */
  #perRowUs = 0;
  #calibratedPerRowUs = 0;
  /** Inlining on, and the model's per-call cost small enough for calls cut at the bound (MAX_OVERHEAD_SHARE). */
  #worthwhile = false;
  /** This turn's batches still taking rows: predictions [0] and margins [1]. */
  #open: [TurnBatch | null, TurnBatch | null] = [null, null];
  /** This turn's full batches. */
  #closed: TurnBatch[] = [];
  #scheduled = false;

  constructor(model: Model, options: InlineScorerOptions) {
    this.#model = model;
    this.#maxUs = options.maxUs;
    this.#onScored = options.onScored;
    const given = options.calibration;
    if (given && this.#maxUs > 0) {
      this.#overheadUs = given.overheadUs;
      this.#perRowUs = given.perRowUs;
      this.#calibratedPerRowUs = given.perRowUs;
      this.#worthwhile = given.worthwhile;
    } else if (this.#maxUs > 0) this.#calibrate();
  }

  /** What calibration found (to pass to another InlineScorer of the same model). */
  get calibration(): InlineCalibration {
    return { overheadUs: this.#overheadUs, perRowUs: this.#calibratedPerRowUs, worthwhile: this.#worthwhile };
  }

  /** The largest number of rows inlined now (0 when off). */
  get maxRows(): number {
    if (!this.#worthwhile || this.#perRowUs <= 0) return 0;
    return Math.max(0, Math.floor((this.#maxUs - this.#overheadUs) / this.#perRowUs));
  }

  /** The calibrated fixed cost of one engine call, µs (0 when nothing can be inlined). */
  get callOverheadUs(): number {
    return this.#overheadUs;
  }

  /** Predicted µs to score `rows` rows here. */
  predictUs(rows: number): number {
    return this.#overheadUs + rows * this.#perRowUs;
  }

  /**
   * Scores `rows` rows at the end of this event-loop turn, with the turn's other inline requests,
   * when that alone is predicted to take at most the bound; null otherwise (then the caller hands
   * them to the batcher). The outputs are the engine's for these rows, bit for bit.
   */
  submit(values: Numbers, rows: number, margin: boolean): Promise<Numbers> | null {
    if (!this.#worthwhile || this.predictUs(rows) > this.#maxUs) return null;
    // Joined with others, a short or long array would be padded or cut silently: refuse it here,
    // as the engine refuses it alone.
    if (values.length !== rows * this.#model.numFeature)
      throw new RangeError(`${values.length} values for ${rows} rows of ${this.#model.numFeature} features`);
    const slot = margin ? 1 : 0;
    let batch = this.#open[slot];
    // A batch is scored in one call, so it takes no more rows than the bound allows: a full one
    // is closed (scored at the same turn's end, but in a call of its own).
    if (batch !== null && this.predictUs(batch.rows + rows) > this.#maxUs) {
      this.#closed.push(batch);
      batch = null;
    }
    if (batch === null) {
      batch = { margin, rows: 0, jobs: [] };
      this.#open[slot] = batch;
    }
    batch.rows += rows;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
    return new Promise<Numbers>((resolve, reject) => {
      (batch as TurnBatch).jobs.push({ values, rows, resolve, reject });
    });
  }

  /** The turn's end: every batch gathered in it, each scored in one engine call. */
  readonly #flush = (): void => {
    this.#scheduled = false;
    const batches = this.#closed;
    for (const open of this.#open) if (open !== null) batches.push(open);
    this.#closed = [];
    this.#open = [null, null];
    for (const batch of batches) {
      try {
        this.#score(batch);
      } catch (error) {
        // Whatever failed, no request of this batch is left waiting (a settled one ignores this),
        // and the turn's other batches are still scored.
        for (const job of batch.jobs) job.reject(error);
      }
    }
  };

  #score({ margin, rows, jobs }: TurnBatch): void {
    let values = jobs[0].values;
    if (jobs.length > 1) {
      const width = this.#model.numFeature;
      values = numbers(this.#model.rowPrecision, rows * width);
      let at = 0;
      for (const job of jobs) {
        values.set(job.values, at);
        at += job.rows * width;
      }
    }
    const start = performance.now();
    const outputs = this.#model.predictBatch(values, rows, { margin });
    const us = (performance.now() - start) * 1000;
    this.#onScored?.(us / 1e6);
    this.#learn(rows, us);
    if (jobs.length === 1) {
      jobs[0].resolve(outputs);
      return;
    }
    const perRow = outputs.length / rows;
    let at = 0;
    for (const job of jobs) {
      job.resolve(outputs.subarray(at, at + job.rows * perRow));
      at += job.rows * perRow;
    }
  }

  /**
   * Follow the measured cost: a smoothed per-row cost beyond the calibrated overhead, learnt only
   * from calls with enough rows to show it (a 1-row call measures the overhead, and could drag the
   * estimate to 0 and inline everything), never below half the calibrated cost.
   */
  #learn(rows: number, us: number): void {
    if (rows < 8) return;
    const perRow = Math.max(0, us - this.#overheadUs) / rows;
    const next = 0.95 * this.#perRowUs + 0.05 * Math.min(perRow, 4 * this.#perRowUs);
    this.#perRowUs = Math.max(this.#calibratedPerRowUs / 2, next);
  }

  /** Measures the costs (#measure); a model that cannot score made-up rows is never inlined. */
  #calibrate(): void {
    try {
      this.#measure();
    } catch {
      // A model that refuses made-up rows (a OneHotEncoder that errors on unknown categories) is
      // scored on the threads only.
      this.#worthwhile = false;
    }
  }

  /**
   * The median time of a 1-row call and of a CALIBRATION_ROWS-row call, after a warm-up that also
   * gets the engine compiled and optimised in this thread before the first request needs it. Each
   * step stops early once it has spent CALIBRATION_STEP_MS (with a few samples at least), and when
   * one row alone costs more than the bound nothing can be inlined: the larger calls are skipped.
   * Without those limits a 2000-tree model spent half a second here, delaying every worker's start.
   */
  #measure(): void {
    const nf = this.#model.numFeature;
    const values = numbers(this.#model.rowPrecision, CALIBRATION_ROWS * nf);
    // Deterministic values of mixed magnitude, some missing, so rows take varied paths.
    let state = 12345;
    for (let i = 0; i < values.length; i++) {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      const u = state / 0x7fffffff;
      values[i] = u < 0.05 ? Number.NaN : (u - 0.5) * 10 ** Math.floor(u * 6 - 2);
    }
    const one = values.subarray(0, nf);
    const median = (rows: number, input: Numbers, times: number) => {
      const samples: number[] = [];
      const until = performance.now() + CALIBRATION_STEP_MS;
      for (let i = 0; i < times && (i < MIN_SAMPLES || performance.now() < until); i++) {
        const start = performance.now();
        this.#model.predictBatch(input, rows);
        samples.push((performance.now() - start) * 1000);
      }
      samples.sort((a, b) => a - b);
      return samples[samples.length >> 1];
    };
    median(1, one, 500); // warm-up
    const t1 = median(1, one, 301);
    if (t1 > this.#maxUs) {
      // Nothing will be inlined (#worthwhile stays false); predictions still say what a row costs.
      this.#perRowUs = t1;
      this.#calibratedPerRowUs = t1;
      this.#overheadUs = 0;
      return;
    }
    median(CALIBRATION_ROWS, values, 100); // warm-up
    const tn = median(CALIBRATION_ROWS, values, 101);
    this.#perRowUs = Math.max(0.01, (tn - t1) / (CALIBRATION_ROWS - 1));
    this.#calibratedPerRowUs = this.#perRowUs;
    this.#overheadUs = Math.max(0, t1 - this.#perRowUs);
    this.#worthwhile = this.#overheadUs <= this.#maxUs * MAX_OVERHEAD_SHARE;
  }
}
