/**
 * The models a server serves, as the primary's registry hands them to its workers (and as the
 * repository index reports them): which model versions to load, from which validated snapshot,
 * with which per-model settings. Both sides import this; neither owns it.
 *
 * A worker is told the whole set each time (`forestd:models`, contract/messages.ts), never a
 * delta: it loads what is new or changed, keeps what it has, unloads what is gone, and says what
 * it now serves. A message lost to a dying worker therefore loses nothing: the next one, or the
 * set a fresh worker asks for at boot, says everything again.
 */
import type { Settings } from "../config/settings.js";
import type { ModelOrigin } from "./model-origin.js";

/**
 * Settings a model may have of its own (its repository folder's forestd.json, else the server's):
 * the keys are the settings table's (config/settings.ts, `perModel`).
 */
export interface ModelConfig {
  readonly class_names: readonly string[];
  readonly threshold: number;
  readonly max_queue: number;
  readonly max_queue_wait: number;
  readonly request_deadline: number;
  readonly max_request_rows: number;
  readonly inline_scoring_max_us: number;
}

/** The server's own values of the per-model settings: what a model without a forestd.json gets. */
export function serverModelConfig(settings: Settings): ModelConfig {
  return {
    class_names: settings.class_names,
    threshold: settings.threshold,
    max_queue: settings.max_queue,
    max_queue_wait: settings.max_queue_wait,
    request_deadline: settings.request_deadline,
    max_request_rows: settings.max_request_rows,
    inline_scoring_max_us: settings.inline_scoring_max_us,
  };
}

/** One version of one model, for a worker to serve. */
export interface ModelSpec {
  readonly name: string;
  /** A repository's version folder ("1", "2", ...), else the first 12 hex digits of the bytes' SHA-256. */
  readonly version: string;
  /** The version is a version folder's number (not a digest): metrics label series by it. */
  readonly numbered: boolean;
  /** The version requests without a version get (the latest the version policy makes available). */
  readonly isDefault: boolean;
  /** The validated bytes, content-addressed, in the primary's private directory. */
  readonly snapshot: string;
  readonly sha256: string;
  /** Where the bytes came from, for /model and the index. */
  readonly origin: ModelOrigin;
  readonly config: ModelConfig;
  /** Bytes the compiled model holds in a worker (what MODEL_MEMORY_LIMIT counts). */
  readonly bytes: number;
}

/** Triton's model states (extension_model_repository.md), as the index reports them. */
export type ModelState = "READY" | "LOADING" | "UNLOADING" | "UNAVAILABLE";

/** One line of the repository index: a model version (or a model without any), its state and why. */
export interface ModelIndexEntry {
  readonly name: string;
  /** Absent for a model none of whose versions could be read. */
  readonly version?: string;
  readonly state: ModelState;
  /** Why it is in that state ("" when READY): a load error, a refused folder, the version policy. */
  readonly reason: string;
}

/** The whole set the primary wants served, at one revision of its registry. */
export interface ModelSet {
  /** Increases with every change the primary makes; a worker reports which revision it serves. */
  readonly revision: number;
  readonly models: readonly ModelSpec[];
  /** The model /predict and /model answer for without a name (DEFAULT_MODEL, or MODEL_PATH's one). */
  readonly defaultModel: string | null;
  /** Every known model and version with its state, loaded or not (GET /v2/models, the index). */
  readonly index: readonly ModelIndexEntry[];
  /**
   * MODEL_PATH's one model: a worker that cannot load it cannot serve (a boot error, as before
   * repositories). In a repository a model that does not load is reported and the others serve.
   */
  readonly strict: boolean;
}

/** What a worker reports after applying a set: what it serves, and what it could not load. */
export interface WorkerModelsState {
  readonly revision: number;
  readonly loaded: readonly { name: string; version: string; sha256: string; bytes: number }[];
  readonly failed: readonly { name: string; version: string; sha256: string; reason: string }[];
}

/** A model version's key in a worker and in the registry. */
export function versionKey(name: string, version: string): string {
  return `${name}\u0000${version}`;
}
