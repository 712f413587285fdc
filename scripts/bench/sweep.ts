/**
 * --sweep: which WORKERS × THREADS × MAX_BATCH_ROWS serves best on this machine. Each setting is
 * scored by the geometric mean of its single-row requests/s and its 100-row rows/s, each relative
 * to the best seen; a setting with failed requests is never recommended.
 */
import type { SweepPoint } from "./report.js";

export function recommend(points: readonly SweepPoint[]): { recommended: SweepPoint | null; reason: string } {
  const clean = points.filter(
    (p) => p.single.errors + p.single.non2xx + p.rows100.errors + p.rows100.non2xx === 0,
  );
  if (clean.length === 0) return { recommended: null, reason: "every setting had failed requests" };
  const bestSingle = Math.max(...clean.map((p) => p.single.requestsPerSec));
  const bestRows = Math.max(...clean.map((p) => p.rows100.rowsPerSec));
  const score = (p: SweepPoint) =>
    Math.sqrt((p.single.requestsPerSec / bestSingle) * (p.rows100.rowsPerSec / bestRows));
  const best = [...clean].sort((a, b) => score(b) - score(a))[0];
  return {
    recommended: best,
    reason: `WORKERS=${best.workers} THREADS=${best.threads} MAX_BATCH_ROWS=${best.maxBatchRows}: ${(score(best) * 100).toFixed(0)}% of the best single-row requests/s and 100-row rows/s combined (geometric mean)`,
  };
}
