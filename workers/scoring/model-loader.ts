/**
 * How a worker loads model versions: off its event loop, in one loading thread
 * (workers/thread/model-loader-thread.ts) that reads, checks and compiles each version once into
 * shared memory. The event loop and every scoring thread then hold views of that one copy
 * (model/shared.ts): a model's compiled trees are held once per worker, whatever THREADS, and a
 * version loaded while the worker serves others costs their requests no event-loop time but the
 * rebuilding of views.
 *
 * `inProcessLoader` does the same on the calling thread (the in-process test app, which serves
 * nothing while it loads).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ModelSpec } from "../../contract/models.js";
import { RequestThread } from "../../contract/request-thread.js";
import { type BytesCheck, loadModel, Model, packageRoot, type SharedModel } from "../../model/index.js";
import { calibrateInline, type InlineCalibration } from "./inline-scorer.js";
import type { ModelLoader } from "./model-table.js";

export interface LoadRequest {
  readonly id: number;
  readonly snapshot: string;
  readonly sha256: string;
  /** The model's INLINE_SCORING_MAX_US: its inline costs are measured there (0: not at all). */
  readonly inlineMaxUs: number;
}

export type LoadReply =
  | { readonly id: number; readonly shared: SharedModel; readonly calibration?: InlineCalibration }
  | { readonly id: number; readonly error: string };

function loaderModule(): string {
  const sibling = fileURLToPath(new URL("../thread/model-loader-thread.js", import.meta.url));
  return existsSync(sibling)
    ? sibling
    : join(packageRoot(), "dist", "workers", "thread", "model-loader-thread.js");
}

/**
 * How long the loading thread outlives its last load. Ending it frees what loading left on its heap
 * (its file's bytes, its Forest, the compiler's scratch: without it a worker that loaded the 94 MB
 * joblib settled at 5.6× the file, with it and the rest of issue #27's work 1.5×), which an idle
 * thread never collects; starting another costs ~0.2 s (the engine's modules, measured), at the
 * lowest priority, against a large model's seconds of loading, and loads asked for together share
 * one thread.
 */
export const LOADING_THREAD_IDLE_MS = 1000;

/** A version loaded by the loading thread, rebuilt here from its shared memory. */
export class ThreadedLoader {
  readonly #thread = new RequestThread<LoadRequest, LoadReply>(
    loaderModule,
    (message) => ({ id: 0, error: `the loading thread failed: ${message}` }),
    { endAfterIdleMs: LOADING_THREAD_IDLE_MS },
  );

  readonly load: ModelLoader = (spec: ModelSpec) =>
    this.#thread
      .ask((id) => ({
        id,
        snapshot: spec.snapshot,
        sha256: spec.sha256,
        inlineMaxUs: spec.config.inline_scoring_max_us,
      }))
      .then((reply) => {
        if ("error" in reply) throw new Error(reply.error);
        return {
          model: Model.fromShared(reply.shared),
          thread: { shared: reply.shared },
          bytes: reply.shared.bytes,
          calibration: reply.calibration,
        };
      });

  close(): Promise<void> {
    return this.#thread.close();
  }
}

/** Refuses a snapshot whose bytes are not the ones the primary validated. */
export function checkDigest(snapshot: string, expected: string): BytesCheck {
  return (bytes) => {
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    if (sha256 !== expected)
      throw new Error(`model snapshot ${snapshot} has sha256 ${sha256}, expected ${expected}`);
  };
}

/** The same on the calling thread: the snapshot read, checked, compiled and shared here. */
export const inProcessLoader: ModelLoader = async (spec: ModelSpec) => {
  // A snapshot file, or (the in-process app, no primary) the model as configured: an MLflow
  // folder then packs into the bundle its digest was taken of.
  const shared = loadModel(spec.snapshot, checkDigest(spec.snapshot, spec.sha256)).share();
  const model = Model.fromShared(shared);
  const calibration =
    spec.config.inline_scoring_max_us > 0
      ? calibrateInline(model, spec.config.inline_scoring_max_us)
      : undefined;
  return { model, thread: { shared }, bytes: shared.bytes, calibration };
};
