/**
 * The worker's model-loading thread (workers/scoring/model-loader.ts starts it): it reads a model
 * version's snapshot, checks its digest, reads and compiles it (model/), moves it into shared memory
 * (Model.share) and measures its inline costs, so that none of that runs on the event loop while
 * the worker serves other models. It answers with the shared model, which the event loop and the
 * scoring threads then only view.
 */
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import { loadModel } from "../../model/index.js";
import { calibrateInline } from "../scoring/inline-scorer.js";
import { checkDigest, type LoadReply, type LoadRequest } from "../scoring/model-loader.js";

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
    // The path, not its bytes: loadModel reads them in a call of its own, so they are garbage
    // before the model is compiled (see model/load.ts).
    const model = loadModel(request.snapshot, checkDigest(request.snapshot, request.sha256));
    const calibration = request.inlineMaxUs > 0 ? calibrateInline(model, request.inlineMaxUs) : undefined;
    reply = { id: request.id, shared: model.share(), calibration };
  } catch (error) {
    reply = { id: request.id, error: (error as Error).message };
  }
  parentPort?.postMessage(reply);
});
