/** An in-process worker app (real model, real scoring threads) for fastify.inject tests. */
import pino from "pino";
import { loadSettings } from "../../config/load-settings.js";
import { buildApp } from "../../server/app.js";
import { WorkerMetrics } from "../../server/metrics.js";
import { loadServedModel } from "../../server/served-model.js";
import { Batcher } from "../../workers/batcher.js";
import { ScoringPool } from "../../workers/scoring-pool.js";

export async function testApp(argv: string[] = [], env: Record<string, string> = {}) {
  const { settings } = await loadSettings({ argv, env: { ACCESS_LOG: "off", ...env }, cwd: process.cwd() });
  const served = loadServedModel(settings.model_path, settings.model_name);
  const pool = new ScoringPool(settings.model_path, settings.threads, {
    taskTimeoutMs: settings.timeout * 1000,
  });
  let batcher: Batcher | undefined;
  const metrics = new WorkerMetrics({
    queueRows: () => batcher?.queuedRows ?? 0,
    poolUtilization: () => pool.utilization,
  });
  batcher = new Batcher(pool, {
    numFeature: served.model.numFeature,
    groups: served.model.numMarginOutputs,
    width: served.model.numOutputs,
    maxBatchRows: settings.max_batch_rows,
    maxQueueRows: settings.max_queue,
  });
  let ready = true;
  const app = await buildApp({
    settings,
    served,
    batcher,
    metrics,
    logger: pino({ level: "silent" }),
    isReady: () => ready,
  });
  return {
    app,
    served,
    metrics,
    setReady(value: boolean) {
      ready = value;
    },
    async close() {
      await app.close();
      await pool.destroy();
    },
  };
}
