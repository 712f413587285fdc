/**
 * The worker's model-loading thread (workers/scoring/model-loader.ts starts it): it reads a model
 * version's snapshot, checks its digest, reads and compiles it (model/), moves it into shared memory
 * (Model.share) and measures its inline costs, so that none of that runs on the event loop while
 * the worker serves other models. It answers with the shared model, which the event loop and the
 * scoring threads then only view.
 */
import { createHash } from "node:crypto";
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import { loadModel, readModelBytes } from "../../model/index.js";
import { calibrateInline } from "../scoring/inline-scorer.js";
import type { LoadReply, LoadRequest } from "../scoring/model-loader.js";

// The lowest priority (setpriority on the calling thread, Linux): loading takes only the CPU that
// scoring and the event loop leave, so a load while serving slows it rather than the other models.
try {
  setPriority(19);
} catch {
  // not permitted here: loads then compete at the worker's own priority
}

parentPort?.on("message", (request: LoadRequest) => {
  let reply: LoadReply;
  try {
    const bytes = readModelBytes(request.snapshot);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    if (sha256 !== request.sha256)
      throw new Error(`model snapshot ${request.snapshot} has sha256 ${sha256}, expected ${request.sha256}`);
    const model = loadModel(bytes);
    const calibration = request.inlineMaxUs > 0 ? calibrateInline(model, request.inlineMaxUs) : undefined;
    reply = { id: request.id, shared: model.share(), calibration };
  } catch (error) {
    reply = { id: request.id, error: (error as Error).message };
  }
  parentPort?.postMessage(reply);
});
