/** The engine alone, in this thread: rows/s and time per call at a batch size. */
import type { Model, Rows } from "../../model/index.js";

/**
 * Scores `rows` (row-major, model.numFeature values each) in slices of `batch` rows for `seconds`
 * after a warm-up; every slice is different, so caches see realistic traffic. `score` is
 * `predictBatch` unless told otherwise (bench:model also times explanations).
 */
export function timeEngine<R extends Rows>(
  model: Model,
  rows: R,
  batch: number,
  seconds: number,
  score: (values: R, rows: number) => unknown = (v, r) => model.predictBatch(v, r),
): { rowsPerSec: number; usPerCall: number } {
  const nf = model.numFeature;
  const count = rows.length / nf;
  const slices: R[] = [];
  for (let at = 0; at + batch <= count; at += batch)
    slices.push(rows.subarray(at * nf, (at + batch) * nf) as R);
  if (slices.length === 0) throw new Error(`${count} rows cannot make a batch of ${batch}`);
  // Warm-up: 200 calls, or a quarter of the budget for slow calls (explanations).
  const warmStart = performance.now();
  const warmEnd = warmStart + (seconds * 1000) / 4;
  let warmCalls = 0;
  while (warmCalls < Math.min(slices.length, 200) && performance.now() < warmEnd)
    score(slices[warmCalls++], batch);
  // Read the clock every 16 calls, or every call when calls are slow (explanations of big models).
  const perCheck = (performance.now() - warmStart) / warmCalls > 1 ? 1 : 16;
  let calls = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let k = 0; k < perCheck; k++) score(slices[calls++ % slices.length], batch);
    elapsed = process.hrtime.bigint() - start;
  }
  const secs = Number(elapsed) / 1e9;
  return { rowsPerSec: (calls * batch) / secs, usPerCall: (secs / calls) * 1e6 };
}
