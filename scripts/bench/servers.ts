/**
 * The servers a bench run measures, each started on a free 127.0.0.1 port and stopped after:
 * forestd itself, the bare-Fastify HTTP ceiling with the same WORKERS, and Gunicorn + Flask +
 * XGBoost (when Debian's system python3 has them).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { packageRoot } from "../../model/index.js";
import { freePort } from "../loopback.js";

const root = packageRoot();
/** Debian's python3: its python3-xgboost, python3-flask and gunicorn packages, not a pyenv's. */
export const SYSTEM_PYTHON = "/usr/bin/python3";

export interface Target {
  name: string;
  /** http://127.0.0.1:PORT */
  origin: string;
  /** Process whose tree is measured (CPU, RSS); null for a server given by --url. */
  pid: number | null;
  stop(): Promise<void>;
}

async function waitReady(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: the server exited with code ${child.exitCode}`);
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms`);
}

async function launch(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  port: number,
): Promise<Target> {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const origin = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitReady(`${origin}/readyz`, child);
  } catch (error) {
    await stop();
    throw error;
  }
  return { name, origin, pid: child.pid ?? null, stop };
}

export interface ForestdSettings {
  workers: number;
  threads: number;
  maxBatchRows?: number;
  modelPath: string;
  extraEnv?: Record<string, string>;
  /** CPUs (taskset list, e.g. "0" or "0-3") the whole process tree is pinned to; omitted = any. */
  cpus?: string;
  /** Another build's dist/cli/forestd.js, to compare before and after a change; default this one's. */
  cli?: string;
  /** Node flags for the server (workers inherit them), e.g. --cpu-prof. */
  nodeArgs?: string[];
}

/**
 * `command args`, run under `taskset -c cpus` when cpus is given: taskset execs the command (same
 * pid), and workers and threads inherit the affinity.
 */
function pinned(cpus: string | undefined, command: string, args: string[]): [string, string[]] {
  return cpus === undefined ? [command, args] : ["taskset", ["-c", cpus, command, ...args]];
}

export async function startForestd(s: ForestdSettings): Promise<Target> {
  const port = await freePort();
  const [command, args] = pinned(s.cpus, process.execPath, [
    ...(s.nodeArgs ?? []),
    s.cli ?? join(root, "dist", "cli", "forestd.js"),
    "serve",
  ]);
  return launch(
    "forestd",
    command,
    args,
    {
      BIND: `127.0.0.1:${port}`,
      WORKERS: String(s.workers),
      THREADS: String(s.threads),
      ...(s.maxBatchRows ? { MAX_BATCH_ROWS: String(s.maxBatchRows) } : {}),
      MODEL_PATH: s.modelPath,
      ACCESS_LOG: "off",
      METRICS_PORT: "0",
      LOG_LEVEL: "warn",
      ...s.extraEnv,
    },
    port,
  );
}

export async function startBare(workers: number, cpus?: string): Promise<Target> {
  const port = await freePort();
  const [command, args] = pinned(cpus, process.execPath, [
    join(root, "dist", "scripts", "bare-server.js"),
    String(port),
    String(workers),
  ]);
  return launch("bare Fastify", command, args, {}, port);
}

/** Why Gunicorn + Flask + XGBoost cannot run here, or null when it can. */
export function gunicornMissing(): string | null {
  const probe = spawnSync(SYSTEM_PYTHON, ["-c", "import flask, gunicorn, xgboost"], { encoding: "utf8" });
  if (probe.error) return `${SYSTEM_PYTHON} not found`;
  if (probe.status !== 0) {
    return `${SYSTEM_PYTHON} lacks flask, gunicorn or xgboost (apt-get install python3-flask gunicorn python3-xgboost)`;
  }
  return null;
}

export async function startGunicorn(workers: number, modelPath: string, cpus?: string): Promise<Target> {
  const port = await freePort();
  const [command, args] = pinned(cpus, SYSTEM_PYTHON, [
    "-m",
    "gunicorn",
    "--workers",
    String(workers),
    "--bind",
    `127.0.0.1:${port}`,
    "--chdir",
    join(root, "scripts"),
    "--log-level",
    "warning",
    "gunicorn_app:app",
  ]);
  return launch("Gunicorn + Flask + XGBoost", command, args, { MODEL_PATH: modelPath }, port);
}

/** A server someone else runs (--url): measured over HTTP only. */
export function external(url: string): Target {
  return { name: "forestd", origin: new URL(url).origin, pid: null, stop: async () => {} };
}
