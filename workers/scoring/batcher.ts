/**
 * Opportunistic batching in front of the scoring threads.
 *
 * Rows are handed to threads at the end of the event-loop turn in which they arrived (setImmediate),
 * so every request parsed in the same turn rides in one task, and an idle thread still gets work
 * within microseconds: batching adds no latency at low load. While every thread is busy, rows
 * from new requests wait here; when a thread frees up it takes the waiting rows as one task (up
 * to `maxBatchRows`), so the thread round trip is paid per batch, not per request. A large
 * request is cut so that idle threads share it. Each request gets back exactly its own rows'
 * outputs, in order.
 */
import { decodeResult, type ScoreTask } from "./protocol.js";

/** The piscina facade the batcher drives (see scoring-pool.ts). */
export interface TaskRunner {
  readonly threads: number;
  run(task: ScoreTask, transfer: ArrayBuffer[]): Promise<ArrayBuffer>;
}

export interface BatcherOptions {
  numFeature: number;
  /** Margins per row, and predictions per row, of the model. */
  groups: number;
  width: number;
  maxBatchRows: number;
  /** Most rows allowed to wait for a thread; more → OverloadedError. */
  maxQueueRows: number;
  /**
   * Longest expected wait (ms) for a thread a request is admitted to while every thread is busy;
   * longer → OverloadedError. Keeps accepted requests fast under overload: excess is turned away
   * rather than queued behind work that cannot finish in time.
   */
  maxQueueWaitMs?: number;
  /** Do not cut work into parts smaller than this to share it between threads. */
  minSplitRows?: number;
  /** Called per task when it comes back: rows in it, seconds its thread spent scoring. */
  onBatch?: (rows: number, seconds: number) => void;
  /** Called per request part when it leaves the queue: seconds it waited. */
  onDispatch?: (rows: number, waitSeconds: number) => void;
  /** Tracing of the queue and the thread hop (tracing/otel.ts); absent, the batcher does none. */
  tracer?: BatchTracer;
}

/**
 * What the batcher tells a tracer. A task carries the rows of many requests, so the tracer gets
 * each request's captured trace context with its part of the task (and can link them), and the
 * timings: nothing crosses to the scoring thread but the rows.
 */
export interface BatchTracer {
  /** As a request's rows are queued: whatever identifies its trace (the active context). */
  capture(): unknown;
  /**
   * As a task leaves for a thread, at `at` (performance.now()): one part per request in it.
   * Returns what to call when the task comes back: the thread's scoring seconds, or its error.
   */
  dispatched(
    parts: readonly TracedPart[],
    at: number,
  ): (scoringSeconds: number | null, error?: unknown) => void;
}

export interface TracedPart {
  trace: unknown;
  rows: number;
  /** performance.now() when the request's rows were queued. */
  enqueuedAt: number;
  /** True when these are the request's last rows to leave the queue. */
  leftQueue: boolean;
}

export class OverloadedError extends Error {
  readonly code = "FORESTD_ERR_OVERLOADED";
  constructor(
    readonly queuedRows: number,
    readonly reason: "queue_full" | "queue_wait" = "queue_full",
  ) {
    super(
      reason === "queue_full"
        ? `too many rows waiting for a scoring thread (${queuedRows}); try again shortly`
        : `the expected wait for a scoring thread (${queuedRows} rows ahead) is longer than allowed (MAX_QUEUE_WAIT or this request's deadline); try again shortly`,
    );
    this.name = "OverloadedError";
  }
}

/** The request's deadline passed while its rows waited: they were not scored. */
export class DeadlinePassedError extends Error {
  readonly code = "FORESTD_ERR_DEADLINE";
  constructor(waitedMs: number) {
    super(
      `the request's deadline passed after ${Math.round(waitedMs)} ms in the queue; its rows were not scored`,
    );
    this.name = "DeadlinePassedError";
  }
}

interface Job {
  /** Test-only (scoring threads honour it with FORESTD_TEST_HOOKS=1): make the task hang. */
  hangMs: number;
  /** performance.now() after which the rows are not worth scoring. */
  deadline: number;
  values: Float32Array;
  rows: number;
  margin: boolean;
  output: Float32Array;
  remaining: number;
  settled: boolean;
  resolve: (output: Float32Array) => void;
  reject: (error: unknown) => void;
  enqueuedAt: number;
  /** The request's trace context, when tracing. */
  trace: unknown;
}

/** A run of rows of one job, waiting or in a task. */
interface Piece {
  job: Job;
  start: number;
  rows: number;
}

export class Batcher {
  readonly #pool: TaskRunner;
  readonly #o: Required<Omit<BatcherOptions, "onBatch" | "onDispatch" | "tracer">> &
    Pick<BatcherOptions, "onBatch" | "onDispatch" | "tracer">;
  #queue: Piece[] = [];
  #head = 0;
  #queuedRows = 0;
  #inFlight = 0;
  #pumpScheduled = false;
  /**
   * Smoothed rows per task and ms per task (scoring time on the thread); their ratio is the rate a thread
   * scores at, for expected-wait admission. A ratio of smoothed sums rather than a smoothed ratio:
   * small tasks, dominated by the round trip, must not make big queues look slow.
   */
  #taskRows = 0;
  #taskMs = 0;
  /** While rows wait, a sweep answers those whose deadline passes even if no thread frees up. */
  #sweep: NodeJS.Timeout | null = null;

  constructor(pool: TaskRunner, options: BatcherOptions) {
    this.#pool = pool;
    this.#o = { minSplitRows: 256, maxQueueWaitMs: Number.POSITIVE_INFINITY, ...options };
  }

  /** Rows waiting for a thread. */
  get queuedRows(): number {
    return this.#queuedRows;
  }

  /** Tasks running on threads now. */
  get busyThreads(): number {
    return this.#inFlight;
  }

  /** Expected ms before rows queued now reach a thread, from recent scoring rates (0 when unknown). */
  get expectedWaitMs(): number {
    if (this.#taskRows === 0 || this.#queuedRows === 0) return 0;
    return (this.#queuedRows * this.#taskMs) / (this.#taskRows * this.#pool.threads);
  }

  /**
   * False while every thread is busy and rows queued now would wait longer than MAX_QUEUE_WAIT:
   * lets a request be turned away before its body is even read.
   */
  get admitting(): boolean {
    return this.#inFlight < this.#pool.threads || this.expectedWaitMs <= this.#o.maxQueueWaitMs;
  }

  /**
   * Scores `rows` rows; resolves with `rows × (margin ? groups : width)` outputs. Rows still
   * waiting `timeoutMs` from now are not scored: the promise rejects with DeadlinePassedError.
   */
  submit(
    values: Float32Array,
    rows: number,
    margin: boolean,
    timeoutMs = Number.POSITIVE_INFINITY,
    test: { hangMs?: number } = {},
  ): Promise<Float32Array> {
    const width = margin ? this.#o.groups : this.#o.width;
    if (rows === 0) return Promise.resolve(new Float32Array(0));
    const idle = this.#pool.threads - this.#inFlight;
    if (this.#queuedRows + rows > this.#o.maxQueueRows + idle * this.#o.maxBatchRows) {
      return Promise.reject(new OverloadedError(this.#queuedRows));
    }
    if (idle === 0 && this.expectedWaitMs > Math.min(timeoutMs, this.#o.maxQueueWaitMs)) {
      return Promise.reject(new OverloadedError(this.#queuedRows, "queue_wait"));
    }
    return new Promise<Float32Array>((resolve, reject) => {
      const job: Job = {
        hangMs: test.hangMs ?? 0,
        deadline: performance.now() + timeoutMs,
        values,
        rows,
        margin,
        output: new Float32Array(rows * width),
        remaining: rows,
        settled: false,
        resolve,
        reject,
        enqueuedAt: performance.now(),
        trace: this.#o.tracer?.capture(),
      };
      this.#queue.push({ job, start: 0, rows });
      this.#queuedRows += rows;
      if (Number.isFinite(timeoutMs) && this.#sweep === null) {
        this.#sweep = setInterval(() => this.#expireOverdue(), 25);
        this.#sweep.unref();
      }
      this.#schedulePump();
    });
  }

  /** Pumps once at the end of this event-loop turn, after every request parsed in it has queued. */
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Hands waiting rows to idle threads, sharing them out evenly. */
  #pump(): void {
    while (this.#inFlight < this.#pool.threads && this.#head < this.#queue.length) {
      const idle = this.#pool.threads - this.#inFlight;
      const share = Math.ceil(this.#queuedRows / idle);
      const target = Math.min(this.#o.maxBatchRows, Math.max(this.#o.minSplitRows, share));
      const pieces: Piece[] = [];
      let total = 0;
      const now = performance.now();
      while (total < target && this.#head < this.#queue.length) {
        const next = this.#queue[this.#head];
        if (next.rows === 0 || next.job.settled || next.job.deadline < now) {
          // Not worth scoring: its deadline passed (or another part already failed it).
          this.#expire(next.job, now);
          this.#queuedRows -= next.rows;
          next.rows = 0;
          this.#head++;
          continue;
        }
        const take = Math.min(next.rows, target - total);
        pieces.push({ job: next.job, start: next.start, rows: take });
        total += take;
        next.start += take;
        next.rows -= take;
        if (next.rows === 0) this.#head++;
      }
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#queuedRows -= total;
      if (total > 0) this.#dispatch(pieces, total);
    }
  }

  #expireOverdue(): void {
    const now = performance.now();
    for (let i = this.#head; i < this.#queue.length; i++) {
      const piece = this.#queue[i];
      if (piece.rows > 0 && !piece.job.settled && piece.job.deadline < now) {
        this.#expire(piece.job, now);
        this.#queuedRows -= piece.rows;
        piece.rows = 0;
      }
    }
    if (this.#head >= this.#queue.length && this.#sweep !== null) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
  }

  #expire(job: Job, now: number): void {
    if (job.settled) return;
    job.settled = true;
    job.reject(new DeadlinePassedError(now - job.enqueuedAt));
  }

  #dispatch(pieces: Piece[], rows: number): void {
    const nf = this.#o.numFeature;
    const now = performance.now();
    let values: Float32Array;
    const only = pieces[0];
    if (
      pieces.length === 1 &&
      only.start === 0 &&
      only.rows === only.job.rows &&
      ownsBuffer(only.job.values)
    ) {
      values = only.job.values; // a whole request: move its buffer, no copy
    } else {
      values = new Float32Array(rows * nf);
      let at = 0;
      for (const p of pieces) {
        values.set(p.job.values.subarray(p.start * nf, (p.start + p.rows) * nf), at);
        at += p.rows * nf;
      }
    }
    const task: ScoreTask = { values, rows, wantMargins: false, wantPredictions: false };
    for (const p of pieces) {
      this.#o.onDispatch?.(p.rows, (now - p.job.enqueuedAt) / 1000);
      if (p.job.margin) task.wantMargins = true;
      else task.wantPredictions = true;
      if (p.job.hangMs > (task.hangMs ?? 0)) task.hangMs = p.job.hangMs;
    }
    const traced = this.#o.tracer?.dispatched(
      pieces.map((p) => ({
        trace: p.job.trace,
        rows: p.rows,
        enqueuedAt: p.job.enqueuedAt,
        leftQueue: p.start + p.rows === p.job.rows,
      })),
      now,
    );
    this.#inFlight++;
    this.#pool
      .run(task, [values.buffer as ArrayBuffer])
      .then((buffer) => {
        const result = decodeResult(buffer, task, this.#o.groups, this.#o.width);
        this.#o.onBatch?.(rows, result.seconds);
        // The thread's own scoring time, not the round trip: the round trip also counts event-loop
        // delay in this process, which would make a busy-but-keeping-up worker look slow.
        const ms = Math.max(0.001, result.seconds * 1000);
        const first = this.#taskRows === 0;
        this.#taskRows = first ? rows : 0.8 * this.#taskRows + 0.2 * rows;
        this.#taskMs = first ? ms : 0.8 * this.#taskMs + 0.2 * ms;
        let offset = 0;
        for (const p of pieces) {
          const job = p.job;
          const source = (job.margin ? result.margins : result.predictions) as Float32Array;
          const w = job.margin ? this.#o.groups : this.#o.width;
          if (!job.settled) {
            job.output.set(source.subarray(offset * w, (offset + p.rows) * w), p.start * w);
            job.remaining -= p.rows;
            if (job.remaining === 0) {
              job.settled = true;
              job.resolve(job.output);
            }
          }
          offset += p.rows;
        }
        traced?.(result.seconds);
      })
      .catch((error: unknown) => {
        traced?.(null, error);
        for (const p of pieces) {
          if (!p.job.settled) {
            p.job.settled = true;
            p.job.reject(error);
          }
        }
      })
      .finally(() => {
        this.#inFlight--;
        this.#pump();
      });
  }
}

/** True when the array spans its whole buffer, so transferring the buffer moves nothing else. */
function ownsBuffer(a: Float32Array): boolean {
  return (
    a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !(a.buffer instanceof SharedArrayBuffer)
  );
}
