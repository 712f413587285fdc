/** An in-process worker app (real models, real scoring threads) for fastify.inject tests. */
import pino, { type Logger } from "pino";
import { loadSettings } from "../../config/load-settings.js";
import { type ModelSet, type ModelSpec, serverModelConfig } from "../../contract/models.js";
import { buildApp } from "../../workers/http/app.js";
import { fileSpec } from "../../workers/http/served-model.js";
import { createScoringStack } from "../../workers/process/scoring-stack.js";
import type { ModelEntry } from "../../workers/scoring/model-table.js";
import { heldThreads, SCRIPTED_THREAD } from "./threads.js";

export interface TestAppOptions {
  /** The scoring thread module: test/helpers/threads.ts's SCRIPTED_THREAD to misbehave on cue. */
  threadFile?: string;
  /** Where the app logs (e.g. to memory, to read its access lines); silent by default. */
  logger?: Logger;
  /**
   * Models to serve instead of the settings' MODEL_PATH one: as a worker is told them (the
   * primary's specs, each a model file with its name, version and settings). The first is the
   * default model unless `defaultModel` says otherwise.
   */
  models?: ModelSpec[];
  defaultModel?: string | null;
}

/** A spec for a model file, as the primary would send it (a path instead of a snapshot). */
export function modelSpec(
  path: string,
  name: string,
  overrides: Partial<Omit<ModelSpec, "snapshot" | "sha256" | "origin">> = {},
  config = serverModelConfig({
    class_names: [],
    threshold: 0.5,
    max_queue: 100_000,
    max_queue_wait: 0.05,
    request_deadline: 30,
    max_request_rows: 100_000,
    inline_scoring_max_us: 100,
  } as never),
): ModelSpec {
  // A version named by a number is a version folder's (its metrics are labelled by it).
  const numbered = overrides.version !== undefined && /^[1-9][0-9]*$/.test(overrides.version);
  return { ...fileSpec(path, name, config).spec, numbered, ...overrides };
}

/** The set a worker is told, for `models`: each named model's default is the one marked (or its only). */
export function modelSet(models: ModelSpec[], defaultModel: string | null, revision = 1): ModelSet {
  return {
    revision,
    models,
    defaultModel,
    index: models.map((m) => ({ name: m.name, version: m.version, state: "READY" as const, reason: "" })),
    strict: false,
  };
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
  const { pool, table, metrics, share } = createScoringStack(settings, { threadFile: options.threadFile });
  const models = options.models ?? [
    fileSpec(settings.model_path, settings.model_name, serverModelConfig(settings)).spec,
  ];
  const defaultModel =
    options.defaultModel !== undefined
      ? options.defaultModel
      : options.models
        ? models[0].name
        : settings.default_model || null;
  const state = await table.apply({ ...modelSet(models, defaultModel), strict: !options.models });
  if (state.failed.length > 0)
    throw new Error(`cannot load ${state.failed[0].name}: ${state.failed[0].reason}`);
  const first = table.resolve(defaultModel ?? models[0].name);
  const entry = (first as { entry: ModelEntry }).entry;
  let ready = true;
  const app = await buildApp({
    settings,
    table,
    metrics,
    logger: options.logger ?? pino({ level: "silent" }),
    isReady: () => ready,
  });
  return {
    app,
    settings,
    table,
    share,
    /** The default model's (else the first model's) version, its queue and its inline scorer. */
    served: entry.served,
    batcher: entry.batcher,
    inline: entry.inline,
    metrics,
    pool,
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
