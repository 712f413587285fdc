/** An in-process worker app (real model, real scoring threads) for fastify.inject tests. */
import pino, { type Logger } from "pino";
import { loadSettings } from "../../config/load-settings.js";
import { labelOptions } from "../../model/outputs.js";
import { buildApp } from "../../workers/http/app.js";
import { loadServedModel } from "../../workers/http/served-model.js";
import { createScoringStack } from "../../workers/process/scoring-stack.js";
import { heldThreads, SCRIPTED_THREAD } from "./threads.js";

export interface TestAppOptions {
  /** The scoring thread module: test/helpers/threads.ts's SCRIPTED_THREAD to misbehave on cue. */
  threadFile?: string;
  /** Where the app logs (e.g. to memory, to read its access lines); silent by default. */
  logger?: Logger;
}

export async function testApp(
  argv: string[] = [],
  env: Record<string, string> = {},
  options: TestAppOptions = {},
) {
  // Pressure shedding off unless a test asks for it (flags beat the environment): on a busy machine
  // a loaded event loop would otherwise shed the requests a test is about, which is not its subject.
  const { settings } = await loadSettings({
    argv,
    // With a scripted thread, inline scoring off: a scripted row scored on the loop would never
    // reach the thread that acts on it.
    env: {
      ACCESS_LOG: "off",
      MAX_EVENT_LOOP_DELAY: "0",
      ...(options.threadFile ? { INLINE_SCORING_MAX_US: "0" } : {}),
      ...env,
    },
    cwd: process.cwd(),
  });
  const served = loadServedModel(settings.model_path, settings.model_name, undefined, labelOptions(settings));
  const { pool, batcher, inline, metrics } = createScoringStack(settings, served, {
    threadFile: options.threadFile,
  });
  let ready = true;
  const app = await buildApp({
    settings,
    served,
    batcher,
    inline,
    metrics,
    logger: options.logger ?? pino({ level: "silent" }),
    isReady: () => ready,
  });
  return {
    app,
    settings,
    served,
    metrics,
    pool,
    batcher,
    inline,
    setReady(value: boolean) {
      ready = value;
    },
    async close() {
      await app.close();
      await pool.destroy();
    },
  };
}

/**
 * testApp with the scripted stand-in thread (test/helpers/threads.ts) and a handle on its held
 * tasks; at the end of `t`, held tasks are released and the channel closed before the app closes.
 */
export async function scriptedApp(
  t: { teardown(fn: () => unknown): void },
  argv: string[] = [],
  env: Record<string, string> = {},
) {
  const app = await testApp(argv, env, { threadFile: SCRIPTED_THREAD });
  const threads = heldThreads();
  t.teardown(async () => {
    threads.release();
    threads.close();
    await app.close();
  });
  return { ...app, threads };
}
