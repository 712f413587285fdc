/** An in-process worker app (real model, real scoring threads) for fastify.inject tests. */
import pino, { type Logger } from "pino";
import { loadSettings } from "../../config/load-settings.js";
import { buildApp } from "../../workers/app.js";
import { createScoringStack } from "../../workers/scoring-stack.js";
import { loadServedModel } from "../../workers/served-model.js";

export async function testApp(
  argv: string[] = [],
  env: Record<string, string> = {},
  logger: Logger = pino({ level: "silent" }),
) {
  const { settings } = await loadSettings({ argv, env: { ACCESS_LOG: "off", ...env }, cwd: process.cwd() });
  const served = loadServedModel(settings.model_path, settings.model_name);
  const { pool, batcher, metrics } = createScoringStack(settings, served, { testHooks: true });
  let ready = true;
  const app = await buildApp({
    settings,
    served,
    batcher,
    metrics,
    logger,
    isReady: () => ready,
  });
  return {
    app,
    served,
    metrics,
    pool,
    batcher,
    setReady(value: boolean) {
      ready = value;
    },
    async close() {
      await app.close();
      await pool.destroy();
    },
  };
}
