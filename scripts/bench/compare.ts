/**
 * --compare: this run against an earlier report. A scenario regressed when its throughput fell by
 * more than `threshold` (default 10%), or its p99 rose by more than 2.5 × threshold and by at
 * least 0.5 ms (p99 is noisier than throughput on a small machine).
 */
import type { BenchReport, Regression } from "./report.js";

export function compareReports(
  before: BenchReport,
  after: BenchReport,
  threshold = 0.1,
): { regressions: Regression[]; checked: number } {
  const regressions: Regression[] = [];
  let checked = 0;
  for (const now of after.scenarios) {
    const then = before.scenarios.find((s) => s.id === now.id && s.target === now.target);
    if (!then) continue;
    checked++;
    const key = `${now.target}/${now.id}`;
    if (then.rowsPerSec > 0) {
      const change = now.rowsPerSec / then.rowsPerSec - 1;
      if (change < -threshold)
        regressions.push({
          id: key,
          metric: "rows/s",
          before: then.rowsPerSec,
          after: now.rowsPerSec,
          change,
        });
    }
    if (now.target !== "engine" && then.p99 > 0) {
      const change = now.p99 / then.p99 - 1;
      if (change > 2.5 * threshold && now.p99 - then.p99 >= 0.5) {
        regressions.push({ id: key, metric: "p99 ms", before: then.p99, after: now.p99, change });
      }
    }
    if (now.errors + now.non2xx > then.errors + then.non2xx) {
      regressions.push({
        id: key,
        metric: "errors + non-2xx",
        before: then.errors + then.non2xx,
        after: now.errors + now.non2xx,
        change: Number.POSITIVE_INFINITY,
      });
    }
  }
  return { regressions, checked };
}
