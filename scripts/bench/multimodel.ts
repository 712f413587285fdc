/**
 * The multi-model experiments behind `npm run bench:multimodel` (scripts/bench-multimodel.ts):
 *
 * - fairness: two models of the same (scoring-bound) shape in one worker with one thread; model A
 *   offered 10× its capacity while model B is offered half of its own. B's goodput and p99 are set
 *   against B alone at the same rate (unloaded), run after run, alternated.
 * - swap: a model under open-loop load at half its capacity while another model is loaded,
 *   replaced and unloaded again and again (repository API); its failures and p99 set against runs
 *   without the changes, alternated.
 *
 * As the overload bench: the server's process tree pinned to some CPUs, the open-loop generators
 * (their own processes, scripts/bench/open-loop-cli.ts) to others; p99 over the requests due from
 * `settle` seconds into a run on.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "../overload.js";
import { type Phase, type PhaseResult, summarize } from "./open-loop.js";
import { makeRows } from "./scenarios.js";
import { startForestd } from "./servers.js";
import { type SyntheticShape, writeSyntheticModel } from "./synthetic-model.js";

export interface MultiModelOptions {
  serverCpus?: string;
  loadCpus?: string;
  /** Seconds of each measured run. */
  seconds: number;
  /** Runs of each kind, alternated. */
  runs: number;
  /** Seconds at the start of a run whose requests are not counted in p99 and goodput. */
  settle: number;
  rows: number;
  shape: SyntheticShape;
  env?: Record<string, string>;
  /** Another build's dist/cli/forestd.js to serve with (before/after); default this one's. */
  serverCli?: string;
  /** Write CPU profiles of the primary and the worker (node --cpu-prof) into this directory. */
  cpuProfDir?: string;
  log?: (line: string) => void;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const clock = () => new Date().toISOString().slice(11, 23);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Goodput and latency of one phase, over requests due from `settleMs` on. */
function steady(phase: PhaseResult, settleMs: number) {
  const ok = (phase.okMs ?? []).filter((_, i) => (phase.okDueMs?.[i] ?? 0) >= settleMs);
  const rejected = (phase.rejectedMs ?? []).filter((_, i) => (phase.rejectedDueMs?.[i] ?? 0) >= settleMs);
  const offered = phase.rate * Math.max(0.001, phase.seconds - settleMs / 1000);
  const latency = summarize(ok);
  return {
    offeredRps: round(phase.rate),
    servedRps: round(ok.length / Math.max(0.001, phase.seconds - settleMs / 1000), 1),
    goodput: round(ok.length / Math.max(1, offered), 3),
    rejected: rejected.length,
    errors: phase.errors,
    p50Ms: latency.p50,
    p99Ms: latency.p99,
    sendLagP99Ms: phase.sendLagP99Ms,
    generatorLoopDelayP99Ms: phase.loopDelayP99Ms,
  };
}

/** A repository of models named `names`, each a synthetic model of `shape` (seeds differ). */
function syntheticRepository(dir: string, names: string[], shape: SyntheticShape): void {
  names.forEach((name, i) => {
    mkdirSync(join(dir, name), { recursive: true });
    writeSyntheticModel(join(dir, name, "model.json"), { ...shape, seed: 1000 + i });
  });
}

function plan(host: string, port: number, model: string, body: string, phases: Phase[]) {
  return { host, port, path: `/predict/${model}`, body, phases, samples: true, drainMs: 2000 };
}

async function capacity(host: string, port: number, model: string, body: string, o: MultiModelOptions) {
  const runs: number[] = [];
  for (let i = 0; i < 2; i++) {
    const { phases } = await generate(
      plan(host, port, model, body, [{ name: "capacity", seconds: 3, rate: 0, connections: 4 }]),
      o.loadCpus,
    );
    runs.push(phases[0].statuses["200"] / phases[0].seconds);
  }
  return median(runs);
}

export interface FairnessReport {
  shape: SyntheticShape;
  rows: number;
  capacityA: number;
  capacityB: number;
  runs: {
    unloaded: ReturnType<typeof steady>;
    loaded: ReturnType<typeof steady>;
    a: ReturnType<typeof steady>;
    /** Each generator's CPU time over the run's seconds (the load CPUs are shared by both). */
    generatorCpu: { a: number; b: number };
    /** A's answers by status over the whole run, its first second included: what the server did with the flood. */
    aStatuses: Record<string, number>;
  }[];
  median: {
    unloadedP99Ms: number;
    loadedP99Ms: number;
    p99Ratio: number;
    loadedGoodput: number;
    unloadedGoodput: number;
  };
}

export async function runFairness(o: MultiModelOptions): Promise<FairnessReport> {
  const log = o.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), "forestd-fairness-"));
  syntheticRepository(dir, ["a", "b"], o.shape);
  const server = await startForestd({
    workers: 1,
    threads: 1,
    modelPath: "",
    cpus: o.serverCpus,
    cli: o.serverCli,
    nodeArgs: o.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`] : undefined,
    extraEnv: { MODEL_REPOSITORY: dir, ...o.env },
  });
  try {
    const { hostname: host, port: portText } = new URL(server.origin);
    const port = Number(portText);
    const body = JSON.stringify({ instances: makeRows(o.shape.features, o.rows) });
    for (const m of ["a", "b"])
      await generate(
        plan(host, port, m, body, [{ name: "warm", seconds: 2, rate: 0, connections: 2 }]),
        o.loadCpus,
      );
    const capacityA = await capacity(host, port, "a", body, o);
    const capacityB = await capacity(host, port, "b", body, o);
    log(
      `capacity: a ${round(capacityA, 1)} req/s, b ${round(capacityB, 1)} req/s (${o.rows} rows per request, pinned)`,
    );
    const runs: FairnessReport["runs"] = [];
    for (let i = 0; i < o.runs; i++) {
      const bPhase: Phase = { name: "b", seconds: o.seconds, rate: capacityB / 2, connections: 64 };
      // When each phase starts (UTC), to line a run up with profiles or scheduler statistics taken beside it.
      log(`run ${i + 1}: b alone from ${clock()}`);
      const unloaded = (await generate(plan(host, port, "b", body, [bPhase]), o.loadCpus)).phases[0];
      log(`run ${i + 1}: b with a at 10x from ${clock()}`);
      const [aRun, bRun] = await Promise.all([
        generate(
          plan(host, port, "a", body, [
            { name: "a", seconds: o.seconds, rate: capacityA * 10, connections: 256 },
          ]),
          o.loadCpus,
        ),
        generate(plan(host, port, "b", body, [bPhase]), o.loadCpus),
      ]);
      const row = {
        unloaded: steady(unloaded, o.settle * 1000),
        loaded: steady(bRun.phases[0], o.settle * 1000),
        a: steady(aRun.phases[0], o.settle * 1000),
        generatorCpu: { a: round(aRun.cpuSeconds / o.seconds), b: round(bRun.cpuSeconds / o.seconds) },
        aStatuses: aRun.phases[0].statuses,
      };
      runs.push(row);
      log(
        `run ${i + 1}: b alone at ${row.unloaded.offeredRps} req/s: goodput ${row.unloaded.goodput}, p99 ${row.unloaded.p99Ms} ms | with a at 10x (${row.a.offeredRps} req/s offered, ${row.a.servedRps} served, ${row.a.rejected} shed): b goodput ${row.loaded.goodput}, p99 ${row.loaded.p99Ms} ms, errors ${row.loaded.errors}; send lag p99 b ${row.loaded.sendLagP99Ms} ms, a ${row.a.sendLagP99Ms} ms; generators' own loop delay p99 b ${row.loaded.generatorLoopDelayP99Ms} ms, a ${row.a.generatorLoopDelayP99Ms} ms, CPU a ${row.generatorCpu.a}, b ${row.generatorCpu.b}; a's answers ${JSON.stringify(row.aStatuses)}`,
      );
    }
    const unloadedP99Ms = median(runs.map((r) => r.unloaded.p99Ms));
    const loadedP99Ms = median(runs.map((r) => r.loaded.p99Ms));
    return {
      shape: o.shape,
      rows: o.rows,
      capacityA: round(capacityA, 1),
      capacityB: round(capacityB, 1),
      runs,
      median: {
        unloadedP99Ms,
        loadedP99Ms,
        p99Ratio: round(loadedP99Ms / Math.max(0.001, unloadedP99Ms)),
        loadedGoodput: median(runs.map((r) => r.loaded.goodput)),
        unloadedGoodput: median(runs.map((r) => r.unloaded.goodput)),
      },
    };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SwapReport {
  rows: number;
  capacity: number;
  changes: number;
  runs: { quiet: ReturnType<typeof steady>; changing: ReturnType<typeof steady>; changesDone: number }[];
  median: { quietP99Ms: number; changingP99Ms: number; p99Ratio: number; failures: number };
}

/**
 * `other` under load; `churn` loaded, replaced (other bytes) and unloaded through the repository
 * API every `everyMs`, `swapShape` its model's size.
 */
export async function runSwap(
  o: MultiModelOptions & { swapShape: SyntheticShape; everyMs: number },
): Promise<SwapReport> {
  const log = o.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), "forestd-swap-"));
  syntheticRepository(dir, ["other"], o.shape);
  // Two versions of the model that comes and goes, written once, copied in as each change asks.
  const spare = mkdtempSync(join(tmpdir(), "forestd-swap-spare-"));
  for (const seed of [1, 2]) writeSyntheticModel(join(spare, `v${seed}.json`), { ...o.swapShape, seed });
  const token = "bench-repository-api-token-0123456789";
  const metricsPort = 20000 + Math.floor(Math.random() * 1000);
  const server = await startForestd({
    workers: 1,
    threads: 1,
    modelPath: "",
    cpus: o.serverCpus,
    cli: o.serverCli,
    nodeArgs: o.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`] : undefined,
    extraEnv: {
      MODEL_REPOSITORY: dir,
      REPOSITORY_API: "on",
      REPOSITORY_API_TOKEN: token,
      METRICS_PORT: String(metricsPort),
      ...o.env,
    },
  });
  const api = async (action: "load" | "unload") => {
    const r = await fetch(`http://127.0.0.1:${metricsPort}/v2/repository/models/churn/${action}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    if (r.status !== 200) throw new Error(`${action}: ${r.status} ${await r.text()}`);
  };
  try {
    const { hostname: host, port: portText } = new URL(server.origin);
    const port = Number(portText);
    const body = JSON.stringify({ instances: makeRows(o.shape.features, o.rows) });
    await generate(
      plan(host, port, "other", body, [{ name: "warm", seconds: 2, rate: 0, connections: 2 }]),
      o.loadCpus,
    );
    const cap = await capacity(host, port, "other", body, o);
    log(`capacity of other: ${round(cap, 1)} req/s`);
    const phase: Phase = { name: "other", seconds: o.seconds, rate: cap / 2, connections: 64 };
    const runs: SwapReport["runs"] = [];
    let total = 0;
    for (let i = 0; i < o.runs; i++) {
      const quiet = (await generate(plan(host, port, "other", body, [phase]), o.loadCpus)).phases[0];
      let stop = false;
      let done = 0;
      const changes = (async () => {
        await new Promise((r) => setTimeout(r, o.settle * 1000));
        for (let k = 0; !stop; k++) {
          const step = k % 3;
          if (step < 2) {
            mkdirSync(join(dir, "churn"), { recursive: true });
            copyFileSync(join(spare, `v${step + 1}.json`), join(dir, "churn", "model.json"));
            await api("load"); // a load, then a replacement by other bytes
          } else {
            rmSync(join(dir, "churn"), { recursive: true, force: true });
            await api("unload");
          }
          done++;
          await new Promise((r) => setTimeout(r, o.everyMs));
        }
      })();
      const changing = (await generate(plan(host, port, "other", body, [phase]), o.loadCpus)).phases[0];
      stop = true;
      await changes;
      total += done;
      const row = {
        quiet: steady(quiet, o.settle * 1000),
        changing: steady(changing, o.settle * 1000),
        changesDone: done,
      };
      runs.push(row);
      log(
        `run ${i + 1}: other at ${row.quiet.offeredRps} req/s: quiet p99 ${row.quiet.p99Ms} ms (goodput ${row.quiet.goodput}) | during ${done} loads/replacements/unloads of churn: p99 ${row.changing.p99Ms} ms, goodput ${row.changing.goodput}, errors ${row.changing.errors}, 503s ${row.changing.rejected}`,
      );
    }
    const quietP99Ms = median(runs.map((r) => r.quiet.p99Ms));
    const changingP99Ms = median(runs.map((r) => r.changing.p99Ms));
    return {
      rows: o.rows,
      capacity: round(cap, 1),
      changes: total,
      runs,
      median: {
        quietP99Ms,
        changingP99Ms,
        p99Ratio: round(changingP99Ms / Math.max(0.001, quietP99Ms)),
        failures: runs.reduce((n, r) => n + r.changing.errors + r.changing.rejected, 0),
      },
    };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(spare, { recursive: true, force: true });
  }
}
