/**
 * The primary process: the adapter between the pure supervisor (server/supervisor.ts, every
 * decision) and the world — node:cluster, signals, timers, the model store, listening sockets,
 * metrics and logs (after Gunicorn's gunicorn/arbiter.py).
 *
 * Signal handlers only queue the signal. One loop wakes at least twice a second, feeds queued
 * signals and a clock tick to the supervisor and carries out what it decides; worker messages and
 * exits are fed as they happen.
 *
 * The models are the registry's (server/model-registry.ts), not a generation's: a worker serves
 * the registry's current set, asked for at boot and sent again on every change (contract/models.ts),
 * so models load and unload in running workers. Changes go to one generation's workers only (the
 * supervisor's modelGeneration): while a reload is prepared and booted, the generation it replaces
 * keeps the models it has, so a reload's model is not also loaded by workers about to drain.
 * MODEL_PATH's one model is fetched here at start and on each reload (server/model-source: a path,
 * s3:// or https://, MODEL_SHA256, MODEL_CACHE_DIR), strictly: a reload whose model does not
 * validate fails, and the old model keeps serving. With MODEL_POLL_INTERVAL a poller watches its
 * source and a new version reloads as SIGHUP does. A repository's models (MODEL_REPOSITORY) are read by server/repository/,
 * one by one: one that does not validate is reported and skipped.
 */
import cluster, { type Worker } from "node:cluster";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { listenAddresses } from "../config/listen-addresses.js";
import { loadSettings, parseBind, type SettingsSources } from "../config/load-settings.js";
import { createLogger } from "../config/logger.js";
import { SETTINGS, type Settings } from "../config/settings.js";
import {
  type CertReqs,
  certificateFields,
  certificateValidityProblem,
  readTlsMaterial,
  ServerTls,
  type TlsMaterial,
  tlsFiles,
  toPem,
} from "../config/tls.js";
import {
  BOOT_ERROR_EXIT_CODE,
  isWorkerMessage,
  type PrimaryMessage,
  WORKER_ENV,
  type WorkerMessage,
} from "../contract/messages.js";
import { type ModelSet, serverModelConfig } from "../contract/models.js";
import { packageRoot } from "../model/index.js";
import { labelOptions } from "../model/outputs.js";
import { ClusterMetrics } from "./cluster-metrics.js";
import { ConnectionRouter } from "./connection-router.js";
import { bindAll, type ListenHandle } from "./listeners.js";
import { ModelRegistry, type RegistryModel } from "./model-registry.js";
import { fetchModel, type ModelOrigin, ModelPoller } from "./model-source/index.js";
import { ModelStore } from "./model-store.js";
import { PrimaryMetrics } from "./primary-metrics.js";
import { RepositoryPoller } from "./repository/poller.js";
import { Repository, RepositoryError } from "./repository/repository.js";
import { type RepositoryControl, repositoryApi } from "./repository-api.js";
import {
  type GenerationPlan,
  modelSetRecipients,
  type QueuedSignal,
  Supervisor,
  type SupervisorAction,
  type SupervisorEvent,
} from "./supervisor.js";
import { sortV8Flags } from "./v8-flags.js";

/** The setting's default, whose flag older V8s lack (logged at info rather than as a fault). */
const V8_FLAGS_DEFAULT = SETTINGS.find((s) => s.key === "v8_flags")?.default;

const HANDLED_SIGNALS: QueuedSignal[] = ["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGTTIN", "SIGTTOU"];
/** How often the arbiter loop wakes when nothing else wakes it. */
const LOOP_MS = 500;
/**
 * A ready worker not heard from for this long (three of its 500 ms heartbeats) is given no connection
 * another worker hands on: it may be stopped or stuck, and the supervisor learns that only at TIMEOUT
 * (30 s by default), while a connection given to it waits unanswered all that time.
 */
const QUIET_MS = 1500;
/** How long a repository API load or unload waits for every worker to apply it. */
const MODEL_APPLY_TIMEOUT_MS = 120_000;

interface Generation {
  readonly plan: GenerationPlan;
  readonly settings: Settings;
  /**
   * MODEL_PATH's model as this generation's preparation read it and put it in the registry (null
   * with a repository). Its bytes are held for as long as the generation is known, so that a reload
   * abandoned after putting its own can give it back.
   */
  readonly pathModel: RegistryModel | null;
  /** What its workers are started with: this process's execArgv and the usable V8_FLAGS. */
  readonly execArgv: readonly string[];
  /**
   * CERTFILE, KEYFILE and CA_CERTS as this generation's preparation read and checked them (null:
   * no TLS): what its workers serve, given to them over IPC. SIGHUP reads them again.
   */
  tls: TlsMaterial | null;
}

/** Where a generation's MODEL_PATH model was read from (null with a repository). */
function pathOrigin(generation: Generation): ModelOrigin | null {
  const [version] = generation.pathModel?.versions.values() ?? [];
  return version?.origin ?? null;
}

/** Who holds a generation's model bytes in the store (beside the registry's own owner). */
function generationOwner(id: number): string {
  return `generation#${id}`;
}

function workerEntry(): string {
  const built = join(packageRoot(), "dist", "workers", "process", "worker-main.js");
  const sibling = fileURLToPath(new URL("../workers/process/worker-main.js", import.meta.url));
  return existsSync(sibling) ? sibling : built;
}

function planOf(id: number, settings: Settings): GenerationPlan {
  return {
    id,
    workers: settings.workers,
    timeoutMs: settings.timeout * 1000,
    gracefulTimeoutMs: settings.graceful_timeout * 1000,
  };
}

export class Arbiter {
  readonly #sources: SettingsSources;
  readonly #log: Logger;
  readonly metrics: PrimaryMetrics;
  readonly #clusterMetrics: ClusterMetrics;
  readonly #store = new ModelStore();
  readonly #registry: ModelRegistry;
  /** Workers that asked for the model set: each change is sent to those of the model generation. */
  readonly #subscribed = new Set<number>();
  /** The supervisor's modelGeneration as last seen: when it moves, its workers catch up (#feed). */
  #modelGeneration: number | null = null;
  /** Snapshot owners are unique per attempt, so a failed one releases only what it made. */
  #attempts = 0;
  readonly #generations = new Map<number, Generation>();
  readonly #cluster = new Map<number, Worker>();
  readonly #signals: QueuedSignal[] = [];
  #supervisor: Supervisor | null = null;
  readonly #router = new ConnectionRouter();
  /** What each worker was last told of its peers (#tellPeers). */
  readonly #peersSent = new Map<number, number | null>();
  /** Connection handles being sent to each worker, closed once sent (or when it exits). */
  readonly #forwarding = new Map<number, Set<ListenHandle>>();
  #settings: Settings;
  /** METRICS_PORT's TLS: the live generation's certificate (null: started without TLS). */
  #tls: ServerTls | null = null;
  #handles: ListenHandle[] = [];
  /** Shared by this primary's workers only (WORKER_ENV.peerToken). */
  readonly #peerToken = randomBytes(16).toString("hex");
  #nextGeneration = 1;
  /** The generation serving (promoted last). */
  #live: Generation | null = null;
  #poller: ModelPoller | null = null;
  /** MODEL_REPOSITORY's reader (null with MODEL_PATH), made again when its settings change. */
  #repository: Repository | null = null;
  #repositoryPoller: RepositoryPoller | null = null;
  /** Reloads asked for by the poller, each waiting for the reload to settle. */
  #reloadWaiters: (() => void)[] = [];
  #wake: (() => void) | null = null;

  constructor(settings: Settings, sources: SettingsSources) {
    this.#settings = settings;
    this.#sources = sources;
    this.#log = createLogger(settings, { pid: process.pid, role: "primary" });
    this.metrics = new PrimaryMetrics(() => this.#supervisor?.servingCount ?? 0);
    this.#clusterMetrics = new ClusterMetrics(this.metrics, () => [...this.#cluster.values()]);
    this.#registry = new ModelRegistry(this.#store, () => this.#answeringWorkers());
    this.#registry.onChange((set) => {
      for (const id of this.#modelWorkers()) this.#sendModels(id, set);
      this.metrics.setModels(
        set.models.map((m) => ({
          model: m.name,
          modelVersion: m.version,
          sha256: m.sha256,
          objective: this.#registry.get(m.name)?.versions.get(m.version)?.snapshot.objective ?? "",
        })),
        this.#live?.plan.id ?? this.#nextGeneration - 1,
      );
    });
  }

  /** Calls waiting for every serving worker to apply a revision of the model set. */
  #modelWaiters: { revision: number; resolve: () => void }[] = [];

  /** Resolves once every serving worker has applied `revision` (or none serves), or after `timeoutMs`. */
  #modelsApplied(revision: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#modelWaiters = this.#modelWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = {
        revision,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.#modelWaiters.push(waiter);
      this.#settleModelWaiters();
    });
  }

  #settleModelWaiters(): void {
    if (this.#modelWaiters.length === 0) return;
    const live = this.#modelWorkers();
    // A reload being prepared or booted: its workers, which will serve the change, are not there yet.
    if (live.length === 0 && this.#supervisor?.modelGeneration !== this.#supervisor?.live) return;
    const done = this.#modelWaiters.filter((w) => this.#registry.settled(w.revision, live));
    if (done.length === 0) return;
    this.#modelWaiters = this.#modelWaiters.filter((w) => !done.includes(w));
    for (const w of done) w.resolve();
  }

  /**
   * The repository API's handler on METRICS_PORT (server/repository-api.ts). Its settings are read
   * when each request comes, so a reload that turns it on or off, or changes the token, holds.
   */
  #repositoryApi(): (request: IncomingMessage, response: ServerResponse) => boolean {
    const control: RepositoryControl = {
      index: (readyOnly) => this.#registry.index().filter((e) => !readyOnly || e.state === "READY"),
      load: (name) => this.#loadModel(name),
      unload: (name) => this.#unloadModel(name),
    };
    return (request, response) =>
      repositoryApi(
        { enabled: this.#settings.repository_api, token: this.#settings.repository_api_token },
        control,
        this.#log,
      )(request, response);
  }

  /** A repository API load: the model read again, and answered once every serving worker has it. */
  async #loadModel(name: string): Promise<void> {
    if (this.#repository !== null) await this.#repository.load(name);
    else {
      // MODEL_PATH's model: read again as a reload does (it is the one model there is).
      if (name !== this.#settings.model_name)
        throw new RepositoryError(
          404,
          "FORESTD_ERR_REPOSITORY_NOT_FOUND",
          `no model named "${name}": MODEL_PATH serves "${this.#settings.model_name}"`,
        );
      await this.#reloadForNewVersion();
      if (!this.#registry.get(name))
        throw new RepositoryError(
          400,
          "FORESTD_ERR_REPOSITORY_LOAD_FAILED",
          `model ${name} could not be loaded (see the log)`,
        );
    }
    await this.#awaitWorkers(name);
  }

  async #unloadModel(name: string): Promise<void> {
    if (this.#repository !== null) await this.#repository.unload(name);
    else if (!this.#registry.remove(name))
      throw new RepositoryError(
        404,
        "FORESTD_ERR_REPOSITORY_NOT_FOUND",
        `no model named "${name}" is loaded`,
      );
    await this.#awaitWorkers(name);
  }

  /** Waits until every serving worker has applied the registry's revision; says what failed in them. */
  async #awaitWorkers(name: string): Promise<void> {
    const applied = await this.#modelsApplied(this.#registry.revision, MODEL_APPLY_TIMEOUT_MS);
    if (!applied)
      throw new RepositoryError(
        504,
        "FORESTD_ERR_REPOSITORY_TIMEOUT",
        `not every worker had applied the change of ${name} within ${MODEL_APPLY_TIMEOUT_MS / 1000} s`,
      );
    const model = this.#registry.get(name);
    const live = this.#modelWorkers();
    const failures = [...(model?.versions.keys() ?? [])]
      .map((version) => ({ version, reason: this.#registry.failure(name, version, live) }))
      .filter((f) => f.reason !== null);
    if (failures.length > 0)
      throw new RepositoryError(
        400,
        "FORESTD_ERR_REPOSITORY_LOAD_FAILED",
        failures.map((f) => `${name} version ${f.version}: ${f.reason}`).join("; "),
      );
  }

  /**
   * The workers whose models make the index's states: the ready ones (a booting worker takes no
   * request yet, and loads the whole set before it is ready, so a TTIN or a respawn does not make a
   * served model LOADING); before any is ready, the booting ones.
   */
  #answeringWorkers(): number[] {
    const ready: number[] = [];
    for (const w of this.#supervisor?.workers.values() ?? []) if (w.phase === "ready") ready.push(w.id);
    return ready.length > 0 ? ready : this.#servingWorkers();
  }

  /** Workers booting or ready (not draining): they serve the model set. */
  #servingWorkers(): number[] {
    const ids: number[] = [];
    for (const w of this.#supervisor?.workers.values() ?? []) if (w.phase !== "retiring") ids.push(w.id);
    return ids;
  }

  /**
   * The workers told of model-set changes, and whose applying them a repository API call awaits:
   * the model generation's (Supervisor.modelGeneration), booting or ready; none while a reload is
   * being prepared.
   */
  #modelWorkers(): number[] {
    const generation = this.#supervisor?.modelGeneration ?? null;
    return modelSetRecipients(this.#supervisor?.workers.values() ?? [], generation);
  }

  /** Sends `set` to a worker that asked for models (one still booting asks, and is answered, itself). */
  #sendModels(id: number, set: ModelSet): void {
    if (this.#subscribed.has(id)) this.#send(id, { type: "forestd:models", set });
  }

  /**
   * The model generation moved (a reload failed or was abandoned: the live generation again): its
   * workers were not told of changes meanwhile, so each that has not applied the current revision
   * is sent the whole set, and waiting repository API calls are checked again.
   */
  #followModelGeneration(): void {
    const generation = this.#supervisor?.modelGeneration ?? null;
    if (generation === this.#modelGeneration) return;
    this.#modelGeneration = generation;
    if (generation === null) return;
    const set = this.#registry.set();
    for (const id of this.#modelWorkers())
      if (!this.#registry.settled(set.revision, [id])) this.#sendModels(id, set);
    this.#settleModelWaiters();
  }

  get settings(): Settings {
    return this.#settings;
  }

  /** Runs until the server stops; resolves with the process exit code. */
  async run(): Promise<number> {
    cluster.setupPrimary({ exec: workerEntry() });
    for (const signal of HANDLED_SIGNALS) process.on(signal, () => this.#queue(signal));
    cluster.on("exit", (worker, code, signal) => this.#onExit(worker, code, signal));
    cluster.on("message", (worker, message, handle) => this.#onMessage(worker, message, handle));
    this.#writePidFile();
    try {
      return await this.#serve();
    } finally {
      this.#poller?.stop();
      this.#repositoryPoller?.stop();
      this.#settleReloadWaiters(true);
      this.#clusterMetrics.close();
      for (const handle of this.#handles) handle.close();
      this.#registry.clear();
      this.#store.close();
      this.#removePidFile();
      for (const signal of HANDLED_SIGNALS) process.removeAllListeners(signal);
    }
  }

  async #serve(): Promise<number> {
    let first: Generation;
    try {
      first = await this.#prepareGeneration(this.#settings);
      this.#handles = await bindAll(listenAddresses(this.#settings));
      if (first.tls) {
        this.#tls = new ServerTls(first.tls);
        this.#logCertificate("tls", first.tls, "serving TLS");
      }
      const metricsPort = this.#settings.metrics_port;
      const metricsTls = this.#tls
        ? { server: this.#tls, reqs: this.#settings.metrics_cert_reqs as CertReqs }
        : undefined;
      await this.#clusterMetrics
        .listen(parseBind(this.#settings.bind[0]).host, metricsPort, this.#repositoryApi(), {
          tls: metricsTls,
          keepAliveMs: Math.round(this.#settings.keepalive * 1000),
        })
        .catch((error) => {
          // Name the setting: a bare EADDRINUSE does not say which of forestd's ports is taken.
          throw new Error(`cannot serve metrics on METRICS_PORT ${metricsPort}: ${(error as Error).message}`);
        });
    } catch (error) {
      this.#log.fatal(
        { event: "arbiter_halt", err: error },
        `forestd cannot start: ${(error as Error).message}`,
      );
      return 1;
    }
    this.#activate(first);
    const supervisor = new Supervisor(first.plan);
    this.#supervisor = supervisor;
    this.#log.info(
      {
        event: "arbiter_start",
        workers: supervisor.target,
        threads: this.#settings.threads,
        bind: this.#settings.bind,
      },
      `forestd starting ${supervisor.target} worker(s) on ${this.#settings.bind.join(", ")}`,
    );
    while (!supervisor.finished) {
      while (this.#signals.length > 0) {
        const signal = this.#signals.shift() as QueuedSignal;
        this.#log.info({ event: "signal", signal }, `received ${signal}`);
        if (signal === "SIGHUP") this.#reloadTls();
        this.#feed({ type: "signal", signal, now: Date.now() });
      }
      this.#feed({ type: "tick", now: Date.now() });
      if (supervisor.finished) break;
      await this.#sleep(LOOP_MS);
    }
    if (supervisor.halted !== null) {
      this.#log.fatal(
        { event: "arbiter_halt", reason: supervisor.halted },
        `forestd halted: ${supervisor.halted}`,
      );
      return 1;
    }
    this.#log.info({ event: "arbiter_stop" }, "forestd stopped");
    return 0;
  }

  /**
   * A generation: its settings, and MODEL_PATH's model read again. A reload asks the source
   * conditionally; if the object has not changed, its bytes are the ones served already (validated
   * again: the new settings, CLASS_NAMES say, must fit them). The model goes into the registry at
   * once (workers of every generation serve the registry's set), unless it does not validate: then
   * the reload fails and nothing changes.
   */
  async #prepareGeneration(settings: Settings): Promise<Generation> {
    const id = this.#nextGeneration++;
    // First: files that do not check out fail the reload before any model changes.
    const files = tlsFiles(settings);
    const tls = files ? readTlsMaterial(files) : null;
    const pathModel = settings.model_repository === "" ? await this.#preparePathModel(settings) : null;
    if (settings.model_repository !== "") await this.#prepareRepository(settings);
    const generation = {
      plan: planOf(id, settings),
      settings,
      pathModel,
      execArgv: this.#workerExecArgv(settings),
      tls,
    };
    if (pathModel)
      for (const v of pathModel.versions.values()) this.#store.retain(v.snapshot, generationOwner(id));
    this.#generations.set(id, generation);
    return generation;
  }

  /**
   * MODEL_REPOSITORY read (at start, and again on each reload: a SIGHUP is also a scan). A
   * repository that cannot be listed stops the start, or fails the reload (the models stay); a model
   * in it that cannot be served is reported and skipped.
   */
  async #prepareRepository(settings: Settings): Promise<void> {
    const current = this.#repository;
    const same =
      current !== null &&
      (
        [
          "model_repository",
          "model_cache_dir",
          "model_fetch_timeout",
          "s3_force_path_style",
          "model_memory_limit",
        ] as const
      ).every((key) => this.#settings[key] === settings[key]) &&
      JSON.stringify(serverModelConfig(this.#settings)) === JSON.stringify(serverModelConfig(settings));
    const repository = same
      ? (current as Repository)
      : new Repository(settings, this.#store, this.#registry, this.#log, this.metrics.observeFetch);
    // MODEL_PATH's model (a reload from MODEL_PATH to a repository) is not the repository's.
    for (const name of this.#registry.names())
      if (
        this.#repository === null &&
        !this.#registry.get(name)?.source.startsWith(repository.source.description)
      )
        this.#registry.remove(name);
    this.#registry.configure({ strict: false, defaultModel: settings.default_model || null });
    await repository.scan();
    this.#repository = repository;
  }

  /** MODEL_PATH's one model: fetched, validated, snapshotted and put in the registry (strictly). */
  async #preparePathModel(settings: Settings): Promise<RegistryModel> {
    const served = this.#servedPathVersion(settings.model_name);
    // Asked conditionally against the version the registry serves (its bytes are held; an unloaded
    // model is fetched afresh). Not the live generation's origin: a reload abandoned for a newer
    // SIGHUP has already put its model in the registry, and "unchanged" against the live
    // generation's file would then serve the abandoned reload's bytes under the file's name.
    const fetched = await fetchModel(settings, served?.origin, this.metrics.observeFetch);
    // fetchModel answers "unchanged" only when given an origin, so a version is served then.
    const bytes =
      "unchanged" in fetched
        ? new Uint8Array(await readFile((served as NonNullable<typeof served>).snapshot.path))
        : fetched.bytes;
    const config = serverModelConfig(settings);
    const owner = `${settings.model_name}#${++this.#attempts}`;
    let snapshot: Awaited<ReturnType<ModelStore["prepare"]>>;
    try {
      // CLASS_NAMES must fit the model: refused at start and on reload, before any worker is
      // touched. A new object that does not fit counts as rejected, as an invalid one does: either
      // way the source holds a model this configuration cannot serve.
      snapshot = await this.#store.prepare(bytes, fetched.origin.source, owner, labelOptions(settings));
    } catch (error) {
      this.metrics.rejectModel();
      throw error;
    }
    const limit = settings.model_memory_limit;
    if (limit > 0 && snapshot.bytes > limit) {
      this.#store.release(snapshot, owner);
      throw new Error(
        `model ${settings.model_name} needs ${snapshot.bytes} bytes compiled, more than MODEL_MEMORY_LIMIT (${limit})`,
      );
    }
    const version = snapshot.sha256.slice(0, 12);
    const model: RegistryModel = {
      name: settings.model_name,
      source: fetched.origin.source,
      versions: new Map([
        [version, { version, numbered: false, snapshot, owner, origin: fetched.origin, config }],
      ]),
      defaultVersion: version,
      unavailable: [],
    };
    this.#putPathModel(model, settings);
    return model;
  }

  /** MODEL_PATH's model is `model`, alone in the registry. */
  #putPathModel(model: RegistryModel, settings: Settings): void {
    const previous = this.#registry.names();
    this.#repository = null;
    this.#registry.configure({ strict: true, defaultModel: settings.default_model || null });
    this.#registry.put(model);
    // MODEL_NAME changed with the reload: the model answers to its new name only.
    for (const name of previous) if (name !== model.name) this.#registry.remove(name);
  }

  /**
   * A generation abandoned (its reload superseded by a newer SIGHUP, or its workers failed to boot)
   * after its preparation had put its model in the registry: the live generation's goes back, so
   * the live workers keep the model they serve ("the old workers keep serving") instead of being
   * told the abandoned one, and a reload compares the file with what is served.
   */
  #restoreLivePathModel(abandoned: Generation): void {
    const live = this.#live;
    const model = abandoned.pathModel;
    if (!live?.pathModel || !model || this.#registry.get(model.name) !== model) return;
    // The registry released the live version's owner when the abandoned one replaced it.
    for (const v of live.pathModel.versions.values()) this.#store.retain(v.snapshot, v.owner);
    this.#putPathModel(live.pathModel, live.settings);
    this.#log.info(
      { event: "model_restored", generation: live.plan.id, sha256: pathOrigin(live)?.sha256 },
      "reload abandoned: the live generation's model is served again",
    );
  }

  /** The version of MODEL_PATH's model the registry serves (under the live generation's MODEL_NAME), if any. */
  #servedPathVersion(modelName: string) {
    const current = this.#registry.get(this.#live?.settings.model_name ?? modelName);
    return current ? [...current.versions.values()][0] : undefined;
  }

  #activate(generation: Generation): void {
    this.#settings = generation.settings;
    this.#live = generation;
    const { settings } = generation;
    this.metrics.setGeneration(generation.plan.id);
    this.metrics.modelReloaded();
    // METRICS_PORT serves what the live generation's workers serve (a reload may have moved the files).
    if (this.#tls && generation.tls && this.#tls.material !== generation.tls)
      this.#tls.update(generation.tls);
    // Settings may have changed with the reload (MODEL_PATH, MODEL_POLL_INTERVAL): a fresh poller.
    this.#poller?.stop();
    this.#poller = null;
    this.#repositoryPoller?.stop();
    this.#repositoryPoller = null;
    if (settings.model_repository !== "") {
      const repository = this.#repository as Repository;
      this.#repositoryPoller = new RepositoryPoller(
        settings.model_poll_interval,
        () => repository.scan(),
        this.#log,
        repository.source.description,
      );
      this.#repositoryPoller.start();
      return;
    }
    this.#poller = new ModelPoller(
      settings,
      // What the registry serves, as a reload compares with (see #preparePathModel).
      () => this.#servedPathVersion(settings.model_name)?.origin,
      () => this.#reloadForNewVersion(),
      this.#log,
      this.metrics.observeFetch,
    );
    this.#poller.start();
  }

  /** The poller saw a new version: reload as SIGHUP does, and resolve once that has settled. */
  #reloadForNewVersion(): Promise<void> {
    if (!this.#supervisor) return Promise.resolve();
    return new Promise((resolve) => {
      this.#reloadWaiters.push(resolve);
      this.#feed({ type: "signal", signal: "SIGHUP", now: Date.now() });
      this.#wakeUp();
    });
  }

  /** Resolves the poller's wait once no reload is being prepared, booted or queued. */
  #settleReloadWaiters(force = false): void {
    const s = this.#supervisor;
    const settled =
      force || !s || s.stopping !== null || (!s.preparing && s.pending === null && !s.reloadQueued);
    if (!settled || this.#reloadWaiters.length === 0) return;
    for (const resolve of this.#reloadWaiters.splice(0)) resolve();
  }

  #feed(event: SupervisorEvent): void {
    const supervisor = this.#supervisor;
    if (!supervisor) return;
    for (const action of supervisor.handle(event)) this.#carryOut(action);
    this.#followModelGeneration();
    this.#settleReloadWaiters();
  }

  #carryOut(action: SupervisorAction): void {
    switch (action.type) {
      case "spawn":
        this.#spawn(action.generation);
        break;
      case "shutdown":
        this.#send(action.id, { type: "forestd:shutdown", graceful: action.graceful });
        break;
      case "kill":
        try {
          this.#cluster.get(action.id)?.process.kill(action.signal);
        } catch {
          // already gone; its exit is reaped as usual
        }
        break;
      case "prepare-reload":
        void this.#prepareReload();
        break;
      case "promote": {
        const generation = this.#generations.get(action.generation) as Generation;
        this.#activate(generation);
        this.#forget(action.retired);
        break;
      }
      case "abandon": {
        const abandoned = this.#generations.get(action.generation);
        if (abandoned) this.#restoreLivePathModel(abandoned);
        this.#forget(action.generation);
        break;
      }
      case "count-restart":
        this.metrics.restarts.inc({ reason: action.reason });
        break;
      case "count-boot-failure":
        this.metrics.bootFailures.inc();
        break;
      case "halt":
        break; // the loop ends once the workers are gone; run() logs the reason
      case "log":
        this.#log[action.level]({ event: action.event, ...action.fields }, action.message);
        break;
    }
  }

  /**
   * SIGHUP: each generation's CERTFILE, KEYFILE and CA_CERTS read again, at once, whatever becomes
   * of the reload the signal also starts (a model that does not validate fails the reload, not
   * this). Files that check out are sent to the generation's workers and served on METRICS_PORT
   * (the live generation's): new connections get them, open ones keep their certificate. Broken
   * files change nothing: the last good certificate keeps serving — to workers started later too —
   * and the error says why.
   */
  #reloadTls(): void {
    for (const [id, generation] of this.#generations) {
      if (generation.tls === null) continue;
      try {
        generation.tls = readTlsMaterial(generation.tls.files);
      } catch (error) {
        this.#log.error(
          { event: "tls_reload_failed", generation: id, err: error },
          `TLS certificate not reloaded, the old one keeps serving: ${(error as Error).message}`,
        );
        continue;
      }
      this.#logCertificate("tls_reloaded", generation.tls, "TLS certificate read again");
      const pem = toPem(generation.tls);
      for (const w of this.#supervisor?.workers.values() ?? [])
        if (w.generation === id) this.#send(w.id, { type: "forestd:tls", pem });
      if (generation === this.#live) this.#tls?.update(generation.tls);
    }
  }

  #logCertificate(event: string, material: TlsMaterial, message: string): void {
    this.#log.info({ event, ...certificateFields(material) }, message);
    const problem = certificateValidityProblem(material);
    if (problem) this.#log.warn({ event: "tls_certificate_invalid" }, `${problem}: clients will refuse it`);
  }

  /** A generation no worker will use again: drop its settings and its hold on its model's bytes. */
  #forget(id: number): void {
    const pathModel = this.#generations.get(id)?.pathModel;
    if (pathModel)
      for (const v of pathModel.versions.values()) this.#store.release(v.snapshot, generationOwner(id));
    this.#generations.delete(id);
  }

  async #prepareReload(): Promise<void> {
    this.#log.info({ event: "reload_prepare" }, "reload: reading settings and model");
    let generation: Generation;
    try {
      const settings = (await loadSettings(this.#sources)).settings;
      generation = await this.#prepareGeneration(settings);
    } catch (error) {
      this.#feed({ type: "reload-failed", message: (error as Error).message, now: Date.now() });
      this.#wakeUp();
      return;
    }
    if (generation.settings.bind.join() !== this.#settings.bind.join())
      this.#log.warn({ event: "reload_bind_ignored" }, "BIND changes take effect on restart, not on reload");
    if ((generation.settings.certfile === "") !== (this.#settings.certfile === ""))
      this.#log.warn(
        { event: "reload_tls_switch" },
        "CERTFILE set or unset: the new workers serve BIND accordingly, METRICS_PORT changes on restart",
      );
    const origin = pathOrigin(generation);
    if (origin !== null)
      this.#log.info(
        {
          event: "reload_model",
          generation: generation.plan.id,
          sha256: origin.sha256,
          source: origin.source,
          etag: origin.etag,
          version_id: origin.versionId,
        },
        `reload: model ${origin.source} read and validated`,
      );
    this.#feed({ type: "reload-prepared", plan: generation.plan, now: Date.now() });
    this.#wakeUp();
  }

  /** Worker command-line options for a generation's settings; logs the V8_FLAGS left out, once per generation. */
  #workerExecArgv(settings: Settings): string[] {
    const sorted = sortV8Flags(settings.v8_flags);
    if (!sorted.checked)
      this.#log.warn(
        { event: "v8_flags", unchecked: sorted.unknown },
        "V8_FLAGS: cannot list this Node's V8 flags (node --v8-options failed); workers start without them",
      );
    else if (sorted.unknown.length > 0)
      // The default's flag is missing from older V8s (Node 22): that is expected, not a fault.
      this.#log[settings.v8_flags === V8_FLAGS_DEFAULT ? "info" : "warn"](
        { event: "v8_flags", unknown: sorted.unknown },
        `V8_FLAGS: this Node's V8 (${process.versions.v8}) does not know ${sorted.unknown.join(" ")}; workers start without`,
      );
    return [...process.execArgv, ...sorted.usable];
  }

  #spawn(id: number): void {
    const generation = this.#generations.get(id) as Generation;
    // Before each fork: the flags belong to the generation's settings.
    cluster.setupPrimary({ execArgv: [...generation.execArgv] });
    const worker = cluster.fork({
      [WORKER_ENV.settings]: JSON.stringify(generation.settings),
      [WORKER_ENV.generation]: String(id),
      [WORKER_ENV.peerToken]: this.#peerToken,
    });
    this.#cluster.set(worker.id, worker);
    this.#log.info(
      { event: "worker_spawn", worker: worker.id, pid: worker.process.pid, generation: id },
      "spawned worker",
    );
    this.#feed({ type: "spawned", id: worker.id, generation: id, now: Date.now() });
  }

  /** False when the worker is gone or going (nothing sent, `onSent` never runs). */
  #send(id: number, message: PrimaryMessage, handle?: ListenHandle, onSent?: () => void): boolean {
    const worker = this.#cluster.get(id);
    try {
      if (!worker?.isConnected()) return false;
      worker.send(message, handle as never, onSent);
      return true;
    } catch {
      // The worker is already going away; its exit is reaped as usual.
      return false;
    }
  }

  #onMessage(worker: Worker, message: unknown, handle?: unknown): void {
    if (!isWorkerMessage(message)) return;
    const m = message as WorkerMessage;
    const now = Date.now();
    switch (m.type) {
      case "forestd:handoff":
        this.#feed({ type: "heartbeat", id: worker.id, now });
        this.#routeConnection(worker.id, m, handle as ListenHandle | undefined);
        break;
      case "forestd:listen-request":
        this.#feed({ type: "heartbeat", id: worker.id, now });
        for (const [index, handle] of this.#handles.entries())
          this.#send(worker.id, { type: "forestd:listen", index, count: this.#handles.length }, handle);
        break;
      case "forestd:ready":
        this.#feed({ type: "ready", id: worker.id, now });
        break;
      case "forestd:tls-request": {
        this.#feed({ type: "heartbeat", id: worker.id, now });
        const generation = this.#supervisor?.workers.get(worker.id)?.generation;
        const tls = generation === undefined ? null : (this.#generations.get(generation)?.tls ?? null);
        this.#send(worker.id, { type: "forestd:tls", pem: tls && toPem(tls) });
        break;
      }
      case "forestd:models-request":
        this.#feed({ type: "heartbeat", id: worker.id, now });
        this.#subscribed.add(worker.id);
        this.#send(worker.id, { type: "forestd:models", set: this.#registry.set() });
        break;
      case "forestd:models-state":
        this.#feed({ type: "heartbeat", id: worker.id, now });
        this.#registry.workerState(worker.id, m.state);
        this.#settleModelWaiters();
        break;
      case "forestd:heartbeat":
        this.#feed({ type: "heartbeat", id: worker.id, now });
        if (m.connections !== undefined) {
          this.#router.report(worker.id, m.connections, m.received ?? 0);
          this.#tellPeers(worker.id);
        }
        break;
      case "forestd:retire":
        this.#feed({ type: "retire-request", id: worker.id, now });
        break;
      case "forestd:boot-error":
        this.#feed({ type: "boot-error", id: worker.id, message: m.message });
        break;
      case "forestd:metrics":
      case "forestd:metrics-delta":
        this.#feed({ type: "heartbeat", id: worker.id, now });
        this.#clusterMetrics.onWorkerMessage(worker.id, m);
        break;
      case "forestd:cluster-metrics":
        this.#clusterMetrics.text().then(
          ({ contentType, body }) =>
            this.#send(worker.id, {
              type: "forestd:cluster-metrics-text",
              requestId: m.requestId,
              contentType,
              body,
            }),
          (error: Error) =>
            this.#log.error({ event: "metrics_failed", err: error }, "cluster metrics failed"),
        );
        break;
    }
  }

  /**
   * A connection a worker accepted beyond its share of a burst: to the ready worker holding the
   * fewest (the sender too, if that is it; it serves what comes back). The primary's copy of the
   * descriptor is closed once sent; with nobody to take it, the connection is closed.
   */
  #routeConnection(
    from: number,
    {
      index,
      connections,
      received,
      elsewhere,
    }: { index: number; connections: number; received: number; elsewhere?: boolean },
    handle: ListenHandle | undefined,
  ): void {
    if (!handle) return;
    this.#router.report(from, connections, received);
    // The sender is heard from now (its hand-off counted as a heartbeat), so it is a candidate unless
    // the connection must move; one that must goes to a quiet worker rather than back, if no other is heard from.
    const heard = this.#readyWorkers(true);
    let candidates = elsewhere ? heard.filter((id) => id !== from) : heard;
    if (elsewhere && candidates.length === 0)
      candidates = this.#readyWorkers(false).filter((id) => id !== from);
    const to = this.#router.route(candidates) ?? from;
    // Node sends one handle at a time per channel (each waits for the worker's acknowledgement),
    // and a channel that closes drops the queued ones without calling back: whatever is still
    // outstanding when the worker exits is closed then (#onExit).
    const forwarding = this.#forwarding.get(to) ?? new Set<ListenHandle>();
    this.#forwarding.set(to, forwarding);
    forwarding.add(handle);
    const close = () => {
      if (forwarding.delete(handle)) handle.close();
    };
    // With nobody to take it, the connection is closed.
    if (!this.#send(to, { type: "forestd:connection", index }, handle, close)) close();
  }

  /**
   * Every ready worker learns the fewest connections another holds: the one reporting, whatever
   * the figure (its heartbeat expects an answer), the others when theirs changed (so a worker
   * whose peer's connections just closed does not take the next burst by a stale figure).
   */
  #tellPeers(reporting: number): void {
    const ready = this.#readyWorkers(true);
    for (const id of ready) {
      const fewest = this.#router.fewestBesides(id, ready);
      if (id !== reporting && this.#peersSent.get(id) === fewest) continue;
      this.#peersSent.set(id, fewest);
      this.#send(id, { type: "forestd:peers", fewest });
    }
  }

  /**
   * Workers ready to serve. `heardFrom`: only those that may be given connections, heard from within
   * QUIET_MS and not being timed out.
   */
  #readyWorkers(heardFrom: boolean): number[] {
    const now = Date.now();
    const ready: number[] = [];
    for (const w of this.#supervisor?.workers.values() ?? []) {
      if (w.phase !== "ready") continue;
      if (heardFrom && (w.termSentAt !== undefined || now - w.lastSeen > QUIET_MS)) continue;
      ready.push(w.id);
    }
    return ready;
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    this.#cluster.delete(worker.id);
    this.#subscribed.delete(worker.id);
    this.#registry.forgetWorker(worker.id);
    // After the supervisor has forgotten it too (below, #feed): settled in the next turn.
    setImmediate(() => this.#settleModelWaiters());
    this.#router.forget(worker.id);
    this.#peersSent.delete(worker.id);
    const forwarding = this.#forwarding.get(worker.id);
    if (forwarding) {
      for (const handle of forwarding) handle.close();
      // Emptied, so that a send callback arriving after all finds nothing left to close.
      forwarding.clear();
      this.#forwarding.delete(worker.id);
    }
    this.#clusterMetrics.onWorkerExit(worker.id);
    const record = this.#supervisor?.workers.get(worker.id);
    this.#log.info(
      {
        event: "worker_exit",
        worker: worker.id,
        pid: worker.process.pid,
        code,
        signal,
        reason: record?.bootError ?? record?.reason,
        uptime_ms: record ? Date.now() - record.startedAt : undefined,
      },
      `worker ${worker.id} exited (${signal ?? `code ${code}`})`,
    );
    this.#feed({
      type: "exit",
      id: worker.id,
      bootError: code === BOOT_ERROR_EXIT_CODE,
      signal,
      now: Date.now(),
    });
    this.#wakeUp();
  }

  #queue(signal: QueuedSignal): void {
    this.#signals.push(signal);
    this.#wakeUp();
  }

  #wakeUp(): void {
    this.#wake?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = null;
        done();
      };
    });
  }

  #writePidFile(): void {
    if (this.#settings.pid_file) writeFileSync(this.#settings.pid_file, `${process.pid}\n`);
  }

  #removePidFile(): void {
    const file = this.#settings.pid_file;
    if (file && existsSync(file) && readFileSync(file, "utf8").trim() === String(process.pid))
      rmSync(file, { force: true });
  }
}

export async function runPrimary(sources: SettingsSources, settings?: Settings): Promise<number> {
  const resolved = settings ?? (await loadSettings(sources)).settings;
  return new Arbiter(resolved, sources).run();
}
