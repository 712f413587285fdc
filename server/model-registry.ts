/**
 * The primary's registry of models: name → versions served, each a validated snapshot with its
 * settings; the entries that could not be served, with why; and what each worker reports it serves.
 *
 * Every change (a model put or removed) makes a new revision of the whole set, which the arbiter
 * sends to the workers of one generation (server/arbiter.ts, contract/models.ts); workers answer
 * with what they now serve, from which the index's states come: READY once every live worker
 * serves a version, LOADING until then, UNAVAILABLE with the reason when it could not be read,
 * validated or loaded. Snapshots are released when no version holds them any more. Nothing here does I/O or IPC: the arbiter and the repository
 * (server/repository/) feed it.
 */
import type { ModelOrigin } from "../contract/model-origin.js";
import {
  type ModelConfig,
  type ModelIndexEntry,
  type ModelSet,
  type ModelSpec,
  versionKey,
  type WorkerModelsState,
} from "../contract/models.js";
import type { ModelSnapshot, ModelStore } from "./model-store.js";

/** One version served: its validated bytes and settings. */
export interface RegistryVersion {
  readonly version: string;
  /** A version folder's number (else the digest's first 12 hex digits). */
  readonly numbered: boolean;
  readonly snapshot: ModelSnapshot;
  /** Who holds the snapshot in the store (released when the version goes). */
  readonly owner: string;
  readonly origin: ModelOrigin;
  readonly config: ModelConfig;
}

/** A model: the versions served, the default one, and the versions known but not served. */
export interface RegistryModel {
  readonly name: string;
  /** Where it comes from (MODEL_PATH, or its folder or file in the repository). */
  readonly source: string;
  readonly versions: ReadonlyMap<string, RegistryVersion>;
  /** The version unversioned requests get (the latest the version policy serves). */
  readonly defaultVersion: string | null;
  /** Versions known but not served, and why (outside the version policy, unreadable, invalid). */
  readonly unavailable: readonly { version?: string; reason: string }[];
}

export class ModelRegistry {
  readonly #store: ModelStore;
  readonly #models = new Map<string, RegistryModel>();
  /** Per version key: the revision at which its current bytes and settings entered the set. */
  readonly #since = new Map<string, number>();
  /** Repository entries that name no model (refused before any name could be given). */
  #refused: readonly ModelIndexEntry[] = [];
  readonly #workers = new Map<number, WorkerModelsState>();
  readonly #listeners: ((set: ModelSet) => void)[] = [];
  #revision = 0;
  #defaultModel: string | null = null;
  #strict = false;

  readonly #live: () => readonly number[];

  /** `live`: the workers whose reports make a version READY (the arbiter's: the ready ones). */
  constructor(store: ModelStore, live: () => readonly number[] = () => []) {
    this.#store = store;
    this.#live = live;
  }

  get revision(): number {
    return this.#revision;
  }

  /** Called with the new set after every change. */
  onChange(listener: (set: ModelSet) => void): void {
    this.#listeners.push(listener);
  }

  /** MODEL_PATH's one model (strict: a worker that cannot load it does not boot) or a repository. */
  configure(options: { strict: boolean; defaultModel: string | null }): void {
    if (this.#strict === options.strict && this.#defaultModel === options.defaultModel) return;
    this.#strict = options.strict;
    this.#defaultModel = options.defaultModel;
    this.#changed();
  }

  /** The model of that name, if registered. */
  get(name: string): RegistryModel | undefined {
    return this.#models.get(name);
  }

  names(): string[] {
    return [...this.#models.keys()].sort();
  }

  /** Adds or replaces a model wholesale; the snapshots of versions it no longer serves are released. */
  put(model: RegistryModel): void {
    const before = this.#models.get(model.name);
    this.#models.set(model.name, model);
    this.#releaseReplaced(before, model);
    this.#revision++;
    for (const v of model.versions.values()) {
      const key = versionKey(model.name, v.version);
      const old = before?.versions.get(v.version);
      const same = old && old.snapshot.sha256 === v.snapshot.sha256 && sameConfig(old.config, v.config);
      if (!same || !this.#since.has(key)) this.#since.set(key, this.#revision);
    }
    this.#emit();
  }

  /** Unloads a model: gone from the set, its snapshots released. */
  remove(name: string): boolean {
    const before = this.#models.get(name);
    if (!before) return false;
    this.#models.delete(name);
    this.#releaseReplaced(before, undefined);
    this.#revision++;
    this.#emit();
    return true;
  }

  /** Repository entries refused before they could name a model (the index lists them). */
  setRefused(entries: readonly ModelIndexEntry[]): void {
    if (JSON.stringify(entries) === JSON.stringify(this.#refused)) return;
    this.#refused = entries;
    this.#changed();
  }

  /** Bytes the compiled versions hold in a worker, all models but `except`'s. */
  bytes(except?: string): number {
    let n = 0;
    for (const model of this.#models.values())
      if (model.name !== except) for (const v of model.versions.values()) n += v.snapshot.bytes;
    return n;
  }

  /** The set workers are to serve now. */
  set(live: readonly number[] = this.#live()): ModelSet {
    const models: ModelSpec[] = [];
    for (const model of this.#models.values()) {
      for (const v of model.versions.values()) {
        models.push({
          name: model.name,
          version: v.version,
          numbered: v.numbered,
          isDefault: model.defaultVersion === v.version,
          snapshot: v.snapshot.path,
          sha256: v.snapshot.sha256,
          origin: v.origin,
          config: v.config,
          bytes: v.snapshot.bytes,
        });
      }
    }
    return {
      revision: this.#revision,
      models,
      defaultModel: this.#defaultModel,
      index: this.index(live),
      strict: this.#strict,
    };
  }

  /** A worker said what it serves (after applying a set). */
  workerState(worker: number, state: WorkerModelsState): void {
    this.#workers.set(worker, state);
  }

  /** A worker is gone. */
  forgetWorker(worker: number): void {
    this.#workers.delete(worker);
  }

  /** Whether every one of `live` has applied `revision` (or a later one). */
  settled(revision: number, live: readonly number[]): boolean {
    return live.every((id) => (this.#workers.get(id)?.revision ?? -1) >= revision);
  }

  /** Why a version failed in a worker of `live`, if one said so. */
  failure(name: string, version: string, live: readonly number[]): string | null {
    const model = this.#models.get(name);
    const v = model?.versions.get(version);
    if (!v) return null;
    for (const id of live) {
      const failed = this.#workers
        .get(id)
        ?.failed.find((f) => f.name === name && f.version === version && f.sha256 === v.snapshot.sha256);
      if (failed) return failed.reason;
    }
    return null;
  }

  /**
   * Every model and version known, with its state: READY when each live worker serves it, LOADING
   * until then, UNAVAILABLE (with the reason) when it could not be served.
   */
  index(live: readonly number[] = this.#live()): ModelIndexEntry[] {
    const out: ModelIndexEntry[] = [];
    for (const model of [...this.#models.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      for (const v of [...model.versions.values()].sort(byVersion)) {
        const reason = this.failure(model.name, v.version, live);
        const since = this.#since.get(versionKey(model.name, v.version)) ?? this.#revision;
        const loaded =
          live.length > 0 &&
          live.every((id) => {
            const state = this.#workers.get(id);
            return (
              state !== undefined &&
              state.revision >= since &&
              state.loaded.some(
                (l) => l.name === model.name && l.version === v.version && l.sha256 === v.snapshot.sha256,
              )
            );
          });
        out.push({
          name: model.name,
          version: v.version,
          state: reason !== null ? "UNAVAILABLE" : loaded ? "READY" : "LOADING",
          reason: reason ?? "",
        });
      }
      for (const u of model.unavailable)
        out.push({
          name: model.name,
          ...(u.version !== undefined ? { version: u.version } : {}),
          state: "UNAVAILABLE",
          reason: u.reason,
        });
    }
    out.push(...this.#refused);
    return out;
  }

  /** Every snapshot released (the primary is stopping). */
  clear(): void {
    for (const model of this.#models.values()) this.#releaseReplaced(model, undefined);
    this.#models.clear();
  }

  #releaseReplaced(before: RegistryModel | undefined, after: RegistryModel | undefined): void {
    if (!before) return;
    for (const old of before.versions.values()) {
      const kept = after?.versions.get(old.version);
      if (kept?.owner === old.owner) continue;
      this.#store.release(old.snapshot, old.owner);
      if (!kept) this.#since.delete(versionKey(before.name, old.version));
    }
  }

  #changed(): void {
    this.#revision++;
    this.#emit();
  }

  #emit(): void {
    const set = this.set();
    for (const listener of this.#listeners) listener(set);
  }
}

/** Version folders in numeric order; digest versions (one per model) by text. */
export function byVersion(a: { version: string }, b: { version: string }): number {
  return Number(a.version) - Number(b.version) || a.version.localeCompare(b.version);
}

function sameConfig(a: ModelConfig, b: ModelConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
