/**
 * Which model version a request is for: `:name` and `:version` in its route (/v2/models/{name}
 * [/versions/{version}]/..., /predict/{name}), else the default model (POST /predict). Resolved in
 * a preParsing hook, before the body is read: an unknown model or version is a 404 and a model not
 * loaded yet a 503, whatever the body, and the body's fast reader knows the model's columns. The
 * version is held by the request until it is answered (ModelEntry.active), so a version replaced
 * meanwhile finishes it.
 */
import type { FastifyRequest, preParsingAsyncHookHandler } from "fastify";
import { MODEL_NAME_PATTERN } from "../../config/model-location.js";
import type { ModelEntry, ModelTable } from "../scoring/model-table.js";
import {
  ModelNotFoundError,
  ModelNotReadyError,
  ModelVersionNotFoundError,
  NoDefaultModelError,
} from "./errors.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The model version this request is for, once resolved (scoring and metadata routes). */
    forestdModel: ModelEntry | null;
  }
}

/** A name as an error may quote it: at most 128 characters. */
function quoted(text: string): string {
  return text.length > 128 ? `${text.slice(0, 128)}…` : text;
}

/** The version a name (and version) names, or the 404 / 503 that says why none. */
export function resolveModel(table: ModelTable, name: string | undefined, version?: string): ModelEntry {
  if (name === undefined) {
    const fallback = table.defaultModel;
    if (fallback === null) throw new NoDefaultModelError(table.names().slice(0, 20).join(", ") || "none");
    name = fallback;
  }
  const found = table.resolve(name, version);
  if ("entry" in found) return found.entry;
  if (found.missing === "model" || !MODEL_NAME_PATTERN.test(name)) {
    const names = table.names();
    const list =
      names.length === 0 ? "none" : `${names.slice(0, 20).join(", ")}${names.length > 20 ? ", ..." : ""}`;
    throw new ModelNotFoundError(quoted(name), list);
  }
  if (found.missing === "version")
    throw new ModelVersionNotFoundError(
      quoted(name),
      quoted(String(version)),
      found.versions.join(", ") || "none",
    );
  throw new ModelNotReadyError(quoted(name), `${found.state}${found.reason ? `: ${found.reason}` : ""}`);
}

/** The preParsing hook that resolves a route's model version into request.forestdModel. */
export function resolveModelHook(table: ModelTable): preParsingAsyncHookHandler {
  return async (request, _reply, payload) => {
    const { name, version } = request.params as { name?: string; version?: string };
    const entry = resolveModel(table, name, version);
    request.forestdModel = entry;
    entry.active++;
    return payload;
  };
}

/** The model version the hook resolved (routes call it in their handlers). */
export function modelOf(request: FastifyRequest): ModelEntry {
  return request.forestdModel as ModelEntry;
}
