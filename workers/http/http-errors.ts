/**
 * One error handler for the whole API: every failure becomes a JSON body with a FORESTD_ERR_* code
 * and the right status (never a bare 500 for something the client did), and is counted.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { RowError } from "../../model/index.js";
import type { WorkerMetrics } from "../process/metrics.js";
import {
  BodyTooLargeError,
  errorBody,
  errorHeaders,
  httpErrorSpec,
  InternalError,
  InvalidInputError,
  InvalidJsonError,
  isMlflowUrl,
  isOipUrl,
  MlflowBadRequestError,
  MlflowInvalidParameterError,
  MlflowMediaTypeError,
  mlflowErrorBody,
  NotFoundError,
  UnsupportedMediaTypeError,
} from "./errors.js";
import { MlflowContentTypeError, MlflowInputError } from "./mlflow/protocol.js";
import { REQUEST_ID_HEADER } from "./request-id.js";

type Known = FastifyError & { row?: number; field?: string };

/** Maps whatever was thrown to one of our errors (workers/errors.ts); anything else is INTERNAL. */
export function toHttpError(error: unknown, bodyLimit: number, request: FastifyRequest): Known {
  if (error instanceof RowError) {
    return Object.assign(new InvalidInputError(error.message), {
      row: error.row,
      field: error.field ?? undefined,
    });
  }
  if (error instanceof MlflowInputError)
    return error.errorCode === "INVALID_PARAMETER_VALUE"
      ? new MlflowInvalidParameterError(error.message)
      : new MlflowBadRequestError(error.message);
  if (error instanceof MlflowContentTypeError) return new MlflowMediaTypeError(error.message);
  const e = error as Partial<FastifyError> & Error;
  // Ours only if declared: a FORESTD_ERR_* code from elsewhere (the engine's, say) is not an answer.
  const spec = httpErrorSpec(e.code);
  if (spec) return Object.assign(e, { statusCode: spec.status }) as Known;
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
  if (e instanceof SyntaxError) return new InvalidJsonError(e.message);
  // Fastify's other client errors (a bad URL, a bad Content-Length): still a documented 400.
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return new InvalidInputError(e.message);
  }
  return new InternalError({ cause: error });
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

export function installErrorHandling(app: FastifyInstance, bodyLimit: number, metrics: WorkerMetrics): void {
  app.setErrorHandler((error, request, reply) => {
    const known = toHttpError(error, bodyLimit, request);
    const spec = httpErrorSpec(known.code);
    if (spec?.logged) request.log.error({ err: known.cause ?? error, code: known.code }, known.message);
    if (spec?.rejected) metrics.rejected.inc({ reason: spec.rejected });
    sendError(request, reply, known.statusCode ?? 500, known);
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new NotFoundError(request.method, request.url.split("?")[0].slice(0, 200));
    sendError(request, reply, 404, error);
  });
}

export function sendError(request: FastifyRequest, reply: FastifyReply, status: number, error: Known): void {
  if (isMlflowUrl(request.url)) {
    // MLflow's scoring server: its JSON error body, and a 415 in plain text.
    reply.code(status).headers(errorHeaders(status)).header(REQUEST_ID_HEADER, request.id);
    if (error.code === "FORESTD_ERR_MLFLOW_UNSUPPORTED_MEDIA_TYPE")
      reply.type("text/plain").send(error.message);
    else reply.type("application/json").send(JSON.stringify(mlflowErrorBody(error, status)));
    return;
  }
  reply
    .code(status)
    .headers(errorHeaders(status))
    // Also set in onRequest; repeated here for errors Fastify raises before that hook runs.
    .header(REQUEST_ID_HEADER, request.id)
    .type("application/json; charset=utf-8")
    .send(errorBody(error, status, isOipUrl(request.url), request.id));
}
