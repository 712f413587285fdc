/** The bench report: what a run measured, as written to JSON and read back by --compare. */
import type { Measurement } from "./load.js";

export type TargetKind = "forestd" | "bare" | "gunicorn" | "engine";

export interface ScenarioResult extends Measurement {
  id: string;
  title: string;
  target: TargetKind;
  rowsPerRequest: number;
  connections: number;
  keepAlive: boolean;
}

export interface CurvePoint extends Measurement {
  offeredPerSec: number;
}

export interface SweepPoint {
  workers: number;
  threads: number;
  maxBatchRows: number;
  single: Measurement;
  rows100: Measurement;
}

export interface Regression {
  id: string;
  metric: string;
  before: number;
  after: number;
  change: number;
}

export interface BenchReport {
  version: 1;
  date: string;
  machine: { cpus: number; cpuModel: string; node: string; platform: string };
  settings: {
    workers: number;
    threads: number;
    maxBatchRows: number;
    seconds: number;
    connections: number;
    url: string | null;
    /** --env settings given to forestd. */
    env?: Record<string, string>;
    /** --server-cpus / --load-cpus: where servers and the load generator ran; absent = unpinned. */
    pinning?: { server: string | null; load: string | null };
    /** --models: how many fixture models the many-models scenarios served (0 = not run). */
    models?: number;
  };
  model: { path: string; trees: number; features: number; objective: string };
  scenarios: ScenarioResult[];
  curve: CurvePoint[];
  ratios: Record<string, number>;
  sweep: { points: SweepPoint[]; recommended: SweepPoint | null; reason: string } | null;
  comparison: { against: string; regressions: Regression[]; checked: number } | null;
  notes: string[];
}

export function find(
  report: BenchReport,
  id: string,
  target: TargetKind = "forestd",
): ScenarioResult | undefined {
  return report.scenarios.find((s) => s.id === id && s.target === target);
}
