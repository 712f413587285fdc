/**
 * npm run bench:multimodel — the multi-model experiments (scripts/bench/multimodel.ts,
 * multimodel-memory.ts), each printed as it runs (stderr) and as JSON (stdout):
 *
 *   memory    a repository of N fixture models (XGBoost, ONNX, scikit-learn) and of M synthetic
 *             larger ones, served with THREADS=1 and 4: each worker's RSS after every model was
 *             scored on every thread, and forestd_model_bytes
 *   fairness  model A offered 10× its capacity, model B half of its own: B's goodput and p99
 *             against B alone, runs alternated (server and generators pinned apart)
 *   swap      a model under load while another is loaded, replaced and unloaded through the
 *             repository API: its failures and p99 against quiet runs, alternated
 *
 * Only when the machine is quiet (other work on its CPUs moves every figure): see
 * docs/performance.md#many-models for how the published figures were taken.
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pickModels, type RepositoryModel, writeRepository } from "./bench/fixture-repository.js";
import { runFairness, runSwap } from "./bench/multimodel.js";
import { measureMemory } from "./bench/multimodel-memory.js";
import { writeSyntheticModel } from "./bench/synthetic-model.js";
import { scriptArgs } from "./script-args.js";

const USAGE = `  npm run bench:multimodel -- memory|fairness|swap [options]
    --server-cpus 0 --load-cpus 1   pin the server's tree and the generators apart ('' = unpinned)
    --seconds 10 --runs 3 --settle 1 --rows 100
    --trees 300 --depth 8 --features 8     the synthetic models' shape (fairness, swap)
    --models 50 --large 20 --workers 2     memory: fixture models, synthetic ones, workers
    --env KEY=VALUE                        a forestd setting for the server, repeatable
    --server-cli PATH                      another build's dist/cli/forestd.js (before/after)
    --cpu-prof DIR                         CPU profiles of the server's processes (node --cpu-prof)`;

const { values, positionals } = scriptArgs(USAGE, {
  allowPositionals: true,
  options: {
    "server-cpus": { type: "string", default: "0" },
    "load-cpus": { type: "string", default: "1" },
    seconds: { type: "string", default: "10" },
    runs: { type: "string", default: "3" },
    settle: { type: "string", default: "1" },
    rows: { type: "string", default: "100" },
    trees: { type: "string", default: "300" },
    depth: { type: "string", default: "8" },
    features: { type: "string", default: "8" },
    models: { type: "string", default: "50" },
    large: { type: "string", default: "20" },
    workers: { type: "string", default: "2" },
    env: { type: "string", multiple: true, default: [] },
    "server-cli": { type: "string" },
    "cpu-prof": { type: "string" },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const pin = (v: string | undefined) => (v === "" ? undefined : v);
const env = Object.fromEntries(
  (values.env ?? []).map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
);
const common = {
  serverCpus: pin(values["server-cpus"]),
  loadCpus: pin(values["load-cpus"]),
  seconds: Number(values.seconds),
  runs: Number(values.runs),
  settle: Number(values.settle),
  rows: Number(values.rows),
  shape: { trees: Number(values.trees), depth: Number(values.depth), features: Number(values.features) },
  env,
  serverCli: values["server-cli"],
  cpuProfDir: values["cpu-prof"],
  log,
};

switch (positionals[0]) {
  case "memory": {
    const report: Record<string, unknown> = {};
    const fixtures = pickModels(Number(values.models));
    const dir = mkdtempSync(join(tmpdir(), "forestd-memory-"));
    writeRepository(dir, fixtures);
    log(
      `${fixtures.length} fixture models (${["xgboost", "onnx", "sklearn", "lightgbm"].map((f) => `${fixtures.filter((m) => m.format === f).length} ${f}`).join(", ")})`,
    );
    report.fixtures = [];
    for (const threads of [1, 4])
      (report.fixtures as unknown[]).push(
        await measureMemory({
          repository: dir,
          models: fixtures,
          threads,
          workers: Number(values.workers),
          cpus: common.serverCpus,
          log,
        }),
      );
    const large = Number(values.large);
    if (large > 0) {
      const big = mkdtempSync(join(tmpdir(), "forestd-memory-large-"));
      const models: RepositoryModel[] = [];
      for (let i = 0; i < large; i++) {
        mkdirSync(join(big, `synthetic-${i}`));
        writeSyntheticModel(join(big, `synthetic-${i}`, "model.json"), {
          trees: 100,
          depth: 8,
          features: 8,
          seed: i,
        });
        models.push({
          name: `synthetic-${i}`,
          file: "",
          format: "xgboost",
          rows: [
            [1, 2, 3, 4, 5, 6, 7, 8],
            [8, 7, 6, 5, 4, 3, 2, 1],
          ],
        });
      }
      log(`${large} synthetic models of 100 trees of depth 8`);
      report.large = [];
      for (const threads of [1, 4])
        (report.large as unknown[]).push(
          await measureMemory({ repository: big, models, threads, workers: 1, cpus: common.serverCpus, log }),
        );
    }
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    break;
  }
  case "fairness":
    process.stdout.write(`${JSON.stringify(await runFairness(common), null, 2)}\n`);
    break;
  case "swap":
    process.stdout.write(
      `${JSON.stringify(await runSwap({ ...common, swapShape: { trees: 100, depth: 8, features: 8 }, everyMs: 500 }), null, 2)}\n`,
    );
    break;
  default:
    process.stderr.write(`which experiment? memory, fairness or swap\n\n${USAGE}\n`);
    process.exit(2);
}
