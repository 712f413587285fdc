/**
 * A worker's scoring side, wired once: the thread pool every model shares, the share of it the
 * models' batchers take turns at, the table of model versions and the metrics they all feed. Used
 * by the worker process and by the in-process test app alike.
 */
import type { Settings } from "../../config/settings.js";
import type { MetricsDelta } from "../../contract/messages.js";
import type { InlineTracer } from "../http/scoring.js";
import { type BatchTracer, ThreadShare } from "../scoring/batcher.js";
import { inProcessLoader } from "../scoring/model-loader.js";
import { type ModelLoader, ModelTable, type TableEvent } from "../scoring/model-table.js";
import { ScoringPool } from "../scoring/scoring-pool.js";
import { WorkerMetrics } from "./metrics.js";

export interface ScoringStack {
  pool: ScoringPool;
  share: ThreadShare;
  table: ModelTable;
  metrics: WorkerMetrics;
}

export function createScoringStack(
  settings: Settings,
  options: {
    threadFile?: string;
    onThreadTimeout?: (threadId: number) => void;
    sendMetricsDelta?: (delta: MetricsDelta) => void;
    tracer?: BatchTracer;
    inlineTracer?: InlineTracer;
    loader?: ModelLoader;
    generation?: number;
    onModelEvent?: (event: TableEvent) => void;
  } = {},
): ScoringStack {
  const pool = new ScoringPool(settings.threads, {
    threadFile: options.threadFile,
    taskTimeoutMs: settings.timeout * 1000,
    onThreadTimeout: options.onThreadTimeout,
  });
  const share = new ThreadShare(pool);
  let table: ModelTable | undefined;
  const metrics = new WorkerMetrics({
    queueRows: () => table?.queuedRows ?? 0,
    poolUtilization: () => pool.utilization,
    sendDelta: options.sendMetricsDelta,
    deltaIntervalMs: settings.metrics_flush_interval * 1000,
  });
  table = new ModelTable({
    settings,
    share,
    threads: pool,
    metrics,
    loader: options.loader ?? inProcessLoader,
    generation: options.generation ?? 0,
    tracer: options.tracer,
    inlineTracer: options.inlineTracer,
    onEvent: options.onModelEvent,
  });
  return { pool, share, table, metrics };
}
