/** `forestd` commands run as a user runs them (the built CLI in a child process), with their output. */
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./fixtures.js";

export const CLI = join(ROOT, "dist", "cli", "forestd.js");

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `forestd ARGS` with `input` on stdin, waiting for it. */
export function forestd(args: string[], input = ""): CliRun {
  const run = spawnSync(process.execPath, [CLI, ...args], { input, encoding: "utf8" });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The same without blocking, so that several runs share the cores; `env` replaces this process's. */
export function forestdAsync(
  args: string[],
  input = "",
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliRun> {
  return runScript(CLI, args, input, env);
}

/** Runs the Node script at `path` with `args` and `input` on stdin, without blocking (killed past `timeoutMs`). */
export function runScript(
  path: string,
  args: string[],
  input = "",
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs?: number,
): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path, ...args], { env, timeout: timeoutMs });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/**
 * `each` for every item, `at` at a time (started in order): a CLI run is mostly Node's start-up
 * and reading a model, so two at a time keep two cores busy where one at a time left one idle.
 */
export async function inTurns<T>(
  items: readonly T[],
  each: (item: T) => Promise<void>,
  at = 2,
): Promise<void> {
  const queue = [...items];
  const worker = async (): Promise<void> => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await each(item);
  };
  await Promise.all(Array.from({ length: at }, worker));
}
