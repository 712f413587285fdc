/**
 * npm run bench:model — the engine's single-thread rows/s on a large and a small model at batch
 * sizes 1, 100 and 10 000, with XGBoost's own `inplace_predict` (nthread=1) on the same rows in the
 * same run when Debian's python3-xgboost is installed. Then explanations: SHAP contributions and
 * interactions against XGBoost's `predict(pred_contribs / pred_interactions=True)`, nthread=1;
 * then the ONNX models (a 500-tree
 * scikit-learn RandomForest, and the large XGBoost model in onnxmltools' layout) against
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
 * Usage: `npm run bench:model -- --help` (USAGE below).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { packageRoot } from "../model/default-model.js";
import { loadModel } from "../model/index.js";
import { timeEngine } from "./bench/engine.js";
import { lightgbmAvailable, timeLightGbm } from "./bench/lightgbm.js";
import { timeOnnxruntime } from "./bench/onnxruntime.js";
import { SYSTEM_PYTHON } from "./bench/servers.js";
import { makeSklearnModels, measureLoad, sklearnAvailable, timeSklearn } from "./bench/sklearn.js";
import { scriptArgs } from "./script-args.js";

const USAGE = `npm run bench:model [-- --seconds 2 --json out.json --no-xgboost --no-onnx --no-lightgbm --only predict|contribs|interactions --models NAMES]
  --seconds N       time per measurement (default 2)
  --json FILE       write the results as JSON too
  --no-xgboost      skip XGBoost's own predict (Debian's python3-xgboost)
  --no-onnx         skip the ONNX models and onnxruntime-node
  --only KIND       time only predict, contribs or interactions
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

interface Row {
  model: string;
  kind: Kind;
  batch: number;
  forestdRowsPerSec: number;
  forestdUsPerCall: number;
  xgboostRowsPerSec: number | null;
  ratio: number | null;
  /** For ONNX models: the baseline is onnxruntime-node rather than XGBoost; for LightGBM's, LightGBM. */
  baseline?: "onnxruntime" | "lightgbm" | "lightgbm-c-single-row" | "sklearn";
}

/** Deterministic standard-normal rows (the distribution the bench models were trained on). */
function makeRows(numFeature: number, rows: number): Float32Array {
  let seed = 12345;
  const uniform = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return (seed + 0.5) / 2 ** 32;
  };
  const out = new Float32Array(numFeature * rows);
  for (let i = 0; i < out.length; i++)
    out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

function timeXGBoost(
  modelFile: string,
  rows: Float32Array,
  nf: number,
  seconds: number,
  kind: Kind,
  batches: readonly number[],
) {
  if (!existsSync(SYSTEM_PYTHON)) return null;
  const probe = spawnSync(SYSTEM_PYTHON, ["-c", "import xgboost"], { stdio: "ignore" });
  if (probe.status !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), "forestd-bench-"));
  try {
    const rowsFile = join(dir, "rows.f32");
    writeFileSync(rowsFile, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
    const run = spawnSync(
      SYSTEM_PYTHON,
      [
        join(root, "scripts", "xgboost_bench.py"),
        modelFile,
        rowsFile,
        String(nf),
        batches.join(","),
        String(seconds),
        kind,
      ],
      { encoding: "utf8", maxBuffer: 1 << 20 },
    );
    if (run.status !== 0) {
      process.stderr.write(`XGBoost baseline failed: ${run.stderr}\n`);
      return null;
    }
    return JSON.parse(run.stdout) as { xgboost: string; results: { batch: number; rowsPerSec: number }[] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
      `${name}: ${info.details.onnxTrees} trees (${info.details.operator}), depth ${info.maxDepth}, ${info.numFeature} features`,
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

/** The median of some numbers. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
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
      json: { type: "string" },
      "no-xgboost": { type: "boolean" },
      /** predict, contribs or interactions: time only that. */
      only: { type: "string" },
      "no-onnx": { type: "boolean" },
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
  const results: Row[] = [];
  const tmp = mkdtempSync(join(tmpdir(), "forestd-models-"));
  try {
    const only = values["only-lightgbm"] || values["only-sklearn"];
    for (const name of only ? [] : ["large", "small"]) {
      if (wanted && !wanted.has(name)) continue;
      const bytes = gunzipSync(readFileSync(join(benchDir, `${name}.json.gz`)));
      const modelFile = join(tmp, `${name}.json`);
      writeFileSync(modelFile, bytes);
      const loadStart = performance.now();
      const model = loadModel(bytes);
      const loadMs = performance.now() - loadStart;
      const info = model.info();
      console.log(
        `${name}: ${info.numTrees} trees, depth ${info.maxDepth}, ${info.numFeature} features, ${(bytes.length / 1e6).toFixed(1)} MB JSON, loaded in ${loadMs.toFixed(0)} ms`,
      );
      const rows = makeRows(model.numFeature, ROWS);
      const runs: [Kind, readonly number[], (v: Float32Array, r: number) => unknown][] = [
        ["predict", BATCHES, (v, r) => model.predictBatch(v, r)],
        ["contribs", EXPLAIN_BATCHES.contribs, (v, r) => model.predictContribs(v, r)],
        ["interactions", EXPLAIN_BATCHES.interactions, (v, r) => model.predictInteractions(v, r)],
      ];
      for (const [kind, batches, score] of runs) {
        if (values.only && values.only !== kind) continue;
        if (kind === "interactions" && name === "large") continue;
        const xgb = values["no-xgboost"]
          ? null
          : timeXGBoost(modelFile, rows, model.numFeature, seconds, kind, batches);
        for (const batch of batches) {
          const ours = timeEngine(model, rows, batch, seconds, score);
          const theirs = xgb?.results.find((r) => r.batch === batch)?.rowsPerSec ?? null;
          results.push({
            model: name,
            kind,
            batch,
            forestdRowsPerSec: ours.rowsPerSec,
            forestdUsPerCall: ours.usPerCall,
            xgboostRowsPerSec: theirs,
            ratio: theirs ? ours.rowsPerSec / theirs : null,
          });
        }
      }
      console.log(
        "  baseline: XGBoost inplace_predict / predict(pred_contribs|pred_interactions), nthread=1",
      );
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const only = values["only-lightgbm"] || values["only-sklearn"];
  if (!values["no-onnx"] && !only) await benchOnnx(seconds, results, wanted);
  if (!values["no-lightgbm"] && !values["only-sklearn"])
    await benchLightGbm(seconds, Number(values.repeat), results);
  if (!values["no-sklearn"] && !values["only-lightgbm"])
    benchSklearn(seconds, Number(values.repeat), values["sklearn-cache"] as string, results);
  const fmt = (n: number | null, digits = 0) =>
    n === null ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: digits });
  console.log(
    "\nmodel       output        batch    forestd rows/s   µs/call  baseline rows/s   ratio  (baseline: XGBoost, onnxruntime for .onnx, LightGBM for lgb_)",
  );
  for (const r of results) {
    const model = r.baseline === "lightgbm-c-single-row" ? `${r.model}*` : r.model;
    console.log(
      `${model.padEnd(11)} ${r.kind.padEnd(12)} ${String(r.batch).padStart(5)}  ${fmt(r.forestdRowsPerSec).padStart(15)}  ${fmt(r.forestdUsPerCall, 1).padStart(8)}  ${fmt(r.xgboostRowsPerSec).padStart(15)}  ${r.ratio === null ? "—" : `${r.ratio.toFixed(2)}×`}`,
    );
  }
  if (values.json)
    writeFileSync(values.json, `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`);
}

await main();
