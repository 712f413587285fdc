/**
 * npm run bench:model — the engine's single-thread rows/s on a large and a small model at batch
 * sizes 1, 100 and 10 000, with XGBoost's own `inplace_predict` (nthread=1) on the same rows in the
 * same run when Debian's python3-xgboost is installed: `--rounds` rounds (default 3), forestd and
 * XGBoost alternating within each, the median of each reported. Beside rows/s, cycles per row per
 * tree level: measured with `perf stat` where perf can count cycles, else rows/s at the TSC rate
 * (stated so in the output). Then explanations: SHAP contributions and interactions against
 * XGBoost's `predict(pred_contribs / pred_interactions=True)`, nthread=1; then the ONNX models (a
 * 500-tree scikit-learn RandomForest, and the large XGBoost model in onnxmltools' layout) against
 * onnxruntime-node (one thread) on the same files and rows. The ONNX files are made by
 * `scripts/make_onnx_fixtures.py --bench-only` when missing (Debian's python3-sklearn, python3-onnx).
 * Then LightGBM's 500-tree, 63-leaf fixture against LightGBM's own predict (num_threads=1), the two
 * alternated --repeat times and their medians reported, when LightGBM's python package is on
 * PYTHONPATH (it has no Debian package: a source build, see scripts/make_lightgbm_fixtures.py).
 * Then scikit-learn: a 500-tree fully grown RandomForestClassifier's predict_proba against
 * scikit-learn's own (n_jobs=1), alternated --repeat times, its probabilities checked bit for bit,
 * and the load time and memory of a ~94 MB joblib file (scripts/sklearn_bench.py makes both models
 * once into --sklearn-cache).
 *
 * `--instructions` instead counts instructions with valgrind's callgrind (repeatable on a busy
 * machine, where wall-clock figures are not): per row and per row per tree level, at batch 10 000
 * and at single rows, for each kernel and for XGBoost.
 *
 * Usage: `npm run bench:model -- --help` (USAGE below).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { packageRoot } from "../model/default-model.js";
import { loadModel, Model, readForest } from "../model/index.js";
import { timeEngine } from "./bench/engine.js";
import { lightgbmAvailable, timeLightGbm } from "./bench/lightgbm.js";
import { timeOnnxruntime } from "./bench/onnxruntime.js";
import { makeRows } from "./bench/rows.js";
import { SYSTEM_PYTHON } from "./bench/servers.js";
import { makeSklearnModels, measureLoad, sklearnAvailable, timeSklearn } from "./bench/sklearn.js";
import { scriptArgs } from "./script-args.js";

const USAGE = `npm run bench:model [-- --seconds 2 --rounds 3 --kernel simd --json out.json --no-xgboost --no-onnx --no-lightgbm --only predict|contribs|interactions --models NAMES --instructions]
  --seconds N       time per measurement (default 2)
  --rounds N        rounds of forestd and XGBoost alternating; medians reported (default 3)
  --kernel K        simd (default), walk (the compiled layout's kernels) or both
  --json FILE       write the results as JSON too
  --no-xgboost      skip XGBoost's own predict (Debian's python3-xgboost)
  --no-onnx         skip the ONNX models and onnxruntime-node
  --only KIND       time only predict, contribs or interactions
  --instructions    count instructions per row (batch 10 000 and 1) with valgrind (callgrind) instead of timing
  --models NAMES    comma-separated: large, small, rf500.onnx, large.onnx, lgbm500.onnx (default: all)
  --no-lightgbm     skip the LightGBM model and LightGBM's own predict
  --only-lightgbm   time only the LightGBM model against LightGBM (its python package on PYTHONPATH)
  --repeat N        LightGBM, scikit-learn: alternate forestd and the library N times, report medians (default 3)
  --no-sklearn      skip the scikit-learn RandomForest (Debian's python3-sklearn)
  --only-sklearn    time only the scikit-learn RandomForest and its load
  --sklearn-cache D where the scikit-learn bench models are made once (default: $TMPDIR/forestd-bench-sklearn)`;

const root = packageRoot();
const benchDir = join(root, "test", "fixtures", "bench");
const BATCHES = [1, 100, 10_000];
/**
 * Explanations cost 10³–10⁵ times a prediction: smaller batches keep the run short. XGBoost's
 * interactions on the large model take about a minute per row, so they are timed on the small one.
 */
const EXPLAIN_BATCHES = { contribs: [1, 10], interactions: [1] } as const;
type Kind = "predict" | keyof typeof EXPLAIN_BATCHES;
const ROWS = 20_000;
/** The TSC's rate (Hz), for cycles when perf cannot count them. */
const TSC_HZ = tscHz();

interface Row {
  model: string;
  kind: Kind;
  kernel?: string;
  batch: number;
  forestdRowsPerSec: number;
  forestdUsPerCall: number;
  xgboostRowsPerSec: number | null;
  ratio: number | null;
  /** Cycles per row per tree level: forestd's, and the baseline's. */
  forestdCyclesPerLevel?: number | null;
  xgboostCyclesPerLevel?: number | null;
  /** Every round's rows/s, forestd's and the baseline's. */
  rounds?: { forestd: number[]; baseline: number[] };
  /** For ONNX models: the baseline is onnxruntime-node rather than XGBoost; for LightGBM's, LightGBM. */
  baseline?: "onnxruntime" | "lightgbm" | "lightgbm-c-single-row" | "sklearn";
}

function tscHz(): number | null {
  try {
    const mhz = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return mhz ? Number(mhz[1]) * 1e6 : null;
  } catch {
    return null;
  }
}

/** Whether `perf stat` counts cycles here (it does not in many VMs and containers). */
function perfCountsCycles(): boolean {
  const run = spawnSync("perf", ["stat", "-x,", "-e", "cycles", "true"], { encoding: "utf8" });
  return run.status === 0 && /^\d+,/m.test(run.stderr);
}

/** Cycles this process spends in `work`, by perf stat attached to it. */
async function perfCycles(work: () => void): Promise<number | null> {
  const perf = spawn("perf", ["stat", "-x,", "-e", "cycles", "-p", String(process.pid)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  perf.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  work();
  perf.kill("SIGINT");
  await new Promise((resolve) => perf.on("close", resolve));
  const line = /^(\d+),+cycles/m.exec(stderr);
  return line ? Number(line[1]) : null;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function xgboostAvailable(): boolean {
  if (!existsSync(SYSTEM_PYTHON)) return false;
  return spawnSync(SYSTEM_PYTHON, ["-c", "import xgboost"], { stdio: "ignore" }).status === 0;
}

function xgboostArgs(
  modelFile: string,
  rowsFile: string,
  nf: number,
  batches: readonly number[],
  seconds: number,
  kind: Kind,
): string[] {
  return [
    join(root, "scripts", "xgboost_bench.py"),
    modelFile,
    rowsFile,
    String(nf),
    batches.join(","),
    String(seconds),
    kind,
  ];
}

function timeXGBoost(
  modelFile: string,
  rowsFile: string,
  nf: number,
  seconds: number,
  kind: Kind,
  batches: readonly number[],
) {
  const run = spawnSync(SYSTEM_PYTHON, xgboostArgs(modelFile, rowsFile, nf, batches, seconds, kind), {
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  if (run.status !== 0) {
    process.stderr.write(`XGBoost baseline failed: ${run.stderr}\n`);
    return null;
  }
  return JSON.parse(run.stdout) as { xgboost: string; results: { batch: number; rowsPerSec: number }[] };
}

/** Instructions a command executes, by callgrind. */
function callgrindInstructions(command: string[]): number {
  const run = spawnSync(
    "valgrind",
    ["--tool=callgrind", "--callgrind-out-file=/dev/null", "--smc-check=all-non-file", ...command],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  );
  const collected = /Collected : ([\d,]+)/.exec(run.stderr);
  if (!collected) throw new Error(`callgrind failed: ${run.stderr.slice(-2000)}`);
  return Number(collected[1].replaceAll(",", ""));
}

/** Tree levels a row walks: every compiled tree's depth. */
function levelsPerRow(model: Model): number {
  return model.info().treeLevels;
}

/**
 * The ONNX bench models, made by the fixture scripts when missing; null when they cannot be.
 * lgbm500.onnx (a 500-tree, 63-leaf LightGBM model with two categorical features, converted as
 * onnxmltools does) needs a LightGBM build (scripts/make_onnx_graph_fixtures.py); without one it is
 * left out.
 */
function onnxBenchModels(): string[] | null {
  const files = ["rf500", "large"].map((n) => join(benchDir, `${n}.onnx`));
  if (!files.every((f) => existsSync(f))) {
    const made = spawnSync(SYSTEM_PYTHON, [join(root, "scripts", "make_onnx_fixtures.py"), "--bench-only"], {
      stdio: "inherit",
    });
    if (made.status !== 0 || !files.every((f) => existsSync(f))) return null;
  }
  const lightgbm = join(benchDir, "lgbm500.onnx");
  if (!existsSync(lightgbm))
    spawnSync(SYSTEM_PYTHON, [join(root, "scripts", "make_onnx_graph_fixtures.py"), "--bench-only"], {
      stdio: "inherit",
    });
  return existsSync(lightgbm) ? [...files, lightgbm] : files;
}

/** Rows as the model was trained on: its categorical features (ONNX equality splits) hold small integers. */
function benchRows(model: ReturnType<typeof loadModel>, count: number): Float32Array {
  const rows = makeRows(model.numFeature, count);
  const categorical = (model.info().details.categoricalFeatures as number[] | undefined) ?? [];
  for (const f of categorical)
    for (let r = 0; r < count; r++)
      rows[r * model.numFeature + f] = Math.abs(Math.trunc(rows[r * model.numFeature + f] * 10)) % 30;
  return rows;
}

async function benchOnnx(seconds: number, results: Row[], wanted: ReadonlySet<string> | null): Promise<void> {
  const files = onnxBenchModels()?.filter((f) => !wanted || wanted.has(basename(f))) ?? null;
  if (!files) {
    console.log("ONNX: skipped (needs python3-sklearn and python3-onnx to make the bench models)");
    return;
  }
  for (const file of files) {
    const bytes = readFileSync(file);
    const name = basename(file);
    const model = loadModel(bytes);
    const info = model.info();
    console.log(
      `${name}: ${info.details.onnxTrees} trees (${info.details.operator}), depth ${info.maxDepth}, ${info.numFeature} features; kernel: ${info.kernel}`,
    );
    const rows = benchRows(model, ROWS);
    const ort = await timeOnnxruntime(bytes, rows, model.numFeature, BATCHES, seconds);
    for (const batch of BATCHES) {
      const ours = timeEngine(model, rows, batch, seconds);
      const theirs = ort?.results.find((r) => r.batch === batch)?.rowsPerSec ?? null;
      results.push({
        model: name,
        kind: "predict",
        batch,
        forestdRowsPerSec: ours.rowsPerSec,
        forestdUsPerCall: ours.usPerCall,
        xgboostRowsPerSec: theirs,
        ratio: theirs ? ours.rowsPerSec / theirs : null,
        baseline: "onnxruntime",
      });
    }
    if (ort) console.log(`  baseline: onnxruntime-node ${ort.version}, one intra-op thread`);
  }
}

interface BenchModel {
  name: string;
  /** The model's JSON in a temporary file, for XGBoost and for the callgrind runs. */
  file: string;
  bytes: Uint8Array;
}

function benchModels(tmp: string, names: readonly string[]): BenchModel[] {
  return names.map((name) => {
    const bytes = gunzipSync(readFileSync(join(benchDir, `${name}.json.gz`)));
    const file = join(tmp, `${name}.json`);
    writeFileSync(file, bytes);
    return { name, file, bytes };
  });
}

/**
 * `--instructions`: instructions per row (and per row per tree level) at batch 10 000 and at single
 * rows, each kernel and XGBoost, by callgrind: the difference of a run scoring the rows once and one
 * scoring them 1 + REPS times, so loading, compiling and warming up are not counted.
 */
function countInstructions(
  models: BenchModel[],
  kernels: ("simd" | "walk")[],
  xgboost: boolean,
  tmp: string,
): void {
  // callgrind counts the same instructions run after run (V8 with --predictable): one extra pass is
  // enough, and callgrind runs ~50 times slower than the machine.
  const reps = 1;
  const node = process.execPath;
  const counter = join(root, "dist", "scripts", "bench", "count-engine.js");
  console.log(
    "Instructions per row (valgrind callgrind; the difference of two runs, so loading is not counted)",
  );
  for (const { name, file } of models) {
    const model = new Model(readForest(readFileSync(file)));
    const levels = levelsPerRow(model);
    for (const batch of [10_000, 1]) {
      // Single rows cost XGBoost's Python call each: fewer of them keep callgrind's run short.
      const rowsPerRep = batch === 1 ? 1_000 : 10_000;
      const perRow = (base: number, more: number) => (more - base) / reps / rowsPerRep;
      const line = (who: string, count: number) =>
        console.log(
          `  ${name.padEnd(6)} batch ${String(batch).padStart(5)} ${who.padEnd(13)} ${count.toFixed(0).padStart(8)} instructions a row, ${(count / levels).toFixed(2).padStart(6)} a row per tree level`,
        );
      for (const kernel of kernels) {
        // V8 flags: deterministic (no concurrent compilation or GC threads) and optimised from the start.
        const command = (n: number) => [
          node,
          "--predictable",
          "--no-liftoff",
          counter,
          file,
          kernel,
          String(n),
          String(rowsPerRep),
          String(batch),
        ];
        line(
          `forestd ${kernel}`,
          perRow(callgrindInstructions(command(1)), callgrindInstructions(command(1 + reps))),
        );
      }
      if (xgboost) {
        const rowsFile = join(tmp, `${name}.rows.f32`);
        const rows = makeRows(model.numFeature, rowsPerRep);
        writeFileSync(rowsFile, new Uint8Array(rows.buffer));
        const command = (n: number) => [
          SYSTEM_PYTHON,
          ...xgboostArgs(file, rowsFile, model.numFeature, [batch], 0, "predict"),
          String(n),
        ];
        line("XGBoost", perRow(callgrindInstructions(command(1)), callgrindInstructions(command(1 + reps))));
      }
    }
  }
}

/**
 * LightGBM's 500-tree 63-leaf model (test/fixtures/lightgbm/large_500x63.txt.gz), forestd and
 * LightGBM alternated `repeat` times on the same float64 rows (a machine's speed drifts over a
 * minute: alternating puts both through the same drift); medians reported.
 */
async function benchLightGbm(seconds: number, repeat: number, results: Row[]): Promise<void> {
  if (!lightgbmAvailable()) {
    console.log(
      "LightGBM: skipped (put LightGBM's python-package, with its built lib_lightgbm.so, on PYTHONPATH)",
    );
    return;
  }
  const bytes = gunzipSync(readFileSync(join(root, "test", "fixtures", "lightgbm", "large_500x63.txt.gz")));
  const tmp = mkdtempSync(join(tmpdir(), "forestd-lightgbm-"));
  try {
    const modelFile = join(tmp, "large_500x63.txt");
    writeFileSync(modelFile, bytes);
    const loadStart = performance.now();
    const model = loadModel(bytes);
    const loadMs = performance.now() - loadStart;
    const info = model.info();
    console.log(
      `lightgbm_500x63: ${info.numTrees} trees, depth ${info.maxDepth}, ${info.numFeature} features, ${(bytes.length / 1e6).toFixed(1)} MB text, loaded in ${loadMs.toFixed(0)} ms`,
    );
    const rows = Float64Array.from(makeRows(model.numFeature, ROWS));
    const batches = [1, 10_000];
    const ours = new Map<number, number[]>(batches.map((b) => [b, []]));
    const oursUs = new Map<number, number[]>(batches.map((b) => [b, []]));
    const theirs = new Map<number, number[]>(batches.map((b) => [b, []]));
    const theirsFast: number[] = [];
    let version = "unknown";
    for (let rep = 0; rep < repeat; rep++) {
      for (const batch of batches) {
        const r = timeEngine(model, rows, batch, seconds);
        ours.get(batch)!.push(r.rowsPerSec);
        oursUs.get(batch)!.push(r.usPerCall);
      }
      const lgb = timeLightGbm(modelFile, rows, model.numFeature, batches, seconds);
      if (!lgb) return;
      version = lgb.lightgbm;
      for (const r of lgb.results) theirs.get(r.batch)!.push(r.rowsPerSec);
      if (lgb.singleRowFast) theirsFast.push(lgb.singleRowFast.rowsPerSec);
      console.log(
        `  run ${rep + 1}: ${batches.map((b) => `batch ${b}: forestd ${ours.get(b)!.at(-1)!.toFixed(0)} rows/s, LightGBM ${theirs.get(b)!.at(-1)!.toFixed(0)}`).join("; ")}`,
      );
    }
    for (const batch of batches) {
      const a = median(ours.get(batch)!);
      const b = median(theirs.get(batch)!);
      results.push({
        model: "lgb_500x63",
        kind: "predict",
        batch,
        forestdRowsPerSec: a,
        forestdUsPerCall: median(oursUs.get(batch)!),
        xgboostRowsPerSec: b,
        ratio: a / b,
        baseline: "lightgbm",
      });
    }
    if (theirsFast.length > 0) {
      const a = median(ours.get(1)!);
      const b = median(theirsFast);
      results.push({
        model: "lgb_500x63",
        kind: "predict",
        batch: 1,
        forestdRowsPerSec: a,
        forestdUsPerCall: median(oursUs.get(1)!),
        xgboostRowsPerSec: b,
        ratio: a / b,
        baseline: "lightgbm-c-single-row",
      });
    }
    console.log(
      `  baseline: LightGBM ${version} Booster.predict(num_threads=1), and (marked *) batch 1 through LGBM_BoosterPredictForMatSingleRowFast; medians of ${repeat} alternated runs`,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * scikit-learn's 500-tree RandomForestClassifier (fully grown: leaves ~20 levels deep, two-class
 * probability leaves): predict_proba at batch 1 and 10 000 against scikit-learn's own (n_jobs=1),
 * alternated `repeat` times with medians reported; forestd's probabilities of the first 10 000 rows
 * must be scikit-learn's bit for bit. Then loadModel's time and memory on the ~94 MB model, in a
 * fresh process.
 */
function benchSklearn(seconds: number, repeat: number, cache: string, results: Row[]): void {
  if (!sklearnAvailable()) {
    console.log("scikit-learn: skipped (needs Debian's python3-sklearn and python3-joblib)");
    return;
  }
  const sizes = makeSklearnModels(cache);
  const modelFile = join(cache, "rf500.joblib");
  const loadStart = performance.now();
  const model = loadModel(modelFile);
  const loadMs = performance.now() - loadStart;
  const info = model.info();
  console.log(
    `sklearn_rf500: ${info.numTrees} trees, depth ${info.maxDepth}, ${info.numFeature} features, ${(sizes["rf500.joblib"] / 1e6).toFixed(1)} MB joblib, loaded in ${loadMs.toFixed(0)} ms`,
  );
  const rows64 = Float64Array.from(makeRows(model.numFeature, ROWS));
  const rows = model.rowPrecision === "f64" ? rows64 : Float32Array.from(rows64);
  const tmp = mkdtempSync(join(tmpdir(), "forestd-sklearn-"));
  try {
    const batches = [1, 10_000];
    const ours = new Map<number, number[]>(batches.map((b) => [b, []]));
    const oursUs = new Map<number, number[]>(batches.map((b) => [b, []]));
    const theirs = new Map<number, number[]>(batches.map((b) => [b, []]));
    let version = "unknown";
    for (let rep = 0; rep < repeat; rep++) {
      for (const batch of batches) {
        // A classifier's predictions are its probabilities (predict_proba); labels come from them.
        const r = timeEngine(model, rows as Float32Array, batch, seconds);
        ours.get(batch)!.push(r.rowsPerSec);
        oursUs.get(batch)!.push(r.usPerCall);
      }
      const sk = timeSklearn(modelFile, join(tmp, "rows.f64"), rows64, model.numFeature, batches, seconds);
      if (!sk) return;
      version = sk.sklearn;
      for (const r of sk.results) theirs.get(r.batch)!.push(r.rowsPerSec);
      if (rep === 0) {
        const mine = model.predictBatch(rows.subarray(0, 10_000 * model.numFeature), 10_000);
        let differ = 0;
        for (let i = 0; i < sk.proba.length; i++) if (!Object.is(mine[i], sk.proba[i])) differ++;
        console.log(
          `  predict_proba of 10 000 rows: ${differ} of ${sk.proba.length} values differ from scikit-learn's`,
        );
      }
      console.log(
        `  run ${rep + 1}: ${batches.map((b) => `batch ${b}: forestd ${ours.get(b)!.at(-1)!.toFixed(0)} rows/s, scikit-learn ${theirs.get(b)!.at(-1)!.toFixed(0)}`).join("; ")}`,
      );
    }
    for (const batch of batches) {
      const a = median(ours.get(batch)!);
      const b = median(theirs.get(batch)!);
      results.push({
        model: "sk_rf500",
        kind: "predict",
        batch,
        forestdRowsPerSec: a,
        forestdUsPerCall: median(oursUs.get(batch)!),
        xgboostRowsPerSec: b,
        ratio: a / b,
        baseline: "sklearn",
      });
    }
    console.log(
      `  baseline: scikit-learn ${version} predict_proba, n_jobs=1; medians of ${repeat} alternated runs`,
    );
    const big = join(cache, "rf500_big.joblib");
    const load = measureLoad(big);
    const mb = sizes["rf500_big.joblib"] / 1048576;
    console.log(
      `  load of rf500_big.joblib (${mb.toFixed(1)} MiB): ${load.loadMs.toFixed(0)} ms; resident set ${load.rssBeforeMB.toFixed(0)} MiB before, peak ${load.peakRssMB.toFixed(0)} MiB (${(load.peakRssMB / mb).toFixed(2)}× the file; the load's own ${((load.peakRssMB - load.rssBeforeMB) / mb).toFixed(2)}×), ${load.heldRssMB.toFixed(0)} MiB held after (${((load.heldRssMB - load.rssBeforeMB) / mb).toFixed(2)}×)`,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = scriptArgs(USAGE, {
    options: {
      seconds: { type: "string", default: "2" },
      rounds: { type: "string", default: "3" },
      kernel: { type: "string", default: "simd" },
      json: { type: "string" },
      "no-xgboost": { type: "boolean" },
      /** predict, contribs or interactions: time only that. */
      only: { type: "string" },
      "no-onnx": { type: "boolean" },
      instructions: { type: "boolean" },
      /** Comma-separated model names to time (large, small, rf500.onnx, large.onnx, lgbm500.onnx); all by default. */
      models: { type: "string" },
      "no-lightgbm": { type: "boolean" },
      /** Only the LightGBM comparison. */
      "only-lightgbm": { type: "boolean" },
      /** LightGBM: forestd and LightGBM alternated this many times (medians reported). */
      repeat: { type: "string", default: "3" },
      "no-sklearn": { type: "boolean" },
      /** Only the scikit-learn comparison and load figures. */
      "only-sklearn": { type: "boolean" },
      "sklearn-cache": { type: "string", default: join(tmpdir(), "forestd-bench-sklearn") },
    },
  });
  const wanted = values.models ? new Set(values.models.split(",")) : null;
  const seconds = Number(values.seconds);
  const rounds = Math.max(1, Number(values.rounds));
  const kernels: ("simd" | "walk")[] =
    values.kernel === "both" ? ["simd", "walk"] : values.kernel === "walk" ? ["walk"] : ["simd"];
  const withXGBoost = !values["no-xgboost"] && xgboostAvailable();
  const results: Row[] = [];
  const tmp = mkdtempSync(join(tmpdir(), "forestd-models-"));
  try {
    const only = values["only-lightgbm"] || values["only-sklearn"];
    const names = only ? [] : ["large", "small"];
    const models = benchModels(
      tmp,
      names.filter((n) => !wanted || wanted.has(n)),
    );
    if (values.instructions) {
      countInstructions(models, kernels, withXGBoost, tmp);
      return;
    }
    const perf = perfCountsCycles();
    const cyclesSource = perf
      ? "cycles: perf stat"
      : `cycles: perf cannot count cycles here, so rows/s at the TSC rate (${((TSC_HZ ?? 0) / 1e9).toFixed(2)} GHz)`;
    for (const { name, file, bytes } of models) {
      const loadStart = performance.now();
      const byKernel = kernels.map((kernel) => new Model(readForest(bytes), { kernel }));
      const loadMs = (performance.now() - loadStart) / kernels.length;
      const model = byKernel[0];
      const info = model.info();
      const levels = levelsPerRow(model);
      console.log(
        `${name}: ${info.numTrees} trees, depth ${info.maxDepth}, ${info.numFeature} features, ${levels} tree levels a row, ${(bytes.length / 1e6).toFixed(1)} MB JSON, loaded in ${loadMs.toFixed(0)} ms`,
      );
      for (const m of byKernel) console.log(`  kernel: ${m.info().kernel}`);
      const rows = makeRows(model.numFeature, ROWS);
      const rowsFile = join(tmp, `${name}.rows.f32`);
      writeFileSync(rowsFile, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
      const runs: [Kind, readonly number[], (m: Model) => (v: Float32Array, r: number) => unknown][] = [
        ["predict", BATCHES, (m) => (v, r) => m.predictBatch(v, r)],
        ["contribs", EXPLAIN_BATCHES.contribs, (m) => (v, r) => m.predictContribs(v, r)],
        ["interactions", EXPLAIN_BATCHES.interactions, (m) => (v, r) => m.predictInteractions(v, r)],
      ];
      for (const [kind, batches, scorer] of runs) {
        if (values.only && values.only !== kind) continue;
        if (kind === "interactions" && name === "large") continue;
        // Explanations do not depend on the scoring kernel: the first model's.
        const ours = kind === "predict" ? byKernel : [model];
        const forestd = ours.map(() => new Map<number, number[]>());
        const usPerCall = ours.map(() => new Map<number, number[]>());
        const cycles = ours.map(() => new Map<number, number[]>());
        const xgb = new Map<number, number[]>();
        let version = "";
        for (let round = 0; round < rounds; round++) {
          ours.forEach((m, i) => {
            for (const batch of batches) {
              const run = timeEngine(m, rows, batch, seconds, scorer(m));
              forestd[i].set(batch, [...(forestd[i].get(batch) ?? []), run.rowsPerSec]);
              usPerCall[i].set(batch, [...(usPerCall[i].get(batch) ?? []), run.usPerCall]);
            }
          });
          if (perf && kind === "predict")
            for (const [i, m] of ours.entries()) {
              const batch = 10_000;
              const score = scorer(m);
              const calls = 20;
              const counted = await perfCycles(() => {
                for (let c = 0; c < calls; c++) score(rows.subarray(0, batch * m.numFeature), batch);
              });
              if (counted !== null)
                cycles[i].set(batch, [...(cycles[i].get(batch) ?? []), counted / (calls * batch * levels)]);
            }
          if (withXGBoost) {
            const theirs = timeXGBoost(file, rowsFile, model.numFeature, seconds, kind, batches);
            if (theirs) {
              version = theirs.xgboost;
              for (const r of theirs.results) xgb.set(r.batch, [...(xgb.get(r.batch) ?? []), r.rowsPerSec]);
            }
          }
        }
        ours.forEach((m, i) => {
          for (const batch of batches) {
            const mine = forestd[i].get(batch)!;
            const theirs = xgb.get(batch) ?? null;
            const ourRate = median(mine);
            const theirRate = theirs ? median(theirs) : null;
            const atTsc = (rate: number | null) =>
              rate && TSC_HZ && kind === "predict" ? TSC_HZ / rate / levels : null;
            const measured = cycles[i].get(batch);
            results.push({
              model: name,
              kind,
              kernel:
                kind === "predict" ? m.info().kernel.split(",")[0].split(" ")[0].toLowerCase() : undefined,
              batch,
              forestdRowsPerSec: ourRate,
              forestdUsPerCall: median(usPerCall[i].get(batch)!),
              xgboostRowsPerSec: theirRate,
              ratio: theirRate ? ourRate / theirRate : null,
              forestdCyclesPerLevel: measured ? median(measured) : atTsc(ourRate),
              xgboostCyclesPerLevel: atTsc(theirRate),
              rounds: { forestd: mine, baseline: theirs ?? [] },
            });
          }
        });
        if (withXGBoost)
          console.log(
            `  baseline: XGBoost ${version} ${kind === "predict" ? "inplace_predict" : `predict(pred_${kind}=True)`}, nthread=1, ${rounds} rounds alternating`,
          );
      }
    }
    const predicting = !values.only || values.only === "predict";
    if (!values["no-onnx"] && !only && predicting) await benchOnnx(seconds, results, wanted);
    if (!values["no-lightgbm"] && !values["only-sklearn"] && predicting)
      await benchLightGbm(seconds, Number(values.repeat), results);
    if (!values["no-sklearn"] && !values["only-lightgbm"] && predicting)
      benchSklearn(seconds, Number(values.repeat), values["sklearn-cache"] as string, results);
    const fmt = (n: number | null | undefined, digits = 0) =>
      n === null || n === undefined ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: digits });
    console.log(
      `\nmodel       output        kernel batch    forestd rows/s   µs/call  baseline rows/s   ratio   cyc/level (forestd / baseline)\n(baseline: XGBoost, onnxruntime for .onnx, LightGBM for lgb_ (* its single-row C entry), scikit-learn for sklearn_; medians of ${rounds} rounds; ${cyclesSource})`,
    );
    for (const r of results) {
      const cyc =
        r.forestdCyclesPerLevel === undefined
          ? ""
          : `${fmt(r.forestdCyclesPerLevel, 2)} / ${fmt(r.xgboostCyclesPerLevel, 2)}`;
      console.log(
        `${(r.baseline === "lightgbm-c-single-row" ? `${r.model}*` : r.model).padEnd(11)} ${r.kind.padEnd(12)} ${(r.kernel ?? "").padEnd(6)} ${String(r.batch).padStart(5)}  ${fmt(r.forestdRowsPerSec).padStart(15)}  ${fmt(r.forestdUsPerCall, 1).padStart(8)}  ${fmt(r.xgboostRowsPerSec).padStart(15)}  ${r.ratio === null ? "—".padStart(6) : `${r.ratio.toFixed(2)}×`.padStart(6)}   ${cyc}`,
      );
    }
    if (values.json)
      writeFileSync(
        values.json,
        `${JSON.stringify({ date: new Date().toISOString(), cycles: cyclesSource, results }, null, 2)}\n`,
      );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
