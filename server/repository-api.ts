/**
 * The model repository API of KServe's and Triton's v2 protocol (Triton's
 * extension_model_repository.md; KServe's python/kserve/kserve/protocol/rest/v2_endpoints.py), on
 * the primary's METRICS_PORT, where it can act on every worker:
 *
 *   POST /v2/repository/index                    [{"name", "version", "state", "reason"}, ...]
 *   POST /v2/repository/models/{name}/load       {"name": name, "load": true}
 *   POST /v2/repository/models/{name}/unload     {"name": name, "unload": true}
 *
 * Off unless REPOSITORY_API is on; every request must bear REPOSITORY_API_TOKEN
 * (`Authorization: Bearer …`, compared in constant time), else 401. A load reads the named model's
 * folder in MODEL_REPOSITORY again (or MODEL_PATH's model): Triton's "config" and "file:…"
 * parameters, which would make the server load something the repository does not hold, are
 * refused. A load or unload answers once every serving worker has applied it. Errors are the
 * protocol's {"error": "..."} with forestd's code beside.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { MODEL_NAME_PATTERN } from "../config/model-location.js";
import type { ModelIndexEntry } from "../contract/models.js";
import { RepositoryError } from "./repository/repository.js";

export interface RepositoryControl {
  index(readyOnly: boolean): ModelIndexEntry[];
  load(name: string): Promise<void>;
  unload(name: string): Promise<void>;
}

export interface RepositoryApiLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** The largest request body read: the API takes a few parameters, never model bytes. */
const MAX_BODY = 64 * 1024;
const ROUTE = /^\/v2\/repository\/models\/([^/]+)\/(load|unload)$/;

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Whether the request bears the token (hashes compared in constant time, whatever the lengths). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (token === "" || header === undefined) return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return false;
  return timingSafeEqual(digest(match[1]), digest(token));
}

function answer(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response
    .writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "content-length": String(Buffer.byteLength(text)),
      ...headers,
    })
    .end(text);
}

function error(
  response: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  answer(response, status, { error: message, code }, headers);
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY)
      throw new RepositoryError(
        413,
        "FORESTD_ERR_BODY_TOO_LARGE",
        `the body is larger than ${MAX_BODY} bytes`,
      );
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RepositoryError(
      400,
      "FORESTD_ERR_INVALID_JSON",
      `the body is not valid JSON: ${(e as Error).message}`,
    );
  }
}

/**
 * The API's request handler: answers and returns true for /v2/repository/... (404 when the API is
 * off, so its routes say nothing), false for any other path.
 */
export function repositoryApi(
  options: { enabled: boolean; token: string },
  control: RepositoryControl,
  log: RepositoryApiLog,
): (request: IncomingMessage, response: ServerResponse) => boolean {
  return (request, response) => {
    const path = (request.url ?? "").split("?", 1)[0];
    if (!path.startsWith("/v2/repository/") && path !== "/v2/repository") return false;
    if (!options.enabled) {
      error(response, 404, "FORESTD_ERR_NOT_FOUND", "the repository API is off (REPOSITORY_API)");
      return true;
    }
    if (!bearerMatches(request.headers.authorization, options.token)) {
      log.warn(
        { event: "repository_api_denied", path: path.slice(0, 200), client: request.socket.remoteAddress },
        "repository API request without the right bearer token",
      );
      error(
        response,
        401,
        "FORESTD_ERR_UNAUTHORIZED",
        "the repository API needs Authorization: Bearer <REPOSITORY_API_TOKEN>",
        {
          "www-authenticate": 'Bearer realm="forestd repository"',
        },
      );
      return true;
    }
    if (request.method !== "POST") {
      error(response, 405, "FORESTD_ERR_METHOD_NOT_ALLOWED", "the repository API's routes are POST", {
        allow: "POST",
      });
      return true;
    }
    void handle(path, request, response, control, log).catch((e: unknown) => {
      if (e instanceof RepositoryError) error(response, e.status, e.code, e.message);
      else error(response, 500, "FORESTD_ERR_INTERNAL", (e as Error).message);
    });
    return true;
  };
}

async function handle(
  path: string,
  request: IncomingMessage,
  response: ServerResponse,
  control: RepositoryControl,
  log: RepositoryApiLog,
): Promise<void> {
  const body = await readBody(request);
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new RepositoryError(400, "FORESTD_ERR_INVALID_INPUT", "the body must be a JSON object (or empty)");
  if (path === "/v2/repository/index") {
    const ready = (body as { ready?: unknown }).ready;
    if (ready !== undefined && typeof ready !== "boolean")
      throw new RepositoryError(400, "FORESTD_ERR_INVALID_INPUT", '"ready" must be true or false');
    return answer(response, 200, control.index(ready === true));
  }
  const match = ROUTE.exec(path);
  if (!match) throw new RepositoryError(404, "FORESTD_ERR_NOT_FOUND", `no route POST ${path.slice(0, 200)}`);
  let name: string;
  try {
    name = decodeURIComponent(match[1]);
  } catch {
    name = match[1];
  }
  const action = match[2] as "load" | "unload";
  if (!MODEL_NAME_PATTERN.test(name))
    throw new RepositoryError(
      400,
      "FORESTD_ERR_INVALID_INPUT",
      `"${name.slice(0, 128)}" is not a model name: 1 to 128 of A-Z a-z 0-9 . _ - starting with a letter or digit`,
    );
  const parameters = (body as { parameters?: unknown }).parameters;
  if (parameters !== undefined) {
    if (typeof parameters !== "object" || parameters === null || Array.isArray(parameters))
      throw new RepositoryError(400, "FORESTD_ERR_INVALID_INPUT", '"parameters" must be an object');
    const foreign = Object.keys(parameters).filter((k) => k === "config" || k.startsWith("file:"));
    if (foreign.length > 0)
      throw new RepositoryError(
        400,
        "FORESTD_ERR_INVALID_INPUT",
        `parameters ${foreign.map((k) => `"${k.slice(0, 40)}"`).join(", ")} refused: forestd loads models only from its repository`,
      );
  }
  log.info({ event: `repository_api_${action}`, name }, `repository API: ${action} ${name}`);
  if (action === "load") await control.load(name);
  else await control.unload(name);
  answer(response, 200, action === "load" ? { name, load: true } : { name, unload: true });
}
