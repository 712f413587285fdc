/**
 * The primary process: an arbiter after Gunicorn's (gunicorn/arbiter.py).
 *
 * Signal handlers only queue the signal. One loop wakes at least twice a second, handles queued
 * signals, kills workers that have gone silent (murder), and brings the worker count back to the
 * target (manage); exits are reaped as they happen. A worker that fails at boot exits with
 * BOOT_ERROR_EXIT_CODE and the arbiter halts instead of respawning it forever.
 *
 * Generations make reloads safe: SIGHUP starts a new generation with freshly read settings and
 * model, and only once all of it is ready does the old generation drain and retire. If the new
 * one cannot boot, the old one keeps serving.
 */
import cluster, { type Worker } from "node:cluster";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { loadSettings, parseBind, type SettingsSources } from "../config/load-settings.js";
import { createLogger } from "../config/logger.js";
import type { Settings } from "../config/settings.js";
import { loadModel, packageRoot } from "../model/index.js";
import { ClusterMetrics } from "./cluster-metrics.js";
import { BOOT_ERROR_EXIT_CODE, isWorkerMessage, type PrimaryMessage, type WorkerMessage } from "./ipc.js";
import { PrimaryMetrics } from "./primary-metrics.js";

type QueuedSignal = "SIGTERM" | "SIGINT" | "SIGQUIT" | "SIGHUP" | "SIGTTIN" | "SIGTTOU";
const HANDLED_SIGNALS: QueuedSignal[] = ["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGTTIN", "SIGTTOU"];
/** A worker that dies this soon after it was forked counts as failing at boot (backoff). */
const EARLY_DEATH_MS = 5000;
const MAX_BACKOFF_MS = 30_000;
/** Extra time a booting worker gets before the heartbeat timeout applies (model load, threads). */
const BOOT_GRACE_MS = 30_000;
/** Between SIGTERM and SIGKILL for a worker that must go (a silent one cannot even run its handler). */
const KILL_GRACE_MS = 500;
/** How often the arbiter loop wakes when nothing else wakes it. */
const LOOP_MS = 500;

interface WorkerState {
  worker: Worker;
  generation: number;
  state: "booting" | "ready" | "retiring";
  startedAt: number;
  lastSeen: number;
  sha256?: string;
  /** Asked to be replaced (MAX_REQUESTS): keeps serving until its replacement is ready. */
  replaceRequested: boolean;
  retiringSince?: number;
  termSentAt?: number;
  /** Why the arbiter is taking it down, for forestd_worker_restarts_total and the log. */
  reason?: string;
}

function workerEntry(): string {
  const sibling = fileURLToPath(new URL("./worker-main.js", import.meta.url));
  return existsSync(sibling) ? sibling : join(packageRoot(), "dist", "workers", "worker-main.js");
}

export class Arbiter {
  readonly #sources: SettingsSources;
  readonly #log: Logger;
  readonly metrics: PrimaryMetrics;
  readonly #clusterMetrics: ClusterMetrics;
  #objective = "";
  #pendingObjective = "";
  readonly #workers = new Map<number, WorkerState>();
  readonly #signals: QueuedSignal[] = [];
  readonly #settingsByGeneration = new Map<number, Settings>();
  #settings: Settings;
  #target: number;
  #live = 1;
  #pending: number | null = null;
  #nextGeneration = 2;
  #earlyDeaths = 0;
  #nextSpawnAt = 0;
  #stopping: { graceful: boolean; deadline: number } | null = null;
  #halt: string | null = null;
  #wake: (() => void) | null = null;

  constructor(settings: Settings, sources: SettingsSources) {
    this.#settings = settings;
    this.#sources = sources;
    this.#target = settings.workers;
    this.#settingsByGeneration.set(this.#live, settings);
    this.#log = createLogger(settings, { pid: process.pid, role: "primary" });
    this.metrics = new PrimaryMetrics(() => this.#servingCount());
    this.#clusterMetrics = new ClusterMetrics(this.metrics, () =>
      [...this.#workers.values()].map((w) => w.worker),
    );
  }

  get settings(): Settings {
    return this.#settings;
  }

  /** Runs until the server stops; resolves with the process exit code. */
  async run(): Promise<number> {
    // Workers accept from the shared listening socket themselves (SCHED_NONE). In round-robin
    // mode the primary accepts and hands each connection over IPC; one handed to a worker that has
    // just died is never answered nor closed, so a client hangs. Here it stays queued in the kernel
    // for the surviving workers.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: workerEntry() });
    for (const signal of HANDLED_SIGNALS) process.on(signal, () => this.#queue(signal));
    cluster.on("exit", (worker, code, signal) => this.#reap(worker, code, signal));
    cluster.on("message", (worker, message) => this.#onMessage(worker, message));
    this.#writePidFile();
    this.#objective = loadModel(this.#settings.model_path).objective;
    try {
      await this.#clusterMetrics.listen(parseBind(this.#settings.bind[0]).host, this.#settings.metrics_port);
    } catch (error) {
      this.#log.fatal(
        { event: "arbiter_halt", err: error },
        `cannot serve metrics on METRICS_PORT ${this.#settings.metrics_port}: ${(error as Error).message}`,
      );
      this.#removePidFile();
      return 1;
    }
    this.#log.info(
      {
        event: "arbiter_start",
        workers: this.#target,
        threads: this.#settings.threads,
        bind: this.#settings.bind,
      },
      `forestd starting ${this.#target} worker(s) on ${this.#settings.bind.join(", ")}`,
    );
    this.metrics.setModel(this.#settings.model_name, "", this.#objective);
    try {
      for (;;) {
        this.#handleSignals();
        if (this.#halt !== null || this.#stopping) {
          if (this.#workers.size === 0) break;
          this.#enforceStopDeadline();
        } else {
          this.#murderWorkers();
          this.#manageWorkers();
        }
        await this.#sleep(LOOP_MS);
      }
    } finally {
      this.#clusterMetrics.close();
      this.#removePidFile();
      for (const signal of HANDLED_SIGNALS) process.removeAllListeners(signal);
    }
    if (this.#halt !== null) {
      this.#log.fatal({ event: "arbiter_halt", reason: this.#halt }, `forestd halted: ${this.#halt}`);
      return 1;
    }
    this.#log.info({ event: "arbiter_stop" }, "forestd stopped");
    return 0;
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

  #handleSignals(): void {
    while (this.#signals.length > 0) {
      const signal = this.#signals.shift() as QueuedSignal;
      this.#log.info({ event: "signal", signal }, `received ${signal}`);
      switch (signal) {
        case "SIGTERM":
          this.#stop(true);
          break;
        case "SIGINT":
        case "SIGQUIT":
          this.#stop(false);
          break;
        case "SIGHUP":
          void this.#reload();
          break;
        case "SIGTTIN":
          this.#target++;
          this.#log.info({ event: "scale", workers: this.#target }, `workers: ${this.#target}`);
          break;
        case "SIGTTOU":
          this.#target = Math.max(1, this.#target - 1);
          this.#log.info({ event: "scale", workers: this.#target }, `workers: ${this.#target}`);
          break;
      }
    }
  }

  #stop(graceful: boolean): void {
    if (this.#stopping?.graceful === false) return;
    const grace = graceful ? this.#settings.graceful_timeout * 1000 + KILL_GRACE_MS : KILL_GRACE_MS;
    this.#stopping = { graceful, deadline: Date.now() + grace };
    for (const w of this.#workers.values()) this.#shutdown(w, graceful, graceful ? "stop" : "quick_stop");
  }

  #enforceStopDeadline(): void {
    const deadline = this.#stopping?.deadline ?? 0;
    if (Date.now() < deadline) return;
    for (const w of this.#workers.values()) {
      this.#log.warn(
        { event: "worker_kill", worker: w.worker.id },
        "still running after the stop deadline: SIGKILL",
      );
      w.worker.process.kill("SIGKILL");
    }
  }

  #send(w: WorkerState, message: PrimaryMessage): void {
    try {
      if (w.worker.isConnected()) w.worker.send(message);
    } catch {
      // The worker is already going away; its exit is reaped as usual.
    }
  }

  #shutdown(w: WorkerState, graceful: boolean, reason: string): void {
    if (w.state !== "retiring") {
      w.state = "retiring";
      w.retiringSince = Date.now();
      w.reason = reason;
    }
    this.#send(w, { type: "forestd:shutdown", graceful });
  }

  /** Workers of the live generation that are up and not about to be replaced. */
  #servingCount(): number {
    let n = 0;
    for (const w of this.#workers.values()) if (w.state !== "retiring") n++;
    return n;
  }

  #spawn(generation: number): void {
    const settings = this.#settingsByGeneration.get(generation) as Settings;
    const worker = cluster.fork({
      FORESTD_SETTINGS: JSON.stringify(settings),
      FORESTD_GENERATION: String(generation),
    });
    const now = Date.now();
    this.#workers.set(worker.id, {
      worker,
      generation,
      state: "booting",
      startedAt: now,
      lastSeen: now + BOOT_GRACE_MS,
      replaceRequested: false,
    });
    this.#log.info(
      { event: "worker_spawn", worker: worker.id, pid: worker.process.pid, generation },
      "spawned worker",
    );
  }

  #manageWorkers(): void {
    const now = Date.now();
    for (const generation of this.#pending === null ? [this.#live] : [this.#live, this.#pending]) {
      const members = [...this.#workers.values()].filter(
        (w) => w.generation === generation && w.state !== "retiring",
      );
      const active = members.filter((w) => !w.replaceRequested);
      if (active.length < this.#target && now >= this.#nextSpawnAt) {
        for (let i = active.length; i < this.#target; i++) this.#spawn(generation);
      }
      if (active.length > this.#target) {
        const surplus = active
          .sort((a, b) => a.startedAt - b.startedAt)
          .slice(0, active.length - this.#target);
        for (const w of surplus) this.#shutdown(w, true, "scale_down");
      }
    }
    this.#retireReplaced();
    this.#promotePending();
  }

  /** Workers that asked to be recycled go once enough fresh ones are ready. */
  #retireReplaced(): void {
    const members = [...this.#workers.values()].filter(
      (w) => w.generation === this.#live && w.state !== "retiring",
    );
    const readyFresh = members.filter((w) => w.state === "ready" && !w.replaceRequested).length;
    if (readyFresh < this.#target) return;
    for (const w of members) if (w.replaceRequested) this.#shutdown(w, true, "max_requests");
  }

  /** A reload's new generation, once all of it is ready, takes over; the old one drains. */
  #promotePending(): void {
    if (this.#pending === null) return;
    const pending = this.#pending;
    const ready = [...this.#workers.values()].filter(
      (w) => w.generation === pending && w.state === "ready",
    ).length;
    if (ready < this.#target) return;
    const old = this.#live;
    this.#live = pending;
    this.#pending = null;
    this.#settings = this.#settingsByGeneration.get(pending) as Settings;
    this.#objective = this.#pendingObjective;
    for (const w of this.#workers.values()) if (w.generation === old) this.#shutdown(w, true, "reload");
    this.#settingsByGeneration.delete(old);
    const sha = [...this.#workers.values()].find((w) => w.generation === pending)?.sha256 ?? "";
    this.metrics.setModel(this.#settings.model_name, sha, this.#objective);
    this.#log.info(
      { event: "reload_done", generation: pending, sha256: sha },
      "reload complete: new generation serving",
    );
  }

  async #reload(): Promise<void> {
    if (this.#pending !== null) {
      this.#log.warn({ event: "reload_skipped" }, "a reload is already in progress");
      return;
    }
    let settings: Settings;
    try {
      settings = (await loadSettings(this.#sources)).settings;
      // Refuse a bad model here, before any worker is touched.
      this.#pendingObjective = loadModel(settings.model_path).objective;
    } catch (error) {
      this.#log.error(
        { event: "reload_failed", err: error },
        `reload failed, old workers keep serving: ${(error as Error).message}`,
      );
      return;
    }
    const generation = this.#nextGeneration++;
    this.#settingsByGeneration.set(generation, settings);
    this.#target = settings.workers;
    this.#pending = generation;
    this.#log.info(
      { event: "reload_start", generation, model: settings.model_path },
      "reload: starting a new generation",
    );
    this.#wakeUp();
  }

  #murderWorkers(): void {
    const now = Date.now();
    const timeoutMs = this.#settings.timeout * 1000;
    for (const w of this.#workers.values()) {
      const silent = now - w.lastSeen > timeoutMs;
      const overdueRetiring =
        w.state === "retiring" &&
        w.retiringSince !== undefined &&
        now - w.retiringSince > this.#settings.graceful_timeout * 1000 + KILL_GRACE_MS;
      if (!silent && !overdueRetiring) continue;
      if (w.termSentAt === undefined) {
        w.termSentAt = now;
        if (w.state !== "retiring") w.reason = "timeout";
        this.#log.warn(
          { event: "worker_timeout", worker: w.worker.id, pid: w.worker.process.pid },
          "worker silent past TIMEOUT: SIGTERM",
        );
        w.worker.process.kill("SIGTERM");
      } else if (now - w.termSentAt > KILL_GRACE_MS) {
        this.#log.warn({ event: "worker_kill", worker: w.worker.id }, "worker did not stop: SIGKILL");
        w.worker.process.kill("SIGKILL");
      }
    }
  }

  #onMessage(worker: Worker, message: unknown): void {
    if (!isWorkerMessage(message)) return;
    const w = this.#workers.get(worker.id);
    if (!w) return;
    const m = message as WorkerMessage;
    w.lastSeen = Math.max(w.lastSeen, Date.now());
    switch (m.type) {
      case "forestd:ready":
        if (w.state === "retiring") {
          // Told to go while it was booting: say it again now that it surely listens.
          this.#send(w, { type: "forestd:shutdown", graceful: this.#stopping?.graceful ?? true });
          break;
        }
        if (w.state === "booting") w.state = "ready";
        w.lastSeen = Date.now();
        w.sha256 = m.sha256;
        this.#earlyDeaths = 0;
        if (w.generation === this.#live)
          this.metrics.setModel(this.#settings.model_name, m.sha256, this.#objective);
        this.#log.info(
          { event: "worker_ready", worker: worker.id, generation: w.generation },
          "worker ready",
        );
        this.#retireReplaced();
        this.#promotePending();
        break;
      case "forestd:heartbeat":
        w.lastSeen = Date.now();
        break;
      case "forestd:retire":
        if (!w.replaceRequested && w.state !== "retiring") {
          w.replaceRequested = true;
          this.#wakeUp();
        }
        break;
      case "forestd:boot-error":
        w.reason = `boot error: ${m.message}`;
        break;
      case "forestd:metrics":
        this.#clusterMetrics.onWorkerMessage(worker.id, m);
        break;
      case "forestd:cluster-metrics":
        this.#clusterMetrics.text().then(
          ({ contentType, body }) =>
            this.#send(w, {
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

  #reap(worker: Worker, code: number | null, signal: string | null): void {
    const w = this.#workers.get(worker.id);
    this.#workers.delete(worker.id);
    this.#clusterMetrics.onWorkerExit(worker.id);
    if (!w) return;
    const uptime = Date.now() - w.startedAt;
    this.#log.info(
      {
        event: "worker_exit",
        worker: worker.id,
        pid: worker.process.pid,
        code,
        signal,
        reason: w.reason,
        uptime_ms: uptime,
      },
      `worker ${worker.id} exited (${signal ?? `code ${code}`})`,
    );
    if (code === BOOT_ERROR_EXIT_CODE) {
      if (w.generation === this.#pending) {
        // The new generation cannot boot: abandon it, the old one keeps serving.
        this.#log.error(
          { event: "reload_failed", reason: w.reason },
          `reload failed, old workers keep serving: ${w.reason}`,
        );
        for (const other of this.#workers.values())
          if (other.generation === this.#pending) this.#shutdown(other, false, "reload_failed");
        this.#settingsByGeneration.delete(this.#pending);
        this.#pending = null;
        this.#target = this.#settings.workers;
      } else if (!this.#stopping) {
        this.#halt = w.reason ?? "a worker failed to boot";
        this.#stopping = { graceful: false, deadline: Date.now() + KILL_GRACE_MS };
        for (const other of this.#workers.values()) this.#shutdown(other, false, "halt");
      }
    } else if (!this.#stopping && w.state !== "retiring") {
      const reason = w.reason ?? (signal ? "killed" : "crashed");
      this.metrics.restarts.inc({ reason });
      if (w.state === "booting" || uptime < EARLY_DEATH_MS) {
        this.#earlyDeaths++;
        const backoff = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(this.#earlyDeaths, 20));
        this.#nextSpawnAt = Date.now() + backoff;
        this.#log.warn({ event: "worker_backoff", backoff_ms: backoff }, "worker died early; backing off");
      }
    } else if (w.state === "retiring" && w.reason && !this.#stopping) {
      this.metrics.restarts.inc({ reason: w.reason });
    }
    this.#wakeUp();
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
