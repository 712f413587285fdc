/**
 * Pure merges of worker metric snapshots (prom-client `getMetricsAsJSON()` output), tested on
 * fixtures without forking (as prom-client's lib/metricAggregators.js is).
 *
 * Each metric carries its aggregator: counters and histograms sum; per-process gauges must not
 * be summed into nonsense, so the few prom-client defaults that would be are overridden here.
 */
import { AggregatorRegistry, type Registry } from "prom-client";
import type { Snapshot } from "../contract/metrics-delta.js";

export type { Snapshot };

/** Aggregators for default process metrics whose prom-client default (sum) means nothing across processes. */
const AGGREGATOR_OVERRIDES: Record<string, string> = {
  process_max_fds: "max",
  process_start_time_seconds: "min",
  nodejs_version_info: "first",
};

function withAggregators(snapshot: Snapshot): Snapshot {
  return snapshot.map((m) => {
    const override = AGGREGATOR_OVERRIDES[m.name];
    return override ? ({ ...m, aggregator: override } as typeof m) : m;
  });
}

/** Merges live workers' snapshots and the retired workers' accumulated totals into one registry. */
export function mergeSnapshots(snapshots: Snapshot[]): Registry {
  return AggregatorRegistry.aggregate(snapshots.map(withAggregators));
}

/**
 * The part of a finished worker's snapshot that must live on so that cluster counters never go
 * backwards: counters and histograms. Gauges describe a process that no longer exists.
 */
export function monotonicPart(snapshot: Snapshot): Snapshot {
  return snapshot
    .filter((m) => String(m.type) === "counter" || String(m.type) === "histogram")
    .map((m) => ({ ...m, aggregator: "sum" }) as typeof m);
}

/** Adds a finished worker's monotonic metrics into the retired totals. */
export async function accumulate(retired: Snapshot, finished: Snapshot): Promise<Snapshot> {
  const part = monotonicPart(finished);
  if (retired.length === 0) return part;
  return monotonicPart((await AggregatorRegistry.aggregate([retired, part]).getMetricsAsJSON()) as Snapshot);
}
