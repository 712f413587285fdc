/**
 * The model versions a worker serves, by name and version, each with its own queue (Batcher), inline
 * scorer and metrics, all sharing the worker's one pool of scoring threads (ThreadShare).
 *
 * The primary says what to serve as a whole set (contract/models.ts); `apply` makes the table match
 * it: versions that are new or changed are loaded first and then swapped in (a request resolves
 * its version once and finishes on it, so a replacement fails no request); versions no longer
 * listed stop being routed at once and are released once the requests and rows they hold are done.
 * Loading one version touches no other's queue or threads.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { Settings } from "../../config/settings.js";
import {
  type ModelIndexEntry,
  type ModelSet,
  type ModelSpec,
  versionKey,
  type WorkerModelsState,
} from "../../contract/models.js";
import type { Model } from "../../model/index.js";
import { columnLookup } from "../../model/index.js";
import { explainPrecision, explainWidth } from "../../model/outputs.js";
import { type RowsLayout, rowsLayout } from "../http/fast-rows.js";
import type { InlineTracer, ScoringDeps } from "../http/scoring.js";
import { type ServedModel, serveModel } from "../http/served-model.js";
import type { ModelMetrics, WorkerMetrics } from "../process/metrics.js";
import { Batcher, type BatchTracer, type ThreadShare } from "./batcher.js";
import { type InlineCalibration, InlineScorer } from "./inline-scorer.js";
import type { ThreadModelRef } from "./protocol.js";

/** One model version, loaded and routable. */
export interface ModelEntry extends ScoringDeps {
  /** Its id in the pool (ScoreTask.model). */
  readonly id: number;
  readonly key: string;
  readonly served: ServedModel;
  readonly batcher: Batcher;
  readonly inline: InlineScorer;
  readonly modelMetrics: ModelMetrics;
  /** Feature names → columns, and the fast readers' layouts, built once. */
  readonly columns: ReadonlyMap<string, number>;
  readonly layout: RowsLayout;
  /** Bytes its compiled model holds in this worker (forestd_model_bytes). */
  readonly bytes: number;
  /** Requests being answered by it now (it is released only when none is). */
  active: number;
}

/**
 * What loads a model version for the table: the engine's model (in shared memory), how threads get
 * it, the bytes it holds, and its inline costs as measured where it was loaded.
 */
export type ModelLoader = (spec: ModelSpec) => Promise<{
  model: Model;
  thread: ThreadModelRef;
  bytes: number;
  calibration?: InlineCalibration;
}>;

/** The pool's side of model versions: threads are told which ids name what, and to drop them. */
export interface ModelThreads {
  addModel(id: number, ref: ThreadModelRef): void;
  removeModel(id: number): void;
}

export interface ModelTableDeps {
  settings: Settings;
  share: ThreadShare;
  threads: ModelThreads;
  metrics: WorkerMetrics;
  loader: ModelLoader;
  /** The primary's generation of this worker (0 outside a cluster). */
  generation: number;
  tracer?: BatchTracer;
  inlineTracer?: InlineTracer;
  /** Told of every load, swap and release (the worker logs them). */
  onEvent?: (event: TableEvent) => void;
}

export type TableEvent =
  | {
      type: "loaded";
      name: string;
      version: string;
      sha256: string;
      ms: number;
      bytes: number;
      /** The longest the event loop was held up while the version loaded (ms): what the others' requests felt. */
      loopDelayMs: number;
    }
  | { type: "load-failed"; name: string; version: string; sha256: string; reason: string }
  | { type: "released"; name: string; version: string; sha256: string };

/** Why a request names no routable version: unknown, or known but not loaded (state, reason). */
export type Resolution =
  | { readonly entry: ModelEntry }
  | { readonly missing: "model" }
  | { readonly missing: "version"; readonly versions: readonly string[] }
  | { readonly missing: "ready"; readonly state: string; readonly reason: string };

/** The event-loop delay sampler's period while a version loads (ms): delays shorter than it do not show. */
const LOOP_DELAY_RESOLUTION_MS = 10;

/** How often a released version checks whether its last request is done (ms), and for how long at most. */
const RELEASE_POLL_MS = 50;

export class ModelTable {
  readonly #deps: ModelTableDeps;
  readonly #byKey = new Map<string, ModelEntry>();
  /** Per name, the version requests without a version get. */
  readonly #defaults = new Map<string, ModelEntry>();
  #index: readonly ModelIndexEntry[] = [];
  #defaultModel: string | null = null;
  #revision = 0;
  #nextId = 1;
  /** Sets are applied one after another; the latest waiting one wins. */
  #applying: Promise<void> = Promise.resolve();

  constructor(deps: ModelTableDeps) {
    this.#deps = deps;
  }

  /** The set's revision this table serves. */
  get revision(): number {
    return this.#revision;
  }

  /** The model /predict and /model answer for without a name. */
  get defaultModel(): string | null {
    return this.#defaultModel;
  }

  /** Every version loaded, in name then version order. */
  entries(): ModelEntry[] {
    return [...this.#byKey.values()].sort(
      (a, b) =>
        a.served.name.localeCompare(b.served.name) || a.served.version.localeCompare(b.served.version),
    );
  }

  /** Names of the models with a version routable without naming one. */
  names(): string[] {
    return [...this.#defaults.keys()].sort();
  }

  /**
   * The primary's index (every known model and version, loaded or not), as this worker sees it: a
   * version it serves is READY here, whatever the primary knew when it sent the set.
   */
  index(): ModelIndexEntry[] {
    return this.#index.map((e) =>
      e.version !== undefined && this.#byKey.has(versionKey(e.name, e.version)) && e.state !== "READY"
        ? { ...e, state: "READY", reason: "" }
        : e,
    );
  }

  /** The version a request names (the default one when it names none), or why there is none. */
  resolve(name: string, version?: string): Resolution {
    const entry =
      version === undefined ? this.#defaults.get(name) : this.#byKey.get(versionKey(name, version));
    if (entry) return { entry };
    const known = this.#index.filter((e) => e.name === name);
    if (known.length === 0) return { missing: "model" };
    const wanted = known.find((e) => (version === undefined ? true : e.version === version));
    if (version !== undefined && wanted === undefined)
      return {
        missing: "version",
        versions: this.entries()
          .filter((e) => e.served.name === name)
          .map((e) => e.served.version),
      };
    const state = wanted ?? known[0];
    return {
      missing: "ready",
      state: state.state === "READY" ? "LOADING" : state.state,
      reason: state.state === "READY" ? "not loaded in this worker yet" : state.reason,
    };
  }

  /** Whether a request for this model would be admitted now (unknown names are: they get 404 later). */
  admitting(name: string, version?: string): boolean {
    const entry =
      version === undefined ? this.#defaults.get(name) : this.#byKey.get(versionKey(name, version));
    return entry === undefined || entry.batcher.admitting;
  }

  /** A request for this model version was turned away at the gate: its series count the 503. */
  shed(name: string, version?: string): void {
    const entry =
      version === undefined ? this.#defaults.get(name) : this.#byKey.get(versionKey(name, version));
    entry?.modelMetrics.answered(503, 0);
    entry?.batcher.shed();
  }

  /** Rows waiting for a thread, every model's. */
  get queuedRows(): number {
    let rows = 0;
    for (const entry of this.#byKey.values()) rows += entry.batcher.queuedRows;
    return rows;
  }

  /**
   * Makes the table serve `set`: loads what is new or changed (a failure is reported, the rest still
   * served), swaps each in, releases what is gone. Resolves with what this worker now serves.
   */
  apply(set: ModelSet): Promise<WorkerModelsState> {
    const run = this.#applying.then(() => this.#apply(set));
    this.#applying = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #apply(set: ModelSet): Promise<WorkerModelsState> {
    const failed: { name: string; version: string; sha256: string; reason: string }[] = [];
    const wanted = new Set<string>();
    for (const spec of set.models) {
      const key = versionKey(spec.name, spec.version);
      wanted.add(key);
      const current = this.#byKey.get(key);
      if (current && current.served.sha256 === spec.sha256 && sameConfig(current.served, spec)) continue;
      const started = performance.now();
      // A load is meant to cost the models served meanwhile nothing: its log line says what it cost.
      const delay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
      delay.enable();
      try {
        const loaded = await this.#deps.loader(spec);
        const entry = this.#entry(spec, loaded.model, loaded.thread, loaded.bytes, loaded.calibration);
        this.#byKey.set(key, entry);
        this.#deps.metrics.modelBytes(entry.modelMetrics.labels, loaded.bytes);
        delay.disable();
        this.#deps.onEvent?.({
          type: "loaded",
          name: spec.name,
          version: spec.version,
          sha256: spec.sha256,
          ms: performance.now() - started,
          bytes: loaded.bytes,
          loopDelayMs: delay.count > 0 ? delay.max / 1e6 : 0,
        });
        if (current) this.#release(current);
      } catch (error) {
        delay.disable();
        const reason = (error as Error).message;
        failed.push({ name: spec.name, version: spec.version, sha256: spec.sha256, reason });
        this.#deps.onEvent?.({
          type: "load-failed",
          name: spec.name,
          version: spec.version,
          sha256: spec.sha256,
          reason,
        });
      }
    }
    // A model none of whose listed versions could be loaded here keeps what it served: its
    // replacement's load failed (its file gone with a newer reload, memory, a broken cache), and
    // a failed load must not leave the name answering "not ready" (the old version serves until
    // a set this worker can load arrives).
    const keep = new Set<string>();
    for (const f of failed) {
      const loadedOne = set.models.some(
        (spec) =>
          spec.name === f.name &&
          this.#byKey.get(versionKey(spec.name, spec.version))?.served.sha256 === spec.sha256,
      );
      if (!loadedOne) keep.add(f.name);
    }
    const previousDefaults = new Map(this.#defaults);
    for (const [key, entry] of this.#byKey) {
      if (wanted.has(key) || keep.has(entry.served.name)) continue;
      this.#byKey.delete(key);
      this.#release(entry);
    }
    this.#defaults.clear();
    for (const spec of set.models) {
      const entry = this.#byKey.get(versionKey(spec.name, spec.version));
      if (spec.isDefault && entry && entry.served.sha256 === spec.sha256)
        this.#defaults.set(spec.name, entry);
    }
    for (const name of keep) {
      const previous = previousDefaults.get(name);
      if (
        previous &&
        !this.#defaults.has(name) &&
        this.#byKey.get(versionKey(name, previous.served.version)) === previous
      )
        this.#defaults.set(name, previous);
    }
    this.#index = set.index;
    this.#defaultModel = set.defaultModel;
    this.#revision = set.revision;
    return {
      revision: set.revision,
      loaded: this.entries().map((e) => ({
        name: e.served.name,
        version: e.served.version,
        sha256: e.served.sha256,
        bytes: e.bytes,
      })),
      failed,
    };
  }

  #entry(
    spec: ModelSpec,
    model: Model,
    thread: ThreadModelRef,
    bytes: number,
    calibration?: InlineCalibration,
  ): ModelEntry {
    const { settings, share, metrics } = this.#deps;
    const served = serveModel(model, spec, spec.snapshot, this.#deps.generation);
    const id = this.#nextId++;
    const modelMetrics = metrics.forModel(
      spec.numbered ? { model: spec.name, version: spec.version } : { model: spec.name },
    );
    const batcher = new Batcher(share, {
      modelId: id,
      numFeature: model.numFeature,
      rowType: model.rowPrecision,
      outputType: model.outputPrecision,
      groups: model.numMarginOutputs,
      width: model.numOutputs,
      explainWidths: {
        contribs: explainWidth(model, "contribs"),
        interactions: explainWidth(model, "interactions"),
        leaf: explainWidth(model, "leaf"),
      },
      explainTypes: {
        contribs: explainPrecision(model, "contribs"),
        interactions: explainPrecision(model, "interactions"),
        leaf: explainPrecision(model, "leaf"),
      },
      maxBatchRows: settings.max_batch_rows,
      maxQueueRows: spec.config.max_queue,
      maxQueueWaitMs: spec.config.max_queue_wait * 1000,
      onBatch: (rows, seconds) => {
        modelMetrics.batchRows.observe(rows);
        modelMetrics.inferenceDuration.observe(seconds);
      },
      onDispatch: (_rows, wait) => modelMetrics.queueWait.observe(wait),
      tracer: this.#deps.tracer,
      model: { name: spec.name, version: spec.version },
    });
    this.#deps.threads.addModel(id, thread);
    const inline = new InlineScorer(model, {
      maxUs: spec.config.inline_scoring_max_us,
      calibration,
      onScored: (seconds) => modelMetrics.inlineScoring.observe(seconds),
    });
    const columns = columnLookup(model);
    return {
      id,
      key: versionKey(spec.name, spec.version),
      served,
      batcher,
      inline,
      metrics,
      modelMetrics,
      maxRequestRows: spec.config.max_request_rows,
      defaultDeadlineMs: spec.config.request_deadline * 1000,
      tracer: this.#deps.inlineTracer,
      columns,
      layout: rowsLayout(model.numFeature, columns, spec.config.max_request_rows, model.rowPrecision),
      bytes,
      active: 0,
    };
  }

  /** No new request reaches `entry`; once its last request and rows are done, its threads drop it. */
  #release(entry: ModelEntry): void {
    const { threads, metrics } = this.#deps;
    // Its series goes unless a version still loaded has the same labels (a replacement, or an
    // unversioned model's next digest).
    const labels = entry.modelMetrics.labels;
    const shared = [...this.#byKey.values()].some(
      (e) => e.modelMetrics.labels.model === labels.model && e.modelMetrics.labels.version === labels.version,
    );
    if (!shared) metrics.modelBytes(labels, undefined);
    // A request holds its version until answered (an aborted one may never say so): after its
    // deadline no row of it can still be scored, so the version goes by then whatever the count.
    const latest = performance.now() + entry.defaultDeadlineMs + 5000;
    const done = () => {
      if ((entry.active > 0 || entry.batcher.busy) && performance.now() < latest) {
        setTimeout(done, RELEASE_POLL_MS).unref();
        return;
      }
      entry.batcher.close();
      threads.removeModel(entry.id);
      this.#deps.onEvent?.({
        type: "released",
        name: entry.served.name,
        version: entry.served.version,
        sha256: entry.served.sha256,
      });
    };
    done();
  }
}

function sameConfig(served: ServedModel, spec: ModelSpec): boolean {
  return JSON.stringify(served.config) === JSON.stringify(spec.config);
}
