/**
 * One error handler for the whole API: every failure becomes a JSON body with a FORESTD_ERR_* code
 * and the right status (never a bare 500 for something the client did), and is counted.
 */
import { STATUS_CODES } from "node:http";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { RowError } from "../model/index.js";
import {
  BodyTooLargeError,
  DeadlineError,
  InternalError,
  InvalidInputError,
  InvalidJsonError,
  NotFoundError,
  OverloadedError,
  UnsupportedMediaTypeError,
} from "./errors.js";
import type { WorkerMetrics } from "./metrics.js";
import { REQUEST_ID_HEADER } from "./request-id.js";
import { DeadlinePassedError, OverloadedError as QueueFullError } from "./scoring/batcher.js";
import { ScoringTimeoutError } from "./scoring/scoring-pool.js";

type Known = FastifyError & { row?: number; field?: string };

/** Maps whatever was thrown to one of our errors. */
export function toHttpError(error: unknown, bodyLimit: number, request: FastifyRequest): Known {
  if (error instanceof RowError) {
    return Object.assign(new InvalidInputError(error.message), {
      row: error.row,
      field: error.field ?? undefined,
    });
  }
  if (error instanceof QueueFullError) return new OverloadedError(error.message);
  if (error instanceof DeadlinePassedError) return new DeadlineError(error.message);
  if (error instanceof ScoringTimeoutError) return new DeadlineError(error.message);
  const e = error as Partial<FastifyError> & Error;
  if (typeof e.code === "string" && e.code.startsWith("FORESTD_ERR_")) return e as Known;
  if (e.validation) return new InvalidInputError(validationMessage(e as FastifyError));
  switch (e.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new BodyTooLargeError(String(bodyLimit));
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new UnsupportedMediaTypeError(String(request.headers["content-type"] ?? "").slice(0, 100));
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new InvalidJsonError("the body is empty");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new InvalidJsonError(e.message);
  }
  if (e instanceof SyntaxError || e.statusCode === 400) return new InvalidJsonError(e.message);
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return Object.assign(new InvalidInputError(e.message), { statusCode: e.statusCode });
  }
  return new InternalError();
}

/** "instances[3][1]: must be number" from ajv/typebox validation errors. */
function validationMessage(error: FastifyError): string {
  const first = error.validation?.[0];
  if (!first) return error.message;
  const path = (first.instancePath ?? "")
    .split("/")
    .filter(Boolean)
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join("");
  const where = `${error.validationContext ?? "body"}${path ? `.${path}` : ""}`.replace(".[", "[");
  return `${where}: ${first.message}`;
}

/** The label of a rejection in forestd_rejected_total. */
function rejectionReason(code: string): string | null {
  switch (code) {
    case "FORESTD_ERR_OVERLOADED":
      return "overload";
    case "FORESTD_ERR_TOO_MANY_ROWS":
      return "too_many_rows";
    case "FORESTD_ERR_URL_TOO_LONG":
      return "url_too_long";
    case "FORESTD_ERR_BODY_TOO_LARGE":
      return "body_too_large";
    case "FORESTD_ERR_UNSUPPORTED_MEDIA_TYPE":
      return "unsupported_media_type";
    case "FORESTD_ERR_DEADLINE":
      return "deadline";
    case "FORESTD_ERR_NOT_READY":
      return "not_ready";
    case "FORESTD_ERR_INVALID_INPUT":
    case "FORESTD_ERR_INVALID_JSON":
      return "invalid_input";
    default:
      return null;
  }
}

export function installErrorHandling(app: FastifyInstance, bodyLimit: number, metrics: WorkerMetrics): void {
  app.setErrorHandler((error, request, reply) => {
    const known = toHttpError(error, bodyLimit, request);
    const status = known.statusCode ?? 500;
    if (status >= 500 && known.code === "FORESTD_ERR_INTERNAL")
      request.log.error({ err: error }, "unhandled error");
    const reason = rejectionReason(known.code);
    if (reason) metrics.rejected.inc({ reason });
    sendError(request, reply, status, known);
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new NotFoundError(request.method, request.url.split("?")[0].slice(0, 200));
    sendError(request, reply, 404, error);
  });
}

export function sendError(request: FastifyRequest, reply: FastifyReply, status: number, error: Known): void {
  if (status === 503 && !reply.hasHeader("retry-after")) reply.header("retry-after", "1");
  // Also set in onRequest; repeated here for errors Fastify raises before that hook runs.
  reply.header(REQUEST_ID_HEADER, request.id);
  // The Open Inference Protocol's error body is {"error": "<message>"}; ours adds the code.
  const oip = request.url.startsWith("/v2");
  reply
    .code(status)
    .type("application/json; charset=utf-8")
    .send({
      statusCode: status,
      code: error.code,
      error: oip ? error.message : (STATUS_CODES[status] ?? "Error"),
      message: error.message,
      ...(error.row !== undefined ? { row: error.row } : {}),
      ...(error.field !== undefined ? { field: error.field } : {}),
      requestId: request.id,
    });
}
