/**
 * A worker's scoring side, wired once: the thread pool, the batcher in front of it, and the
 * metrics both feed. Used by the worker process and by the in-process test app alike.
 */
import type { Settings } from "../../config/settings.js";
import type { MetricsDelta } from "../../contract/messages.js";
import { explainWidth } from "../../model/outputs.js";
import type { ServedModel } from "../http/served-model.js";
import { Batcher, type BatchTracer } from "../scoring/batcher.js";
import { InlineScorer } from "../scoring/inline-scorer.js";
import { ScoringPool } from "../scoring/scoring-pool.js";
import { WorkerMetrics } from "./metrics.js";

export interface ScoringStack {
  pool: ScoringPool;
  batcher: Batcher;
  inline: InlineScorer;
  metrics: WorkerMetrics;
}

export function createScoringStack(
  settings: Settings,
  served: ServedModel,
  options: {
    threadFile?: string;
    onThreadTimeout?: (threadId: number) => void;
    sendMetricsDelta?: (delta: MetricsDelta) => void;
    tracer?: BatchTracer;
  } = {},
): ScoringStack {
  const pool = new ScoringPool(served.file, settings.threads, {
    threadFile: options.threadFile,
    taskTimeoutMs: settings.timeout * 1000,
    onThreadTimeout: options.onThreadTimeout,
  });
  let batcher: Batcher | undefined;
  const metrics = new WorkerMetrics({
    queueRows: () => batcher?.queuedRows ?? 0,
    poolUtilization: () => pool.utilization,
    sendDelta: options.sendMetricsDelta,
    deltaIntervalMs: settings.metrics_flush_interval * 1000,
  });
  batcher = new Batcher(pool, {
    numFeature: served.model.numFeature,
    rowType: served.model.rowPrecision,
    outputType: served.model.outputPrecision,
    groups: served.model.numMarginOutputs,
    width: served.model.numOutputs,
    explainWidths: {
      contribs: explainWidth(served.model, "contribs"),
      interactions: explainWidth(served.model, "interactions"),
      leaf: explainWidth(served.model, "leaf"),
    },
    maxBatchRows: settings.max_batch_rows,
    maxQueueRows: settings.max_queue,
    maxQueueWaitMs: settings.max_queue_wait * 1000,
    onBatch: (rows, seconds) => {
      metrics.batchRows.observe(rows);
      metrics.inferenceDuration.observe(seconds);
    },
    onDispatch: (_rows, wait) => metrics.queueWait.observe(wait),
    tracer: options.tracer,
  });
  const inline = new InlineScorer(served.model, {
    maxUs: settings.inline_scoring_max_us,
    onScored: (seconds) => metrics.inlineScoring.observe(seconds),
  });
  return { pool, batcher, inline, metrics };
}
