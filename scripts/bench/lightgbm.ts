/**
 * LightGBM's own predict on the same rows, as the LightGBM peer of the engine bench: one thread
 * (num_threads=1), through scripts/lightgbm_bench.py. LightGBM has no Debian package: the python
 * package of a source build must be on PYTHONPATH; without it this returns null.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../../model/index.js";
import { SYSTEM_PYTHON } from "./servers.js";

export interface LightGbmTimes {
  lightgbm: string;
  /** Booster.predict(x, num_threads=1) per batch size. */
  results: { batch: number; rowsPerSec: number; usPerCall: number }[];
  /** Batch 1 through LGBM_BoosterPredictForMatSingleRowFast (no predict() overhead), when it ran. */
  singleRowFast?: { batch: number; rowsPerSec: number; usPerCall: number } | null;
}

/** Whether `import lightgbm` works in Debian's python3 with the current PYTHONPATH. */
export function lightgbmAvailable(): boolean {
  return spawnSync(SYSTEM_PYTHON, ["-c", "import lightgbm"], { stdio: "ignore" }).status === 0;
}

/** rows/s and µs per call of LightGBM's Booster.predict(num_threads=1) at each batch size. */
export function timeLightGbm(
  modelFile: string,
  rows: Float64Array,
  numFeature: number,
  batches: readonly number[],
  seconds: number,
): LightGbmTimes | null {
  const dir = mkdtempSync(join(tmpdir(), "forestd-bench-"));
  try {
    const rowsFile = join(dir, "rows.f64");
    writeFileSync(rowsFile, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
    const run = spawnSync(
      SYSTEM_PYTHON,
      [
        join(packageRoot(), "scripts", "lightgbm_bench.py"),
        modelFile,
        rowsFile,
        String(numFeature),
        batches.join(","),
        String(seconds),
      ],
      { encoding: "utf8", maxBuffer: 1 << 20 },
    );
    if (run.status !== 0) {
      process.stderr.write(`LightGBM baseline failed: ${run.stderr}\n`);
      return null;
    }
    return JSON.parse(run.stdout) as LightGbmTimes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
