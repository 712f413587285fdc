/**
 * Resource use of a process tree (a server and everything it forked), read from /proc on Linux:
 * resident memory now, and CPU seconds used so far (all threads, user + system).
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100;

function children(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return text ? text.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

function tree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]));
  return all;
}

/** Resident bytes of `pid` and its descendants (0 for processes gone). */
export function treeRss(pid: number): number {
  let total = 0;
  for (const p of tree(pid)) {
    try {
      total += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0) * 1024;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/** CPU seconds (user + system, every thread) used by `pid` and its live descendants so far. */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of tree(pid)) {
    try {
      // Fields after the command name (which may hold spaces, so split after its closing paren).
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // exited meanwhile
    }
  }
  return ticks / TICKS_PER_SECOND;
}

function statTicks(path: string): number {
  const stat = readFileSync(path, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

/**
 * CPU seconds so far of a forestd tree's workers (the primary's children), split into their event
 * loops (each worker's main thread), their scoring threads (Node 24 names a worker_threads thread
 * "WorkerThread"; Node 22 names every thread "node", so there scoringSeconds reads 0 and the
 * scoring threads count as "other") and everything else in them (GC helpers, libuv's pool), and
 * bytes the workers read (/proc/<pid>/io rchar: every read(2)/recv(2), sockets included).
 */
export function workerUsage(primaryPid: number): {
  loopSeconds: number;
  otherSeconds: number;
  scoringSeconds: number;
  readBytes: number;
} {
  let loop = 0;
  let all = 0;
  let scoring = 0;
  let readBytes = 0;
  for (const pid of children(primaryPid)) {
    try {
      loop += statTicks(`/proc/${pid}/task/${pid}/stat`);
      all += statTicks(`/proc/${pid}/stat`);
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        try {
          if (readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() === "WorkerThread")
            scoring += statTicks(`/proc/${pid}/task/${tid}/stat`);
        } catch {
          // the thread ended meanwhile
        }
      }
      readBytes += Number(/rchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return {
    loopSeconds: loop / TICKS_PER_SECOND,
    otherSeconds: (all - loop) / TICKS_PER_SECOND,
    scoringSeconds: scoring / TICKS_PER_SECOND,
    readBytes,
  };
}

/** Samples a process tree while work runs: peak RSS and CPU cores used on average. */
export class TreeSampler {
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  readonly #cpuStart: number;
  readonly #wallStart = performance.now();
  peakRss: number;

  constructor(pid: number, intervalMs = 200) {
    this.#pid = pid;
    this.#cpuStart = treeCpuSeconds(pid);
    this.peakRss = treeRss(pid);
    this.#timer = setInterval(() => {
      this.peakRss = Math.max(this.peakRss, treeRss(pid));
    }, intervalMs);
    this.#timer.unref(); // a measurement that throws must not keep the process alive
  }

  /** Stops sampling; returns CPU cores used on average (1 = one core busy) and peak RSS. */
  stop(): { cpuCores: number; peakRssMiB: number } {
    clearInterval(this.#timer);
    this.peakRss = Math.max(this.peakRss, treeRss(this.#pid));
    const wall = (performance.now() - this.#wallStart) / 1000;
    const cpu = treeCpuSeconds(this.#pid) - this.#cpuStart;
    return {
      cpuCores: Math.round((cpu / Math.max(wall, 0.001)) * 100) / 100,
      peakRssMiB: Math.round(this.peakRss / 2 ** 20),
    };
  }
}
