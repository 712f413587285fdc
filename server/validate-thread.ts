/**
 * The primary's model-validating thread (server/model-validator.ts starts it): reads bytes with the
 * engine (parse, check, compile) and checks CLASS_NAMES and THRESHOLD against the model, at the
 * lowest priority, so that validating a model the repository changed takes only CPU the workers
 * leave (on a server pinned to its CPUs, the primary shares them with the workers' scoring).
 */
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import { loadModel } from "../model/index.js";
import { checkLabels } from "../model/outputs.js";
import type { ValidateReply, ValidateRequest } from "./model-validator.js";

try {
  setPriority(19);
} catch {
  // not permitted here: validation then runs at the primary's own priority
}

parentPort?.on("message", (request: ValidateRequest) => {
  let reply: ValidateReply;
  try {
    const model = loadModel(request.bytes);
    checkLabels(model, request.labels);
    reply = { id: request.id, objective: model.objective, bytes: model.compiledBytes };
  } catch (error) {
    const e = error as Error & { code?: string };
    reply = { id: request.id, error: { name: e.name, message: e.message, code: e.code } };
  }
  parentPort?.postMessage(reply);
});
