/**
 * Memory with many models: a fixture repository served with WORKERS workers of THREADS threads,
 * every model scored on every thread (INLINE_SCORING_MAX_US=0 so that nothing is scored on the
 * event loop, and enough concurrent requests per model that every thread takes some), then each
 * worker's resident memory (VmRSS) and what forestd_model_bytes reports. A worker holds each
 * model's compiled trees once, shared by its threads: its RSS should grow with the models'
 * compiled bytes, not with THREADS.
 */
import { readFileSync } from "node:fs";
import type { RepositoryModel } from "./fixture-repository.js";
import { startForestd } from "./servers.js";

export interface MemoryRow {
  threads: number;
  workers: number;
  models: number;
  /** Each worker's VmRSS after every model was scored on every thread, MiB. */
  workerRssMiB: number[];
  /** A worker's RSS before any request (models loaded, threads started), MiB. */
  idleWorkerRssMiB: number[];
  /** forestd_model_bytes summed over models and workers, MiB. */
  modelBytesMiB: number;
}

function children(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return text ? text.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

export async function measureMemory(options: {
  repository: string;
  models: readonly RepositoryModel[];
  threads: number;
  workers: number;
  cpus?: string;
  log?: (line: string) => void;
}): Promise<MemoryRow> {
  const metricsPort = 19000 + Math.floor(Math.random() * 1000);
  const server = await startForestd({
    workers: options.workers,
    threads: options.threads,
    modelPath: "",
    cpus: options.cpus,
    extraEnv: {
      MODEL_REPOSITORY: options.repository,
      INLINE_SCORING_MAX_US: "0",
      METRICS_PORT: String(metricsPort),
      MAX_EVENT_LOOP_DELAY: "0",
    },
  });
  try {
    const workerPids = () => children(server.pid as number);
    // Every model ready in every worker.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const index = (await (await fetch(`${server.origin}/v2/models`)).json()) as { models: string[] };
      if (index.models.length === options.models.length) break;
      if (Date.now() > deadline) throw new Error(`only ${index.models.length} models ready after 120 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const idle = workerPids().map(rssMiB);
    // Each model, on every thread of every worker: rounds of concurrent requests (a thread holds at
    // most two tasks, so 4 per thread per worker keep every thread busy with it).
    const concurrent = options.threads * options.workers * 4;
    for (let round = 0; round < 3; round++) {
      for (const m of options.models) {
        const body = JSON.stringify({ instances: m.rows.slice(0, 8) });
        const answers = await Promise.all(
          Array.from({ length: concurrent }, () =>
            fetch(`${server.origin}/predict/${m.name}`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body,
            }).then((r) => r.status),
          ),
        );
        if (answers.some((s) => s !== 200)) throw new Error(`${m.name}: statuses ${answers.join(",")}`);
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
    const rss = workerPids().map(rssMiB);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const bytes = [...metrics.matchAll(/^forestd_model_bytes\{[^}]*\} (\d+)/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    const row: MemoryRow = {
      threads: options.threads,
      workers: options.workers,
      models: options.models.length,
      workerRssMiB: rss,
      idleWorkerRssMiB: idle,
      modelBytesMiB: Math.round((bytes / 2 ** 20) * 10) / 10,
    };
    options.log?.(
      `THREADS=${row.threads}: worker RSS ${rss.join(", ")} MiB (idle ${idle.join(", ")}); forestd_model_bytes ${row.modelBytesMiB} MiB over ${row.workers} workers`,
    );
    return row;
  } finally {
    await server.stop();
  }
}
