/**
 * scikit-learn's side of bench:model (scripts/sklearn_bench.py under Debian's python3): the 500-tree
 * RandomForest models, made once into a cache folder, and their own predict_proba (n_jobs=1) timed
 * on the rows forestd scores. Also a model's load time and memory, measured in a fresh process so
 * that the peak resident set is the load's alone.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../model/index.js";
import { SYSTEM_PYTHON } from "./servers.js";

export interface SklearnTimes {
  sklearn: string;
  /** predict_proba(x) with n_jobs=1 per batch size. */
  results: { batch: number; rowsPerSec: number; usPerCall: number }[];
  /** predict_proba of the first 10 000 rows, for the bit-for-bit check. */
  proba: Float64Array;
}

const script = () => join(packageRoot(), "scripts", "sklearn_bench.py");

/** Whether Debian's python3 has scikit-learn and joblib. */
export function sklearnAvailable(): boolean {
  return spawnSync(SYSTEM_PYTHON, ["-c", "import sklearn, joblib"], { stdio: "ignore" }).status === 0;
}

/** Makes (once) rf500.joblib and rf500_big.joblib in `folder`; their sizes in bytes. */
export function makeSklearnModels(folder: string): Record<string, number> {
  const run = spawnSync(SYSTEM_PYTHON, [script(), "make", folder], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`sklearn_bench.py make failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, number>;
}

/** rows/s of scikit-learn's predict_proba (n_jobs=1) at each batch size, on `rows` written to `rowsFile`. */
export function timeSklearn(
  modelFile: string,
  rowsFile: string,
  rows: Float64Array,
  numFeature: number,
  batches: readonly number[],
  seconds: number,
): SklearnTimes | null {
  writeFileSync(rowsFile, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
  const run = spawnSync(
    SYSTEM_PYTHON,
    [script(), "time", modelFile, rowsFile, String(numFeature), batches.join(","), String(seconds)],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  if (run.status !== 0) {
    process.stderr.write(`scikit-learn baseline failed: ${run.stderr}\n`);
    return null;
  }
  const times = JSON.parse(run.stdout) as Omit<SklearnTimes, "proba">;
  const raw = readFileSync(`${rowsFile}.proba.f64`);
  const proba = new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return { ...times, proba };
}

export interface LoadFigures {
  /** loadModel(path): reading the file, the pickle, the estimators, the compiler. */
  loadMs: number;
  /** The process's resident set before loading (Node itself). */
  rssBeforeMB: number;
  /** The process's peak resident set during and after the load. */
  peakRssMB: number;
  /** The resident set once the load's garbage is collected, the model kept. */
  heldRssMB: number;
}

/** Loads `modelFile` in a fresh Node process and reports its time and memory. */
export function measureLoad(modelFile: string): LoadFigures {
  const index = join(packageRoot(), "dist", "model", "index.js");
  const code = `
    const { loadModel } = await import(${JSON.stringify(index)});
    const mb = (kb) => kb / 1024;
    globalThis.gc();
    const rssBeforeMB = process.memoryUsage().rss / 1048576;
    const started = performance.now();
    const model = loadModel(${JSON.stringify(modelFile)});
    const loadMs = performance.now() - started;
    globalThis.gc();
    const heldRssMB = process.memoryUsage().rss / 1048576;
    const peakRssMB = mb(process.resourceUsage().maxRSS);
    globalThis.kept = model;
    console.log(JSON.stringify({ loadMs, rssBeforeMB, peakRssMB, heldRssMB }));`;
  const run = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", code], {
    encoding: "utf8",
  });
  if (run.status !== 0) throw new Error(`load measurement failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as LoadFigures;
}
