/** The engine alone, in this thread: rows/s and time per call at a batch size. */
import type { Model } from "../../model/index.js";

/**
 * Scores `rows` (row-major, model.numFeature values each) in slices of `batch` rows for `seconds`
 * after a warm-up; every slice is different, so caches see realistic traffic.
 */
export function timeEngine(
  model: Model,
  rows: Float32Array,
  batch: number,
  seconds: number,
): { rowsPerSec: number; usPerCall: number } {
  const nf = model.numFeature;
  const count = rows.length / nf;
  const slices: Float32Array[] = [];
  for (let at = 0; at + batch <= count; at += batch) slices.push(rows.subarray(at * nf, (at + batch) * nf));
  if (slices.length === 0) throw new Error(`${count} rows cannot make a batch of ${batch}`);
  for (let i = 0; i < Math.min(slices.length, 200); i++) model.predictBatch(slices[i], batch); // warm-up
  let calls = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let k = 0; k < 16; k++) model.predictBatch(slices[calls++ % slices.length], batch);
    elapsed = process.hrtime.bigint() - start;
  }
  const secs = Number(elapsed) / 1e9;
  return { rowsPerSec: (calls * batch) / secs, usPerCall: (secs / calls) * 1e6 };
}
