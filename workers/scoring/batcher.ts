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
 *
 * Several models share one pool (a model repository): each model version has its own Batcher (its
 * own queue, rates, MAX_QUEUE and MAX_QUEUE_WAIT) and they take turns at the pool's threads through
 * one ThreadShare: the next task goes to the waiting model that has had the least thread time (start-
 * time fair queuing on the measured cost of its tasks; a model with work again starts at the virtual
 * time, the start of the last task dispatched). While more than one model is active, each task is
 * kept short (CONTENDED_TASK_MS of measured work) and a thread holds no next task in its port, so a
 * model under overload delays another model's request by at most the rest of the one short task a
 * thread is on: the next task is chosen when a thread frees, with the request that arrived meanwhile
 * among the candidates; a model's expected wait (admission) counts the others' queues as processor
 * sharing would: each other model's waiting work up to its own. With one model active nothing
 * changes.
 */
import type { ExplainKind } from "../../model/outputs.js";

/** What a request wants back. Predictions and margins ride in the same tasks; each explanation kind in its own. */
export type JobOutput = "prediction" | "margin" | ExplainKind;
/** Outputs that share tasks, and whose cost per row is measured separately. */
export type TaskClass = "score" | ExplainKind;
const TASK_CLASSES: readonly TaskClass[] = ["score", "contribs", "interactions", "leaf"];

function taskClass(output: JobOutput): TaskClass {
  return output === "prediction" || output === "margin" ? "score" : output;
}

import { DeadlineError, OverloadedError } from "../http/errors.js";
import {
  decodeExplainResult,
  decodeResult,
  type Numbers,
  type NumberType,
  numbers,
  type ScoreTask,
  wasSkipped,
} from "./protocol.js";

/** The piscina facade the batcher drives (see scoring-pool.ts). */
export interface TaskRunner {
  readonly threads: number;
  /**
   * Tasks a thread may hold at once (default 1): the one it scores and the next, already in its
   * port. With 2, a thread that finishes starts on the next task at once, without waiting for this
   * event loop to take its result and hand it more — which, on a loop busy turning requests away,
   * is a whole loop turn during which the thread does nothing. While several models contend the
   * batcher gives each thread one task at a time (ThreadShare.pump).
   */
  readonly tasksPerThread?: number;
  run(task: ScoreTask, transfer: ArrayBuffer[]): Promise<ArrayBuffer>;
}

export interface BatcherOptions {
  numFeature: number;
  /** The array type of the model's rows and of its margins and predictions (default float32). */
  rowType?: NumberType;
  outputType?: NumberType;
  /** Margins per row, and predictions per row, of the model. */
  groups: number;
  width: number;
  /** Values per row of each explanation (model/outputs.ts explainWidth). */
  explainWidths?: Readonly<Record<ExplainKind, number>>;
  /** The array type of each explanation (model/outputs.ts explainPrecision; default float32). */
  explainTypes?: Readonly<Record<ExplainKind, NumberType>>;
  maxBatchRows: number;
  /** Most rows allowed to wait for a thread; more → OverloadedError. */
  maxQueueRows: number;
  /**
   * Longest expected wait (ms) behind rows already queued or held for a busy thread that a request
   * is admitted to, threads idle or not; longer → OverloadedError. Keeps accepted requests fast
   * under overload: excess is turned away rather than queued behind work that cannot finish in time.
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
  /** The model version's id in the pool (ScoreTask.model): which model a thread scores the task with. */
  modelId?: number;
  /** The model version's name and version, for the tracer. */
  model?: { name: string; version: string };
}

/**
 * While more than one model is active, a task holds at most this many ms of measured work: how
 * long another model's request may wait behind it for a thread. Measured on the contended machine
 * (docs/performance.md, many models): with 5 ms B's p50 beside A's flood was ~17–19 ms against ~5 ms
 * alone, with 2 ms ~11 ms; the round trip a task costs (~20–30 µs) is ~1–2% of a 2 ms task.
 */
export const CONTENDED_TASK_MS = 2;
/** A model is active while it has rows waiting or in a task, or got a request this recently (ms). */
export const ACTIVE_MS = 100;
/**
 * CPU a request turned away at the shed gate costs the worker (its head parsed, its body read and
 * dropped, the 503 written): up to ~0.1 ms measured (docs/performance.md, overload). Charged to its
 * model's thread time, so that a model flooding the worker pays for the CPU its rejections take
 * from the others' scoring (the worker's CPU is shared fairly, not only its threads).
 */
export const SHED_COST_MS = 0.1;

/**
 * The pool's threads, shared by every model's Batcher: tasks in flight (the pool's, whoever's),
 * and whose turn it is. A Batcher made on a bare TaskRunner has a share of its own.
 */
export class ThreadShare {
  readonly runner: TaskRunner;
  /** Tasks in flight, in dispatch order: beyond the first `threads`, they wait in a thread's port. */
  readonly tasks: InFlight[] = [];
  readonly #members: Batcher[] = [];
  #turn = 0;
  #pumpScheduled = false;
  /**
   * Start-time fair queuing's virtual time: the thread time (servedMs) at which the last task
   * dispatched started, whichever model's; it only grows. A model that has work again starts here.
   */
  #virtualMs = 0;

  /** How long after its last request a model still counts as active (contended); ACTIVE_MS but in tests. */
  readonly #activeMs: number;

  constructor(runner: TaskRunner, activeMs = ACTIVE_MS) {
    this.#activeMs = activeMs;
    this.runner = runner;
  }

  get threads(): number {
    return this.runner.threads;
  }

  /** Tasks in flight, whichever model's. */
  get inFlight(): number {
    return this.tasks.length;
  }

  join(batcher: Batcher): void {
    if (!this.#members.includes(batcher)) this.#members.push(batcher);
  }

  /** A model unloaded: its batcher takes no more turns (what it has in flight still comes back). */
  leave(batcher: Batcher): void {
    const i = this.#members.indexOf(batcher);
    if (i >= 0) this.#members.splice(i, 1);
  }

  /** More than one model is active now: tasks are kept short (CONTENDED_TASK_MS). */
  contended(now = performance.now()): boolean {
    let active = 0;
    for (const b of this.#members) if (b.activeAt(now, this.#activeMs) && ++active > 1) return true;
    return false;
  }

  /**
   * The other models' waiting work that goes before `except`'s: only models that have had no more
   * thread time than it (the fair choice serves them first), each counted up to `cap` ms, the
   * work of `except`'s own it would be interleaved with.
   */
  othersWaitingMs(except: Batcher, cap: number): number {
    let ms = 0;
    for (const b of this.#members)
      if (b !== except && b.servedMs <= except.servedMs) ms += Math.min(cap, b.queuedMs());
    return ms;
  }

  /** Ms of the tasks held in busy threads' ports (beyond the first `threads` in flight). */
  heldMs(): number {
    let ms = 0;
    for (let i = this.threads; i < this.tasks.length; i++) ms += this.tasks[i].owner.msOf(this.tasks[i]);
    return ms;
  }

  /** Rows of the tasks held in busy threads' ports. */
  heldRows(): number {
    let rows = 0;
    for (let i = this.threads; i < this.tasks.length; i++) rows += this.tasks[i].rows;
    return rows;
  }

  /** Pumps once at the end of this event-loop turn, after every request parsed in it has queued. */
  schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * While a slot is free, the next model with rows waiting (the fair choice) hands one task to the
   * pool. Alone, a model has `tasksPerThread` slots per thread (a thread's next task waits in its
   * port, so it need not wait for a busy event loop between tasks). While models contend, one
   * per thread, and short: a task in a port is committed before whatever arrives next, so another
   * model's request arriving meanwhile would wait for two of the flooding model's tasks instead of
   * the rest of one; and a thread that ends its task with nothing in its port leaves its CPU to the
   * event loop, which then reads and answers the other models' requests at once rather than at the
   * end of the thread's time slice (a loop sharing the thread's CPU, LOOP_SCHED=batch).
   */
  pump(): void {
    const perThread = this.runner.tasksPerThread ?? 1;
    for (;;) {
      const contended = this.#members.length > 1 && this.contended();
      if (this.inFlight >= this.threads * (contended ? 1 : perThread)) return;
      const batcher = this.#nextWaiting();
      if (batcher === null) return;
      batcher.takeTurn(contended);
    }
  }

  /**
   * The model whose rows wait and which has had the least thread time (the measured cost of the
   * tasks it was given): a model with small requests then gets its share of the threads against
   * one with big ones, whichever offers more. Ties go round robin.
   */
  #nextWaiting(): Batcher | null {
    const n = this.#members.length;
    let best: Batcher | null = null;
    let bestAt = 0;
    for (let k = 0; k < n; k++) {
      const i = (this.#turn + k) % n;
      const b = this.#members[i];
      if (b.hasWaiting && (best === null || b.servedMs < best.servedMs)) {
        best = b;
        bestAt = i;
      }
    }
    if (best !== null) this.#turn = (bestAt + 1) % n;
    return best;
  }

  /**
   * A model that had nothing waiting or in flight has work again: it starts at the virtual time
   * (start-time fair queuing), neither with the credit of the time it was idle nor behind a model
   * that was idle while it was served. (Starting level with the least served busy model instead,
   * a model woken after a long run alone — B measured and served alone, then A flooding after an
   * idle spell — waited until the other had caught up its whole run: seconds without a task.)
   */
  woke(batcher: Batcher): void {
    batcher.servedMs = Math.max(batcher.servedMs, this.#virtualMs);
  }

  /** A task of a model whose thread time was `startMs` before it is dispatched (the virtual time moves on). */
  started(startMs: number): void {
    if (startMs > this.#virtualMs) this.#virtualMs = startMs;
  }
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
   * As a task of `work` (predictions and margins, or one explanation kind) leaves for a thread, at
   * `at` (performance.now()): one part per request in it. It may wait in the thread's port behind
   * the task the thread is on (TaskRunner.tasksPerThread), so the thread's own scoring seconds are
   * reported apart. Returns what to call when the task comes back: those seconds, or its error
   * (a task the thread skipped, every deadline in it passed, is an error too).
   */
  dispatched(
    parts: readonly TracedPart[],
    at: number,
    work: TaskClass,
    /** The model version the task scores with (its span's forestd.model attributes). */
    model?: { name: string; version: string },
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

interface Job {
  /** performance.now() after which the rows are not worth scoring. */
  deadline: number;
  values: Numbers;
  rows: number;
  kind: JobOutput;
  /**
   * Where the outputs of a job cut into several tasks are put together, made when its first part
   * comes back; a job scored whole in one task is answered with a view of that task's result
   * instead (no copy).
   */
  output: Numbers | null;
  remaining: number;
  settled: boolean;
  resolve: (output: Numbers) => void;
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

interface InFlight {
  rows: number;
  cls: TaskClass;
  pieces: Piece[];
  owner: Batcher;
}

export class Batcher {
  readonly #share: ThreadShare;
  readonly #o: Required<Omit<BatcherOptions, "onBatch" | "onDispatch" | "tracer" | "model">> &
    Pick<BatcherOptions, "onBatch" | "onDispatch" | "tracer" | "model">;
  #queue: Piece[] = [];
  #head = 0;
  #queuedRows = 0;
  /** Rows waiting, per task class: an explanation row costs far more than a prediction row. */
  readonly #queuedByClass: Record<TaskClass, number> = { score: 0, contribs: 0, interactions: 0, leaf: 0 };
  /** This model's tasks in flight. */
  #ownInFlight = 0;
  /** performance.now() of the last request queued (ThreadShare.contended). */
  #lastSubmitAt = Number.NEGATIVE_INFINITY;
  /** Thread time given to this model's tasks, as measured rates put it (ThreadShare's fair choice). */
  servedMs = 0;
  /**
   * Per task class, smoothed rows per task and ms per task (scoring time on the thread); their
   * ratio is the rate a thread works at, for expected-wait admission. A ratio of smoothed sums
   * rather than a smoothed ratio: small tasks, dominated by the round trip, must not make big
   * queues look slow. Measured, per class, because a SHAP row costs 10³–10⁵ prediction rows.
   */
  readonly #taskRows: Record<TaskClass, number> = { score: 0, contribs: 0, interactions: 0, leaf: 0 };
  readonly #taskMs: Record<TaskClass, number> = { score: 0, contribs: 0, interactions: 0, leaf: 0 };
  /** While rows wait, a sweep answers those whose deadline passes even if no thread frees up. */
  #sweep: NodeJS.Timeout | null = null;

  /** `pool`: the pool itself (this model has it alone), or the share of it every model's batcher uses. */
  constructor(pool: TaskRunner | ThreadShare, options: BatcherOptions) {
    this.#share = pool instanceof ThreadShare ? pool : new ThreadShare(pool);
    this.#share.join(this);
    this.#o = {
      minSplitRows: 256,
      rowType: "f32",
      outputType: "f32",
      maxQueueWaitMs: Number.POSITIVE_INFINITY,
      explainWidths: { contribs: 0, interactions: 0, leaf: 0 },
      explainTypes: { contribs: "f32", interactions: "f32", leaf: "f32" },
      modelId: 0,
      ...options,
    };
  }

  /** A request of this model was turned away at the gate: its CPU counts against the model's share. */
  shed(): void {
    this.servedMs += SHED_COST_MS;
  }

  /** Takes no more turns at the pool (its model is unloaded); what is in flight still comes back. */
  close(): void {
    this.#share.leave(this);
  }

  /** Rows waiting here or in a task: the model version can go once this is false. */
  get busy(): boolean {
    return this.#queuedRows > 0 || this.#ownInFlight > 0;
  }

  /** Rows waiting here (ThreadShare's round robin). */
  get hasWaiting(): boolean {
    return this.#head < this.#queue.length;
  }

  /** Waiting here, in a task, or a request queued within `activeMs` (ACTIVE_MS). */
  activeAt(now: number, activeMs = ACTIVE_MS): boolean {
    return this.#queuedRows > 0 || this.#ownInFlight > 0 || now - this.#lastSubmitAt < activeMs;
  }

  /** Expected ms of the work waiting here, from the measured rates. */
  queuedMs(): number {
    let ms = 0;
    for (const c of TASK_CLASSES)
      if (this.#queuedByClass[c] > 0) ms += this.#queuedByClass[c] * this.#rateOf(c);
    return ms;
  }

  /** Expected ms of one of this model's tasks in flight. */
  msOf(task: InFlight): number {
    return task.rows * this.#rateOf(task.cls);
  }

  /** ms per row of a class; a class not measured yet is assumed to cost what the dearest measured one does. */
  #rateOf(c: TaskClass): number {
    let rate = this.#msPerRow(c);
    if (rate === 0) for (const other of TASK_CLASSES) rate = Math.max(rate, this.#msPerRow(other));
    return rate;
  }

  /** Measured ms per row of a task class on a thread, or 0 before its first task. */
  #msPerRow(c: TaskClass): number {
    return this.#taskRows[c] === 0 ? 0 : this.#taskMs[c] / this.#taskRows[c];
  }

  /**
   * What one row of `output` costs, in prediction rows, as measured on the threads: the weight
   * its rows carry in the queue bound and the batch size. 1 until both rates are known.
   */
  costFactor(output: JobOutput): number {
    const c = taskClass(output);
    const score = this.#msPerRow("score");
    const mine = this.#msPerRow(c);
    return c === "score" || score === 0 || mine === 0 ? 1 : Math.max(1, mine / score);
  }

  /** Waiting rows weighed by their cost, in prediction rows. */
  #queuedCost(): number {
    let cost = 0;
    for (const c of TASK_CLASSES)
      if (this.#queuedByClass[c] > 0) cost += this.#queuedByClass[c] * this.#factorOf(c);
    return cost;
  }

  #factorOf(c: TaskClass): number {
    return c === "score" ? 1 : this.costFactor(c);
  }

  /** Rows waiting for a thread. */
  get queuedRows(): number {
    return this.#queuedRows;
  }

  /** Threads with a task now (any model's). */
  get busyThreads(): number {
    return Math.min(this.#share.inFlight, this.#share.threads);
  }

  /** Rows ahead of a request queued now: waiting here, and handed to a thread that is still busy. */
  get #rowsAhead(): number {
    return this.#queuedRows + this.#share.heldRows();
  }

  /**
   * Expected ms before rows queued now reach a thread, from recent scoring rates (0 when unknown):
   * this model's waiting work, tasks held for busy threads, and the waiting work of the other
   * models the fair choice serves first (those that have had less thread time), each up to this
   * model's own.
   */
  get expectedWaitMs(): number {
    // Nothing queued and no task held for a busy thread: the common case, asked by the shed gate
    // for every scoring request, inline ones included.
    if (this.#queuedRows === 0 && this.#share.inFlight <= this.#share.threads) return 0;
    const own = this.queuedMs();
    const ms = own + this.#share.heldMs() + (own > 0 ? this.#share.othersWaitingMs(this, own) : 0);
    return ms / this.#share.threads;
  }

  /**
   * False while rows queued now would wait longer than MAX_QUEUE_WAIT (behind rows already
   * queued, idle threads or not, and tasks held for busy threads): lets a request be turned away
   * before its body is even read.
   */
  get admitting(): boolean {
    return this.expectedWaitMs <= this.#o.maxQueueWaitMs;
  }

  /**
   * Scores `rows` rows; resolves with `rows × (margin ? groups : width)` outputs (a request scored
   * whole in one task gets a view of that task's result, which other requests' outputs may share:
   * read it, do not move its buffer). Rows on a SharedArrayBuffer are read by the thread where they
   * lie; others are moved to it when they fill their buffer, else copied. Rows still waiting
   * `timeoutMs` from now are not scored: the promise rejects with DeadlineError.
   */
  submit(
    values: Numbers,
    rows: number,
    margin: boolean,
    timeoutMs = Number.POSITIVE_INFINITY,
  ): Promise<Numbers> {
    return this.#enqueue(values, rows, margin ? "margin" : "prediction", timeoutMs);
  }

  /**
   * An explanation of `rows` rows (model/outputs.ts): resolves with rows × its width values. Same
   * queue, admission and deadline as `submit`, with rows weighed by their measured cost.
   */
  explain(
    values: Numbers,
    rows: number,
    kind: ExplainKind,
    timeoutMs = Number.POSITIVE_INFINITY,
  ): Promise<Numbers> {
    return this.#enqueue(values, rows, kind, timeoutMs);
  }

  #widthOf(kind: JobOutput): number {
    if (kind === "prediction") return this.#o.width;
    if (kind === "margin") return this.#o.groups;
    return this.#o.explainWidths[kind];
  }

  /** Margins and predictions are in the model's output type; explanations in their own (explainTypes). */
  #typeOf(kind: JobOutput): NumberType {
    return kind === "margin" || kind === "prediction" ? this.#o.outputType : this.#o.explainTypes[kind];
  }

  #outputOf(kind: JobOutput, length: number): Numbers {
    return numbers(this.#typeOf(kind), length);
  }

  #enqueue(values: Numbers, rows: number, kind: JobOutput, timeoutMs: number): Promise<Numbers> {
    if (rows === 0) return Promise.resolve(this.#outputOf(kind, 0));
    const idle = Math.max(0, this.#share.threads - this.#share.inFlight);
    // Rows weigh their measured cost once anything waits. A request that finds nothing waiting
    // counts its own rows (how long it may wait behind running tasks is MAX_QUEUE_WAIT's to say):
    // weighed, 40 contribs rows of a 500-tree model (2 500× a prediction row beside the SIMD
    // kernel) were refused as "too many rows waiting (0)" with nothing waiting, and always would be.
    const cost = this.#queuedRows === 0 ? rows : rows * this.costFactor(kind);
    if (this.#queuedCost() + cost > this.#o.maxQueueRows + idle * this.#o.maxBatchRows) {
      return Promise.reject(
        new OverloadedError(
          `too many rows waiting for a scoring thread (${this.#queuedRows}); try again shortly`,
        ),
      );
    }
    // Idle threads too: rows queued in this turn are scored together at its end, so a request
    // queued behind them waits for them as surely as behind a busy thread. (Checked only when
    // no thread was idle, a retry storm whose requests all arrived in one turn of an idle
    // thread was admitted whole: 30 requests of 10 ms in one task, an accepted p99 of 300–700 ms.)
    if (this.expectedWaitMs > Math.min(timeoutMs, this.#o.maxQueueWaitMs)) {
      return Promise.reject(
        new OverloadedError(
          `the expected wait for a scoring thread (${this.#rowsAhead} rows ahead) is longer than allowed (MAX_QUEUE_WAIT or this request's deadline); try again shortly`,
        ),
      );
    }
    if (!this.busy) this.#share.woke(this);
    return new Promise<Numbers>((resolve, reject) => {
      const job: Job = {
        deadline: performance.now() + timeoutMs,
        values,
        rows,
        kind,
        output: null,
        remaining: rows,
        settled: false,
        resolve,
        reject,
        enqueuedAt: performance.now(),
        trace: this.#o.tracer?.capture(),
      };
      this.#queue.push({ job, start: 0, rows });
      this.#queuedRows += rows;
      this.#queuedByClass[taskClass(kind)] += rows;
      if (Number.isFinite(timeoutMs) && this.#sweep === null) {
        this.#sweep = setInterval(() => this.#expireOverdue(), 25);
        this.#sweep.unref();
      }
      this.#lastSubmitAt = performance.now();
      this.#share.schedulePump();
    });
  }

  /**
   * One turn at the pool (ThreadShare.pump): the oldest waiting rows, as one task. Idle threads
   * share what waits evenly; with none idle, a busy thread's next task takes its share (whatever
   * waits, up to MAX_BATCH_ROWS). While models contend, a task holds at most CONTENDED_TASK_MS of
   * measured work. Rows past their deadline are answered and dropped on the way.
   */
  takeTurn(contended: boolean): void {
    if (this.#head < this.#queue.length) {
      const threads = this.#share.threads;
      const idle = threads - this.#share.inFlight;
      // One task holds one class of work: the class of the oldest waiting rows.
      const cls = taskClass(this.#queue[this.#head].job.kind);
      const share = Math.ceil(this.#queuedByClass[cls] / (idle > 0 ? idle : threads));
      const factor = this.#factorOf(cls);
      let target =
        cls === "score"
          ? Math.min(this.#o.maxBatchRows, Math.max(this.#o.minSplitRows, share))
          : Math.max(1, Math.min(Math.floor(this.#o.maxBatchRows / factor), share));
      const rate = this.#msPerRow(cls);
      if (contended && rate > 0) target = Math.min(target, Math.max(1, Math.floor(CONTENDED_TASK_MS / rate)));
      const pieces: Piece[] = [];
      let total = 0;
      const now = performance.now();
      while (total < target && this.#head < this.#queue.length) {
        const next = this.#queue[this.#head];
        if (next.rows === 0 || next.job.settled || next.job.deadline < now) {
          // Not worth scoring: its deadline passed (or another part already failed it).
          this.#expire(next.job, now);
          this.#dequeued(next.job, next.rows);
          next.rows = 0;
          this.#head++;
          continue;
        }
        if (taskClass(next.job.kind) !== cls) break;
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
      for (const p of pieces) this.#dequeued(p.job, p.rows);
      if (total > 0) this.#dispatch(pieces, total, cls);
    }
  }

  #dequeued(job: Job, rows: number): void {
    this.#queuedRows -= rows;
    this.#queuedByClass[taskClass(job.kind)] -= rows;
  }

  #expireOverdue(): void {
    const now = performance.now();
    for (let i = this.#head; i < this.#queue.length; i++) {
      const piece = this.#queue[i];
      if (piece.rows > 0 && !piece.job.settled && piece.job.deadline < now) {
        this.#expire(piece.job, now);
        this.#dequeued(piece.job, piece.rows);
        piece.rows = 0;
      }
    }
    // Tasks waiting in a busy thread's port: their requests are answered at their deadline too (the
    // thread skips the task if every deadline in it has passed when it gets to it).
    const tasks = this.#share.tasks;
    let waiting = false;
    for (let i = this.#share.threads; i < tasks.length; i++) {
      if (tasks[i].owner !== this) continue;
      waiting = true;
      for (const piece of tasks[i].pieces) {
        if (!piece.job.settled && piece.job.deadline < now) this.#expire(piece.job, now);
      }
    }
    if (this.#head >= this.#queue.length && !waiting && this.#sweep !== null) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
  }

  #expire(job: Job, now: number): void {
    if (job.settled) return;
    job.settled = true;
    job.reject(
      new DeadlineError(
        `the request's deadline passed after ${Math.round(now - job.enqueuedAt)} ms in the queue; its rows were not scored`,
      ),
    );
  }

  #dispatch(pieces: Piece[], rows: number, cls: TaskClass): void {
    const nf = this.#o.numFeature;
    const now = performance.now();
    let values: Numbers;
    let transfer: ArrayBuffer[];
    const only = pieces[0];
    if (pieces.length === 1 && only.job.values.buffer instanceof SharedArrayBuffer) {
      // Rows in shared memory (a binary body read into it: binary-body.ts): the thread reads this
      // request's part where it lies, whole or cut, with nothing copied or moved.
      values = only.job.values.subarray(only.start * nf, (only.start + only.rows) * nf);
      transfer = [];
    } else if (
      pieces.length === 1 &&
      only.start === 0 &&
      only.rows === only.job.rows &&
      ownsBuffer(only.job.values)
    ) {
      values = only.job.values; // a whole request: move its buffer, no copy
      transfer = [values.buffer as ArrayBuffer];
    } else {
      values = numbers(this.#o.rowType ?? "f32", rows * nf);
      let at = 0;
      for (const p of pieces) {
        values.set(p.job.values.subarray(p.start * nf, (p.start + p.rows) * nf), at);
        at += p.rows * nf;
      }
      transfer = [values.buffer as ArrayBuffer];
    }
    const task: ScoreTask = {
      model: this.#o.modelId,
      values,
      rows,
      wantMargins: false,
      wantPredictions: false,
    };
    if (cls !== "score") task.explain = cls;
    let latest = Number.NEGATIVE_INFINITY;
    for (const p of pieces) {
      latest = Math.max(latest, p.job.deadline);
      this.#o.onDispatch?.(p.rows, (now - p.job.enqueuedAt) / 1000);
      if (p.job.kind === "margin") task.wantMargins = true;
      else if (p.job.kind === "prediction") task.wantPredictions = true;
    }
    // Threads share no clock origin with this one: the deadline crosses as epoch ms.
    if (Number.isFinite(latest)) task.notAfter = Date.now() + (latest - now);
    // Only with tracing on: without a tracer the parts are never even listed.
    const traced = this.#o.tracer?.dispatched(
      pieces.map((p) => ({
        trace: p.job.trace,
        rows: p.rows,
        enqueuedAt: p.job.enqueuedAt,
        leftQueue: p.start + p.rows === p.job.rows,
      })),
      now,
      cls,
      this.#o.model,
    );
    const inFlight: InFlight = { rows, cls, pieces, owner: this };
    // Charged at dispatch with the measured rate (a first task, unmeasured, counts a row as 1 µs).
    this.#share.started(this.servedMs);
    this.servedMs += rows * (this.#rateOf(cls) || 0.001);
    this.#share.tasks.push(inFlight);
    this.#ownInFlight++;
    this.#share.runner
      .run(task, transfer)
      .then((buffer) => {
        if (wasSkipped(buffer)) {
          // Skipped by the thread: every deadline in it had passed (see #expireOverdue).
          for (const p of pieces) this.#expire(p.job, performance.now());
          traced?.(null, new DeadlineError("skipped by its thread: every deadline in the task had passed"));
          return;
        }
        const result =
          cls === "score"
            ? decodeResult(buffer, task, this.#o.groups, this.#o.width, this.#o.outputType)
            : {
                ...decodeExplainResult(buffer, rows, this.#widthOf(cls), this.#typeOf(cls)),
                margins: null,
                predictions: null,
              };
        this.#o.onBatch?.(rows, result.seconds);
        // The thread's own scoring time, not the round trip: the round trip also counts event-loop
        // delay in this process, which would make a busy-but-keeping-up worker look slow.
        const ms = Math.max(0.001, result.seconds * 1000);
        const first = this.#taskRows[cls] === 0;
        this.#taskRows[cls] = first ? rows : 0.8 * this.#taskRows[cls] + 0.2 * rows;
        this.#taskMs[cls] = first ? ms : 0.8 * this.#taskMs[cls] + 0.2 * ms;
        let offset = 0;
        for (const p of pieces) {
          const job = p.job;
          const source = (
            "outputs" in result ? result.outputs : job.kind === "margin" ? result.margins : result.predictions
          ) as Numbers;
          const w = this.#widthOf(job.kind);
          if (!job.settled) {
            const part = source.subarray(offset * w, (offset + p.rows) * w);
            if (p.rows === job.rows) {
              // The whole job was in this task: its outputs are its part of the result, as they lie.
              job.settled = true;
              job.resolve(part);
            } else {
              job.output ??= this.#outputOf(job.kind, job.rows * w);
              job.output.set(part, p.start * w);
              job.remaining -= p.rows;
              if (job.remaining === 0) {
                job.settled = true;
                job.resolve(job.output);
              }
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
        this.#ownInFlight--;
        const tasks = this.#share.tasks;
        tasks.splice(tasks.indexOf(inFlight), 1);
        this.#share.pump();
      });
  }
}

/** True when the array spans its whole buffer, so transferring the buffer moves nothing else. */
function ownsBuffer(a: Numbers): boolean {
  return (
    a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !(a.buffer instanceof SharedArrayBuffer)
  );
}
