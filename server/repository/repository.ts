/**
 * MODEL_REPOSITORY: the primary reads it, model by model, into the registry, and again on every
 * poll (MODEL_POLL_INTERVAL), SIGHUP and repository API load.
 *
 * A scan lists the repository (sources.ts), reads its layout (layout.ts) and each model's
 * forestd.json (folder-config.ts), applies the version policy, and fetches only what changed
 * (validators from the listing: S3's ETag, a file's mtime and size; conditional GETs otherwise).
 * Each version's bytes are validated by the engine before any worker sees them, as MODEL_PATH's
 * are. What cannot be served is reported (logged once, and in the index with its reason) and
 * skipped; a model whose new version fails keeps serving the one it had (as Triton's POLL mode);
 * models gone from the repository are unloaded. MODEL_MEMORY_LIMIT refuses a model whose compiled
 * versions would take the total past it, by name.
 *
 * The repository API's load reads one model's folder again (it must be in the listing: a load
 * cannot make the server fetch anything else); its unload removes the model until a load says
 * otherwise (polls leave it unloaded). Scans, loads and unloads run one at a time.
 */
import { readFile } from "node:fs/promises";
import type { Settings } from "../../config/settings.js";
import type { ModelOrigin, Validators } from "../../contract/model-origin.js";
import { type ModelConfig, type ModelIndexEntry, serverModelConfig } from "../../contract/models.js";
import type { ModelRegistry, RegistryModel, RegistryVersion } from "../model-registry.js";
import { type FetchObserver, fetchFrom } from "../model-source/index.js";
import { mlflowRemoteFolderDriver } from "../model-source/mlflow-remote-folder.js";
import type { ModelStore } from "../model-store.js";
import { applyPolicy, DEFAULT_POLICY, type FolderConfig, parseFolderConfig } from "./folder-config.js";
import { type ListedFile, layoutOf, type ModelLayout, type Refusal, shown } from "./layout.js";
import { type RepositorySource, repositorySource } from "./sources.js";

export interface RepositoryLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** A load or unload the repository cannot do, with the HTTP status the API answers. */
export class RepositoryError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "RepositoryError";
  }
}

/** What a model's entry resolved to in one scan. */
interface Planned {
  readonly layout: ModelLayout;
  readonly name: string;
  readonly config: FolderConfig;
}

export class Repository {
  readonly #settings: Settings;
  readonly #store: ModelStore;
  readonly #registry: ModelRegistry;
  readonly #log: RepositoryLog;
  readonly #observe?: FetchObserver;
  readonly source: RepositorySource;
  /** Unloaded through the API: left out of scans until loaded again. */
  readonly #unloaded = new Set<string>();
  /** The last listing's models, by name (what a load may read). */
  #listed = new Map<string, Planned>();
  /** Refusals already logged (logged again only when they change). */
  #logged = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();
  #attempts = 0;
  /** Each forestd.json as last read, with its validators: read again only when it changed. */
  #configs = new Map<string, { validators: Validators; result: FolderConfig | Error }>();

  constructor(
    settings: Settings,
    store: ModelStore,
    registry: ModelRegistry,
    log: RepositoryLog,
    observe?: FetchObserver,
  ) {
    this.#settings = settings;
    this.#store = store;
    this.#registry = registry;
    this.#log = log;
    this.#observe = observe;
    this.source = repositorySource(settings);
  }

  /** Reads the whole repository and brings the registry in line with it. */
  scan(): Promise<void> {
    return this.#serial(() => this.#scan());
  }

  /** The repository API's load: the model's folder read again (it must be in the repository). */
  load(name: string): Promise<void> {
    return this.#serial(async () => {
      const planned = await this.#plan();
      const entry = planned.byName.get(name);
      if (!entry)
        throw new RepositoryError(
          404,
          "FORESTD_ERR_REPOSITORY_NOT_FOUND",
          `no model named "${shown(name)}" in the repository ${this.source.description}`,
        );
      this.#unloaded.delete(name);
      const failures = await this.#apply(entry);
      if (failures.length > 0 && (this.#registry.get(name)?.versions.size ?? 0) === 0)
        throw new RepositoryError(400, "FORESTD_ERR_REPOSITORY_LOAD_FAILED", failures.join("; "));
      if (failures.length > 0)
        throw new RepositoryError(
          400,
          "FORESTD_ERR_REPOSITORY_LOAD_FAILED",
          `${failures.join("; ")} (the versions it had keep serving)`,
        );
    });
  }

  /** The repository API's unload: the model is no longer served until loaded again. */
  unload(name: string): Promise<void> {
    return this.#serial(async () => {
      if (!this.#registry.get(name))
        throw new RepositoryError(
          404,
          "FORESTD_ERR_REPOSITORY_NOT_FOUND",
          `no model named "${shown(name)}" is loaded`,
        );
      this.#unloaded.add(name);
      this.#registry.remove(name);
      this.#log.info({ event: "model_unloaded", name }, `model ${name} unloaded (repository API)`);
    });
  }

  /** Whether a model of that name is in the repository's last listing. */
  has(name: string): boolean {
    return this.#listed.has(name);
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #scan(): Promise<void> {
    const { byName, refused } = await this.#plan();
    // Refusals of an entry that is no model at all (or of one that is not served) are listed under
    // its name; a served model's own (a refused version folder) go with it.
    const index: ModelIndexEntry[] = [];
    for (const r of refused) {
      this.#logRefusal(r);
      if (r.name === undefined || !byName.has(r.name))
        index.push({ name: r.name ?? r.entry, state: "UNAVAILABLE", reason: `${r.entry}: ${r.reason}` });
    }
    this.#registry.setRefused(index);
    for (const [name, planned] of byName) {
      if (this.#unloaded.has(name)) continue;
      const modelRefusals = refused.filter((r) => r.name === name);
      await this.#apply(planned, modelRefusals);
    }
    for (const name of this.#registry.names()) {
      if (byName.has(name)) continue;
      this.#registry.remove(name);
      this.#log.info(
        { event: "model_removed", name },
        `model ${name} is no longer in the repository: unloaded`,
      );
    }
  }

  /**
   * The repository's models by name (each forestd.json read), and every entry refused: two entries
   * giving one name are both refused, unless one of them is the one already served.
   */
  async #plan(): Promise<{ byName: Map<string, Planned>; refused: Refusal[] }> {
    const signal = AbortSignal.timeout(this.#settings.model_fetch_timeout * 1000);
    let files: ListedFile[];
    const started = performance.now();
    try {
      files = await this.source.list(signal);
    } catch (error) {
      this.#observe?.("failed", (performance.now() - started) / 1000);
      throw error;
    }
    const { models, refused } = layoutOf(files);
    const candidates = new Map<string, Planned[]>();
    for (const layout of models) {
      let config: FolderConfig = { policy: DEFAULT_POLICY, overrides: {} };
      if (layout.config) {
        try {
          config = await this.#config(layout.config);
        } catch (error) {
          refused.push({
            entry: shown(layout.config.path),
            name: layout.name,
            reason: `forestd.json ${(error as Error).message}`,
          });
          continue;
        }
      }
      const name = config.name ?? layout.name;
      const list = candidates.get(name) ?? [];
      list.push({ layout, name, config });
      candidates.set(name, list);
    }
    const byName = new Map<string, Planned>();
    for (const [name, list] of candidates) {
      if (list.length === 1) {
        byName.set(name, list[0]);
        continue;
      }
      const served = this.#registry.get(name);
      const keep = list.find((p) => served?.source === this.#sourceOf(p.layout));
      if (keep) byName.set(name, keep);
      const entries = list.map((p) => p.layout.entry).join(", ");
      for (const p of list)
        if (p !== keep)
          refused.push({
            entry: p.layout.entry,
            name,
            reason: keep
              ? `another entry (${keep.layout.entry}) already serves the name "${name}"`
              : `two entries give the same model name "${name}" (${entries}): neither is served`,
          });
    }
    this.#listed = byName;
    return { byName, refused };
  }

  /** A model's entry, as the registry's model source: its folder (or file) in the repository. */
  #sourceOf(layout: ModelLayout): string {
    return `${this.source.description.replace(/\/?$/, "/")}${layout.entry}`;
  }

  /**
   * A model's forestd.json: the last reading while the listing's validators say it has not changed,
   * else read again (conditionally, where the listing has none).
   */
  async #config(file: ListedFile): Promise<FolderConfig> {
    const cached = this.#configs.get(file.path);
    const same =
      cached !== undefined &&
      ((file.etag !== undefined && file.etag === cached.validators.etag) ||
        (file.etag === undefined &&
          file.lastModified !== undefined &&
          file.lastModified === cached.validators.lastModified));
    let result: FolderConfig | Error;
    if (same) result = (cached as { result: FolderConfig | Error }).result;
    else {
      const download = await this.source
        .driver(file.path)
        .download(cached?.validators, AbortSignal.timeout(this.#settings.model_fetch_timeout * 1000));
      if (!download.modified && cached) result = cached.result;
      else if (!download.modified) throw new Error("answered 304 to an unconditional GET");
      else {
        try {
          result = parseFolderConfig(download.bytes);
        } catch (error) {
          result = error as Error;
        }
        this.#configs.set(file.path, {
          validators: {
            etag: file.etag ?? download.validators.etag,
            lastModified: file.lastModified ?? download.validators.lastModified,
          },
          result,
        });
      }
    }
    if (result instanceof Error) throw result;
    return result;
  }

  /**
   * Brings one model in line with its entry: each version the policy serves fetched if it changed
   * and validated; what fails keeps what served before. Returns the failures' messages.
   */
  async #apply(planned: Planned, refusals: readonly Refusal[] = []): Promise<string[]> {
    const { layout, name, config: folder } = planned;
    const before = this.#registry.get(name);
    const config: ModelConfig = { ...serverModelConfig(this.#settings), ...folder.overrides };
    const unavailable: { version?: string; reason: string }[] = refusals.map((r) => ({
      reason: `${r.entry}: ${r.reason}`,
    }));
    const numbered = layout.versions.filter((v) => v.version !== null).map((v) => v.version as string);
    const { served, skipped } =
      numbered.length > 0 ? applyPolicy(numbered, folder.policy) : { served: [], skipped: [] };
    for (const s of skipped) unavailable.push({ version: s.version, reason: s.reason });
    const wanted = layout.versions.filter((v) => v.version === null || served.includes(v.version));
    const versions = new Map<string, RegistryVersion>();
    const failures: string[] = [];
    for (const v of wanted) {
      const held =
        v.version === null ? [...(before?.versions.values() ?? [])][0] : before?.versions.get(v.version);
      try {
        const record = await this.#version(name, v.version, v.file, config, held, v.mlflowFolder);
        versions.set(record.version, record);
      } catch (error) {
        const reason = (error as Error).message;
        failures.push(`${name}${v.version ? ` version ${v.version}` : ""}: ${reason}`);
        this.#logOnce(
          `${name}\u0000${v.version}\u0000${reason}`,
          "error",
          { event: "model_refused", name, version: v.version ?? undefined, source: v.file.path, reason },
          `model ${name}${v.version ? ` version ${v.version}` : ""} is not served${held ? " (the version it had serves on)" : ""}: ${reason}`,
        );
        // The version it had (if any) keeps serving.
        if (held) versions.set(held.version, held);
        unavailable.push({ version: v.version ?? undefined, reason });
      }
    }
    // MODEL_MEMORY_LIMIT: the model as a whole, against the others already held.
    const limit = this.#settings.model_memory_limit;
    let bytes = 0;
    for (const v of versions.values()) bytes += v.snapshot.bytes;
    const others = this.#registry.bytes(name);
    if (limit > 0 && others + bytes > limit) {
      const reason = `needs ${bytes} bytes compiled; with the ${others} the other models hold, that passes MODEL_MEMORY_LIMIT (${limit})`;
      failures.push(`${name}: ${reason}`);
      this.#logOnce(
        `${name}\u0000memory\u0000${bytes}`,
        "error",
        { event: "model_refused", name, reason },
        `model ${name} is not loaded: ${reason}`,
      );
      for (const v of versions.values())
        if (before?.versions.get(v.version) !== v) this.#store.release(v.snapshot, v.owner);
      // What it served before (within the limit then) serves on; else it is known, not served.
      this.#registry.put(
        before
          ? { ...before, unavailable: [{ reason }] }
          : {
              name,
              source: this.#sourceOf(layout),
              versions: new Map(),
              defaultVersion: null,
              unavailable: [{ reason }],
            },
      );
      return failures;
    }
    const numberedServed = [...versions.keys()]
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(a) - Number(b));
    // A model none of whose versions can be served is still known: the index lists it, UNAVAILABLE,
    // with the reasons, and requests for it get 503 saying why.
    const model: RegistryModel = {
      name,
      source: this.#sourceOf(layout),
      versions,
      defaultVersion: numberedServed.at(-1) ?? [...versions.keys()][0] ?? null,
      unavailable:
        versions.size === 0 && unavailable.length === 0
          ? [{ reason: "no version could be read" }]
          : unavailable,
    };
    if (!before || changed(before, model)) {
      this.#registry.put(model);
      for (const v of versions.values())
        if (before?.versions.get(v.version) !== v)
          this.#log.info(
            {
              event: "model_version_ready",
              name,
              version: v.version,
              sha256: v.snapshot.sha256,
              bytes: v.snapshot.bytes,
            },
            `model ${name} version ${v.version} read and validated`,
          );
    }
    return failures;
  }

  /** One version: the one held when its file has not changed, else fetched and validated afresh. */
  async #version(
    name: string,
    folderVersion: string | null,
    file: ListedFile,
    config: ModelConfig,
    held: RegistryVersion | undefined,
    mlflowFolder?: string,
  ): Promise<RegistryVersion> {
    // An MLflow folder: MLmodel, then the model file it names, through this repository's files; its
    // version is both files' (the listing's MLmodel alone cannot say the model file is unchanged).
    const driver =
      mlflowFolder === undefined
        ? this.source.driver(file.path)
        : mlflowRemoteFolderDriver(`${this.source.description.replace(/\/?$/, "/")}${mlflowFolder}`, (f) =>
            this.source.driver(mlflowFolder + f),
          );
    const heldHere = held?.origin.source === driver.source ? held : undefined;
    const unchangedListing =
      mlflowFolder === undefined &&
      heldHere !== undefined &&
      ((file.etag !== undefined && file.etag === heldHere.origin.etag) ||
        (file.etag === undefined &&
          file.lastModified !== undefined &&
          file.lastModified === heldHere.origin.lastModified));
    let bytes: Uint8Array | null = null;
    let origin: ModelOrigin;
    if (unchangedListing) origin = (heldHere as RegistryVersion).origin;
    else {
      const started = performance.now();
      let fetched: Awaited<ReturnType<typeof fetchFrom>>;
      try {
        fetched = await fetchFrom(
          driver,
          {
            model_sha256: "",
            model_cache_dir: this.#settings.model_cache_dir,
            model_fetch_timeout: this.#settings.model_fetch_timeout,
          },
          heldHere?.origin,
        );
      } catch (error) {
        this.#observe?.("failed", (performance.now() - started) / 1000);
        throw error;
      }
      this.#observe?.("unchanged" in fetched ? "unchanged" : "fetched", (performance.now() - started) / 1000);
      origin = fetched.origin;
      if (!("unchanged" in fetched)) bytes = fetched.bytes;
    }
    const version = folderVersion ?? origin.sha256.slice(0, 12);
    if (
      bytes === null &&
      heldHere &&
      JSON.stringify(heldHere.config) === JSON.stringify(config) &&
      heldHere.version === version
    )
      return { ...heldHere, origin: { ...heldHere.origin, ...pick(origin) } };
    // New bytes, or the same bytes under new settings (CLASS_NAMES must still fit them).
    const data = bytes ?? new Uint8Array(await readFile((heldHere as RegistryVersion).snapshot.path));
    const owner = `${name}@${version}#${++this.#attempts}`;
    try {
      const snapshot = await this.#store.prepare(data, origin.source, owner, {
        classNames: config.class_names.length > 0 ? config.class_names : null,
        threshold: config.threshold,
      });
      return { version, numbered: folderVersion !== null, snapshot, owner, origin, config };
    } catch (error) {
      this.#observe?.("rejected", 0);
      throw error;
    }
  }

  #logRefusal(r: Refusal): void {
    this.#logOnce(
      `${r.entry}\u0000${r.reason}`,
      "warn",
      { event: "repository_entry_refused", entry: r.entry, name: r.name, reason: r.reason },
      `repository entry ${r.entry} is not served: ${r.reason}`,
    );
  }

  #logOnce(key: string, level: "warn" | "error", fields: object, message: string): void {
    if (this.#logged.has(key)) return;
    this.#logged.add(key);
    if (this.#logged.size > 10_000) this.#logged = new Set([key]);
    this.#log[level](fields, message);
  }
}

function pick(origin: ModelOrigin): Partial<ModelOrigin> {
  return { fetchedAt: origin.fetchedAt };
}

/** Whether the registry needs the new record: versions, bytes, settings or reasons differ. */
function changed(before: RegistryModel, after: RegistryModel): boolean {
  if (before.defaultVersion !== after.defaultVersion || before.source !== after.source) return true;
  if (before.versions.size !== after.versions.size) return true;
  for (const [version, v] of after.versions) {
    const old = before.versions.get(version);
    if (!old || old.owner !== v.owner) return true;
  }
  return JSON.stringify(before.unavailable) !== JSON.stringify(after.unavailable);
}
