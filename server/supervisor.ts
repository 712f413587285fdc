/**
 * The arbiter's decisions, as a pure state machine (after Gunicorn's arbiter, tested the way
 * gunicorn/tests/test_arbiter.py tests it: with a fake clock and no processes).
 *
 * Events go in (a signal, a worker's ready / heartbeat / exit, a clock tick, a reload prepared or
 * failed); actions come out (spawn, send shutdown, kill, prepare a reload, promote, halt, count,
 * log). Nothing here forks, signals, reads files or looks at a clock: `server/arbiter.ts` is the
 * thin adapter that does all of that and feeds back what happened.
 *
 * Rules worth knowing:
 * - A generation is one model (bytes validated by the primary) and one set of settings. SIGHUP
 *   prepares a new generation; it is promoted once `target` of its workers are ready, and only then
 *   does the old one drain. A SIGHUP while a reload is being prepared or booted is queued: when the
 *   current one settles, one more reload runs (the last wins), so no SIGHUP is ever dropped.
 * - A worker that fails to boot halts the arbiter only before any worker has ever been ready (a
 *   server that cannot start should say so and exit, as Gunicorn does). Once serving, a boot
 *   failure is counted and retried with backoff while the healthy workers keep serving.
 * - Silence is bounded by TIMEOUT for every worker, booting ones included (workers heartbeat from
 *   their first instant): SIGTERM, then SIGKILL.
 * - Scaling down (SIGTTOU) retires booting and silent workers before healthy ones.
 */

export type QueuedSignal = "SIGTERM" | "SIGINT" | "SIGQUIT" | "SIGHUP" | "SIGTTIN" | "SIGTTOU";

/** A worker that dies this soon after it was forked counts as dying early (backoff). */
export const EARLY_DEATH_MS = 5000;
export const MAX_BACKOFF_MS = 30_000;
/** Between SIGTERM and SIGKILL for a worker that must go (a silent one cannot run its handler). */
export const KILL_GRACE_MS = 500;
/** A worker that has not said anything for this long is treated as hung when choosing whom to retire. */
export const HUNG_AFTER_MS = 1500;

/** Why a worker is taken down: the `reason` label of forestd_worker_restarts_total. */
export const RESTART_REASONS = [
  "crashed",
  "killed",
  "timeout",
  "max_requests",
  "reload",
  "scale_down",
] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];

export interface GenerationPlan {
  readonly id: number;
  /** Workers this generation asks for (its WORKERS setting). */
  readonly workers: number;
  readonly timeoutMs: number;
  readonly gracefulTimeoutMs: number;
}

export type WorkerPhase = "booting" | "ready" | "retiring";

export interface WorkerRecord {
  readonly id: number;
  readonly generation: number;
  phase: WorkerPhase;
  readonly startedAt: number;
  lastSeen: number;
  /** Asked to be replaced (MAX_REQUESTS): keeps serving until its replacement is ready. */
  replaceRequested: boolean;
  retiringSince?: number;
  termSentAt?: number;
  reason?: RestartReason | "stop" | "quick_stop" | "halt" | "reload_failed";
  bootError?: string;
}

export type SupervisorEvent =
  | { type: "tick"; now: number }
  | { type: "signal"; signal: QueuedSignal; now: number }
  | { type: "spawned"; id: number; generation: number; now: number }
  | { type: "ready"; id: number; now: number }
  | { type: "heartbeat"; id: number; now: number }
  | { type: "retire-request"; id: number; now: number }
  | { type: "boot-error"; id: number; message: string }
  | { type: "exit"; id: number; bootError: boolean; signal: string | null; now: number }
  | { type: "reload-prepared"; plan: GenerationPlan; now: number }
  | { type: "reload-failed"; message: string; now: number };

export type LogLevel = "info" | "warn" | "error";

export type SupervisorAction =
  | { type: "spawn"; generation: number }
  | { type: "shutdown"; id: number; graceful: boolean }
  | { type: "kill"; id: number; signal: "SIGTERM" | "SIGKILL" }
  | { type: "prepare-reload" }
  | { type: "promote"; generation: number; retired: number }
  | { type: "abandon"; generation: number }
  | { type: "count-restart"; reason: RestartReason }
  | { type: "count-boot-failure" }
  | { type: "halt"; reason: string }
  | { type: "log"; level: LogLevel; event: string; message: string; fields?: Record<string, unknown> };

export class Supervisor {
  readonly workers = new Map<number, WorkerRecord>();
  readonly plans = new Map<number, GenerationPlan>();
  /** Workers wanted per generation (WORKERS, moved by TTIN/TTOU). */
  target: number;
  live: number;
  /** The generation being booted by a reload, if any. */
  pending: number | null = null;
  /** A reload is being prepared (settings and model read) by the adapter. */
  preparing = false;
  /** SIGHUPs that arrived while a reload was in flight: one more reload runs when it settles. */
  reloadQueued = false;
  /** Some worker has been ready at least once: from then on boot failures do not halt. */
  served = false;
  stopping: { graceful: boolean; deadline: number } | null = null;
  halted: string | null = null;
  earlyDeaths = 0;
  nextSpawnAt = 0;
  /** Spawns asked for but not yet reported back as `spawned`, per generation. */
  readonly #spawning = new Map<number, number>();

  constructor(first: GenerationPlan) {
    this.plans.set(first.id, first);
    this.live = first.id;
    this.target = first.workers;
  }

  /** True once the arbiter has nothing left to run: stopping or halted, and every worker gone. */
  get finished(): boolean {
    return (this.stopping !== null || this.halted !== null) && this.workers.size === 0;
  }

  /**
   * The generation whose workers are told of changes to the model set: the one a reload is booting,
   * none while a reload is being prepared (its model enters the registry then, and its workers ask
   * for the whole set as they boot), else the live one. Older generations keep the models they
   * have until they drain: a reload's model is loaded by the workers that will serve it, not also
   * by the ones it replaces (each load takes CPU and event-loop time from their requests).
   */
  get modelGeneration(): number | null {
    if (this.pending !== null) return this.pending;
    return this.preparing ? null : this.live;
  }

  /** Workers not draining (booting or ready): the `forestd_workers` gauge. */
  get servingCount(): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.phase !== "retiring") n++;
    return n;
  }

  handle(event: SupervisorEvent): SupervisorAction[] {
    const out: SupervisorAction[] = [];
    switch (event.type) {
      case "tick":
        this.#tick(event.now, out);
        break;
      case "signal":
        this.#signal(event.signal, event.now, out);
        break;
      case "spawned": {
        const left = (this.#spawning.get(event.generation) ?? 1) - 1;
        if (left > 0) this.#spawning.set(event.generation, left);
        else this.#spawning.delete(event.generation);
        this.workers.set(event.id, {
          id: event.id,
          generation: event.generation,
          phase: "booting",
          startedAt: event.now,
          lastSeen: event.now,
          replaceRequested: false,
        });
        // Stop asked for, or its generation abandoned, while the fork was in flight.
        if (this.stopping || (event.generation !== this.live && event.generation !== this.pending))
          this.#retire(this.workers.get(event.id) as WorkerRecord, event.now, false, "quick_stop", out);
        break;
      }
      case "ready":
        this.#ready(event.id, event.now, out);
        break;
      case "heartbeat": {
        const w = this.workers.get(event.id);
        if (w) w.lastSeen = Math.max(w.lastSeen, event.now);
        break;
      }
      case "retire-request": {
        const w = this.workers.get(event.id);
        if (w) w.lastSeen = Math.max(w.lastSeen, event.now);
        if (w && !w.replaceRequested && w.phase !== "retiring") {
          w.replaceRequested = true;
          this.#tick(event.now, out);
        }
        break;
      }
      case "boot-error": {
        const w = this.workers.get(event.id);
        if (w) w.bootError = event.message;
        break;
      }
      case "exit":
        this.#exit(event.id, event.bootError, event.signal, event.now, out);
        break;
      case "reload-prepared":
        this.#reloadPrepared(event.plan, event.now, out);
        break;
      case "reload-failed":
        this.preparing = false;
        out.push({
          type: "log",
          level: "error",
          event: "reload_failed",
          message: `reload failed, old workers keep serving: ${event.message}`,
        });
        this.#startQueuedReload(out);
        break;
    }
    return out;
  }

  #signal(signal: QueuedSignal, now: number, out: SupervisorAction[]): void {
    switch (signal) {
      case "SIGTERM":
        this.#stop(true, now, out);
        return;
      case "SIGINT":
      case "SIGQUIT":
        this.#stop(false, now, out);
        return;
      case "SIGHUP":
        if (this.stopping || this.halted !== null) return;
        if (this.preparing || this.pending !== null) {
          this.reloadQueued = true;
          out.push({
            type: "log",
            level: "info",
            event: "reload_queued",
            message: "a reload is in progress: another one follows when it settles",
          });
        } else {
          this.preparing = true;
          out.push({ type: "prepare-reload" });
        }
        return;
      case "SIGTTIN":
      case "SIGTTOU":
        this.target = Math.max(1, this.target + (signal === "SIGTTIN" ? 1 : -1));
        out.push({
          type: "log",
          level: "info",
          event: "scale",
          message: `workers: ${this.target}`,
          fields: { workers: this.target },
        });
        this.#tick(now, out);
        return;
    }
  }

  #stop(graceful: boolean, now: number, out: SupervisorAction[]): void {
    if (this.stopping?.graceful === false) return;
    const plan = this.plans.get(this.live) as GenerationPlan;
    const grace = graceful ? plan.gracefulTimeoutMs + KILL_GRACE_MS : KILL_GRACE_MS;
    this.stopping = { graceful, deadline: now + grace };
    for (const w of this.workers.values())
      this.#retire(w, now, graceful, graceful ? "stop" : "quick_stop", out);
  }

  #retire(
    w: WorkerRecord,
    now: number,
    graceful: boolean,
    reason: WorkerRecord["reason"],
    out: SupervisorAction[],
  ): void {
    if (w.phase !== "retiring") {
      w.phase = "retiring";
      w.retiringSince = now;
      w.reason = reason;
    }
    out.push({ type: "shutdown", id: w.id, graceful });
  }

  #ready(id: number, now: number, out: SupervisorAction[]): void {
    const w = this.workers.get(id);
    if (!w) return;
    w.lastSeen = Math.max(w.lastSeen, now);
    if (w.phase === "retiring") {
      // Told to go while it was booting: say it again now that it surely listens.
      out.push({ type: "shutdown", id, graceful: this.stopping?.graceful ?? true });
      return;
    }
    w.phase = "ready";
    this.served = true;
    this.earlyDeaths = 0;
    out.push({
      type: "log",
      level: "info",
      event: "worker_ready",
      message: "worker ready",
      fields: { worker: id, generation: w.generation },
    });
    this.#retireReplaced(now, out);
    this.#promotePending(now, out);
  }

  #tick(now: number, out: SupervisorAction[]): void {
    if (this.stopping || this.halted !== null) {
      if (this.stopping && now >= this.stopping.deadline) {
        for (const w of this.workers.values()) out.push({ type: "kill", id: w.id, signal: "SIGKILL" });
      }
      return;
    }
    this.#murder(now, out);
    this.#manage(now, out);
  }

  /** Workers silent past TIMEOUT (booting ones too), and retiring ones past GRACEFUL_TIMEOUT. */
  #murder(now: number, out: SupervisorAction[]): void {
    for (const w of this.workers.values()) {
      const plan = this.plans.get(w.generation) ?? (this.plans.get(this.live) as GenerationPlan);
      const silent = now - w.lastSeen > plan.timeoutMs;
      const overdue =
        w.phase === "retiring" &&
        w.retiringSince !== undefined &&
        now - w.retiringSince > plan.gracefulTimeoutMs + KILL_GRACE_MS;
      if (!silent && !overdue) continue;
      if (w.termSentAt === undefined) {
        w.termSentAt = now;
        if (w.phase !== "retiring") w.reason = "timeout";
        out.push({
          type: "log",
          level: "warn",
          event: "worker_timeout",
          message: silent
            ? "worker silent past TIMEOUT: SIGTERM"
            : "worker still draining past GRACEFUL_TIMEOUT: SIGTERM",
          fields: { worker: w.id, phase: w.phase },
        });
        out.push({ type: "kill", id: w.id, signal: "SIGTERM" });
      } else if (now - w.termSentAt > KILL_GRACE_MS) {
        out.push({
          type: "log",
          level: "warn",
          event: "worker_kill",
          message: "worker did not stop: SIGKILL",
          fields: { worker: w.id },
        });
        out.push({ type: "kill", id: w.id, signal: "SIGKILL" });
      }
    }
  }

  /** Brings each current generation (live, and pending while a reload boots) to `target` workers. */
  #manage(now: number, out: SupervisorAction[]): void {
    const generations = this.pending === null ? [this.live] : [this.live, this.pending];
    for (const generation of generations) {
      const members = [...this.workers.values()].filter(
        (w) => w.generation === generation && w.phase !== "retiring",
      );
      const active = members.filter((w) => !w.replaceRequested);
      const inFlight = this.#spawning.get(generation) ?? 0;
      const missing = this.target - active.length - inFlight;
      if (missing > 0 && now >= this.nextSpawnAt) {
        this.#spawning.set(generation, inFlight + missing);
        for (let i = 0; i < missing; i++) out.push({ type: "spawn", generation });
      }
      if (active.length > this.target) {
        for (const w of retireOrder(active, now).slice(0, active.length - this.target))
          this.#retire(w, now, true, "scale_down", out);
      }
    }
    this.#retireReplaced(now, out);
    this.#promotePending(now, out);
  }

  /** Workers that asked to be recycled go once enough fresh ones are ready. */
  #retireReplaced(now: number, out: SupervisorAction[]): void {
    const members = [...this.workers.values()].filter(
      (w) => w.generation === this.live && w.phase !== "retiring",
    );
    const readyFresh = members.filter((w) => w.phase === "ready" && !w.replaceRequested).length;
    if (readyFresh < this.target) return;
    for (const w of members) if (w.replaceRequested) this.#retire(w, now, true, "max_requests", out);
  }

  /** A reload's new generation, once `target` of its workers are ready, takes over; the old one drains. */
  #promotePending(now: number, out: SupervisorAction[]): void {
    if (this.pending === null) return;
    const pending = this.pending;
    let ready = 0;
    for (const w of this.workers.values()) if (w.generation === pending && w.phase === "ready") ready++;
    if (ready < this.target) return;
    const old = this.live;
    this.live = pending;
    this.pending = null;
    for (const w of this.workers.values())
      if (w.generation === old) this.#retire(w, now, true, "reload", out);
    this.plans.delete(old);
    out.push({ type: "promote", generation: pending, retired: old });
    out.push({
      type: "log",
      level: "info",
      event: "reload_done",
      message: "reload complete: new generation serving",
      fields: { generation: pending },
    });
    this.#startQueuedReload(out);
  }

  #reloadPrepared(plan: GenerationPlan, now: number, out: SupervisorAction[]): void {
    this.preparing = false;
    if (this.stopping || this.halted !== null) {
      out.push({ type: "abandon", generation: plan.id });
      return;
    }
    if (this.reloadQueued) {
      // A newer SIGHUP came while this one was being read: read again, the last one wins.
      this.reloadQueued = false;
      this.preparing = true;
      out.push({ type: "abandon", generation: plan.id });
      out.push({ type: "prepare-reload" });
      return;
    }
    // WORKERS moved by TTIN/TTOU stays moved unless the reloaded settings change WORKERS itself.
    const previous = this.plans.get(this.live) as GenerationPlan;
    this.target = Math.max(1, this.target + plan.workers - previous.workers);
    this.plans.set(plan.id, plan);
    this.pending = plan.id;
    out.push({
      type: "log",
      level: "info",
      event: "reload_start",
      message: "reload: starting a new generation",
      fields: { generation: plan.id },
    });
    this.#manage(now, out);
  }

  #startQueuedReload(out: SupervisorAction[]): void {
    if (!this.reloadQueued || this.preparing || this.pending !== null || this.stopping) return;
    this.reloadQueued = false;
    this.preparing = true;
    out.push({ type: "prepare-reload" });
  }

  #abandonPending(now: number, reason: string, out: SupervisorAction[]): void {
    const pending = this.pending as number;
    out.push({
      type: "log",
      level: "error",
      event: "reload_failed",
      message: `reload failed, old workers keep serving: ${reason}`,
    });
    for (const w of this.workers.values())
      if (w.generation === pending) this.#retire(w, now, false, "reload_failed", out);
    const plan = this.plans.get(this.live) as GenerationPlan;
    const abandoned = this.plans.get(pending) as GenerationPlan;
    this.target = Math.max(1, this.target - abandoned.workers + plan.workers);
    this.plans.delete(pending);
    this.pending = null;
    out.push({ type: "abandon", generation: pending });
    this.#startQueuedReload(out);
  }

  #exit(id: number, bootError: boolean, signal: string | null, now: number, out: SupervisorAction[]): void {
    const w = this.workers.get(id);
    this.workers.delete(id);
    if (!w) return;
    if (this.stopping || this.halted !== null) return;
    const uptime = now - w.startedAt;
    if (bootError) {
      const why = w.bootError ?? "a worker failed to boot";
      if (!this.served) {
        // Nothing has ever served: the configuration cannot work. Say so and exit.
        this.halted = why;
        this.stopping = { graceful: false, deadline: now + KILL_GRACE_MS };
        for (const other of this.workers.values()) this.#retire(other, now, false, "halt", out);
        out.push({ type: "halt", reason: why });
        return;
      }
      out.push({ type: "count-boot-failure" });
      if (w.generation === this.pending) {
        this.#abandonPending(now, why, out);
        return;
      }
      if (w.phase === "retiring") return;
      out.push({
        type: "log",
        level: "error",
        event: "worker_boot_failed",
        message: `worker failed to boot, retrying with backoff: ${why}`,
        fields: { worker: id, generation: w.generation },
      });
      this.#backoff(now, out);
      return;
    }
    if (w.phase === "retiring") {
      const reason = w.reason;
      if (reason === "max_requests" || reason === "reload" || reason === "scale_down" || reason === "timeout")
        out.push({ type: "count-restart", reason });
      return;
    }
    const reason: RestartReason = w.reason === "timeout" ? "timeout" : signal ? "killed" : "crashed";
    out.push({ type: "count-restart", reason });
    if (w.phase === "booting" || uptime < EARLY_DEATH_MS) this.#backoff(now, out);
  }

  #backoff(now: number, out: SupervisorAction[]): void {
    this.earlyDeaths++;
    const backoff = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(this.earlyDeaths, 20));
    this.nextSpawnAt = now + backoff;
    out.push({
      type: "log",
      level: "warn",
      event: "worker_backoff",
      message: "worker died early; backing off",
      fields: { backoff_ms: backoff },
    });
  }
}

/** Whom to retire first when there are too many: booting, then silent, then the oldest. */
export function retireOrder(workers: readonly WorkerRecord[], now: number): WorkerRecord[] {
  const rank = (w: WorkerRecord) => (w.phase === "booting" ? 0 : now - w.lastSeen > HUNG_AFTER_MS ? 1 : 2);
  return [...workers].sort((a, b) => rank(a) - rank(b) || a.startedAt - b.startedAt);
}

/**
 * The workers a change of the model set goes to: those of `generation` (Supervisor.modelGeneration;
 * null, none) that are booting or ready. Draining workers, and those of a generation a reload
 * replaces, keep the models they have.
 */
export function modelSetRecipients(workers: Iterable<WorkerRecord>, generation: number | null): number[] {
  const ids: number[] = [];
  if (generation === null) return ids;
  for (const w of workers) if (w.generation === generation && w.phase !== "retiring") ids.push(w.id);
  return ids;
}
