/**
 * Every error the HTTP API answers with, declared once: a stable FORESTD_ERR_* code, its HTTP
 * status, a message template, the docs text for docs/errors.md and, for rejections, the label it
 * counts under in forestd_rejected_total. Made with @fastify/error, as Fastify's own lib/errors.js.
 * Clients branch on `code`. docs/errors.md's table is generated from HTTP_ERRORS (`npm run docs`;
 * test/unit/errors.test.ts checks it is current and test/app/error-codes.test.ts provokes every code).
 */
import { STATUS_CODES } from "node:http";
import createError, { type FastifyErrorConstructor } from "@fastify/error";
import type { Static } from "typebox";
import type { ErrorResponse } from "./schemas.js";

export interface HttpErrorSpec {
  readonly code: `FORESTD_ERR_${string}`;
  readonly status: number;
  /** A util.format template, filled by the constructor's arguments. */
  readonly message: string;
  /** The docs' "when" column. */
  readonly when: string;
  /** The reason label in forestd_rejected_total, for errors that turn a request away. */
  readonly rejected?: string;
  /** Worth an error log line with its cause: something failed on our side. */
  readonly logged?: boolean;
}

const declared: HttpErrorSpec[] = [];

function httpError(spec: HttpErrorSpec, captureStackTrace = true): FastifyErrorConstructor {
  declared.push(spec);
  return createError(spec.code, spec.message, spec.status, Error, captureStackTrace);
}

export const InvalidInputError = httpError({
  code: "FORESTD_ERR_INVALID_INPUT",
  status: 400,
  message: "%s",
  rejected: "invalid_input",
  when: "the body does not have the documented shape, a row has the wrong length, an unknown feature name, or a value that is not a number or null (`row` and `field` say where)",
});
export const InvalidJsonError = httpError({
  code: "FORESTD_ERR_INVALID_JSON",
  status: 400,
  message: "request body is not valid JSON: %s",
  rejected: "invalid_input",
  when: "the body is not valid JSON, or is empty",
});
export const BadRequestError = httpError({
  code: "FORESTD_ERR_BAD_REQUEST",
  status: 400,
  message: "malformed HTTP request (%s)",
  when: "the HTTP request itself is malformed (request line, headers, Content-Length); the connection is closed",
});
export const NotFoundError = httpError({
  code: "FORESTD_ERR_NOT_FOUND",
  status: 404,
  message: "no route %s %s",
  when: "no such route (or no such method on it)",
});
export const ModelNotFoundError = httpError({
  code: "FORESTD_ERR_MODEL_NOT_FOUND",
  status: 404,
  message: 'no model named "%s"; this server serves: %s',
  when: "`/v2/models/{name}` or `/predict/{name}` names a model this server does not serve (checked before the body)",
});
export const ModelVersionNotFoundError = httpError({
  code: "FORESTD_ERR_MODEL_VERSION_NOT_FOUND",
  status: 404,
  message: 'model "%s" has no version "%s" served; its versions served: %s',
  when: "`/v2/models/{name}/versions/{version}` names a version the model does not have, or one its version policy does not serve",
});
export const NoDefaultModelError = httpError({
  code: "FORESTD_ERR_NO_DEFAULT_MODEL",
  status: 404,
  message: "no default model: name one in the URL (POST /predict/{name}; models: %s), or set DEFAULT_MODEL",
  when: "`POST /predict` or `GET /model` without a model name when no model is the default (a repository without `DEFAULT_MODEL`)",
});
export const ClientTimeoutError = httpError({
  code: "FORESTD_ERR_CLIENT_TIMEOUT",
  status: 408,
  message: "the request did not arrive in time",
  when: "the client did not send its headers within `HEADERS_TIMEOUT`, or its whole request within `CLIENT_TIMEOUT`; the connection is closed",
});
export const BodyTooLargeError = httpError({
  code: "FORESTD_ERR_BODY_TOO_LARGE",
  status: 413,
  message: "request body is larger than %s bytes",
  rejected: "body_too_large",
  when: "the body is larger than `BODY_LIMIT`",
});
export const TooManyRowsError = httpError({
  code: "FORESTD_ERR_TOO_MANY_ROWS",
  status: 413,
  message: "%s rows in one request; the limit is %s",
  rejected: "too_many_rows",
  when: "more rows in one request than `MAX_REQUEST_ROWS`",
});
export const UrlTooLongError = httpError({
  code: "FORESTD_ERR_URL_TOO_LONG",
  status: 414,
  message: "the URL is longer than %s bytes",
  rejected: "url_too_long",
  when: "the URL is longer than `MAX_URL_LENGTH`",
});
export const UnsupportedMediaTypeError = httpError({
  code: "FORESTD_ERR_UNSUPPORTED_MEDIA_TYPE",
  status: 415,
  message: 'Content-Type must be application/json, got "%s"',
  rejected: "unsupported_media_type",
  when: "`Content-Type` is not `application/json`",
});
export const HeadersTooLargeError = httpError({
  code: "FORESTD_ERR_HEADERS_TOO_LARGE",
  status: 431,
  message: "request headers are larger than %s bytes",
  when: "the request head is larger than `MAX_HEADER_SIZE`; the connection is closed",
});
export const MlflowBadRequestError = httpError({
  code: "FORESTD_ERR_MLFLOW_BAD_REQUEST",
  status: 400,
  message: "%s",
  rejected: "invalid_input",
  when: '`/invocations`: a body MLflow\'s scoring server refuses as BAD_REQUEST (not JSON, not exactly one of `dataframe_split`, `dataframe_records`, `instances`, `inputs`, a malformed frame, a CSV pandas cannot read, a value that will not convert to its column\'s type); the body is MLflow\'s `{"error_code": "BAD_REQUEST", "message": ...}`',
});
export const MlflowInvalidParameterError = httpError({
  code: "FORESTD_ERR_MLFLOW_INVALID_PARAMETER_VALUE",
  status: 400,
  message: "%s",
  rejected: "invalid_input",
  when: '`/invocations`: data the model\'s MLflow signature refuses (`Model is missing inputs [...]`, too few or too many columns for an unnamed signature); the body is MLflow\'s `{"error_code": "INVALID_PARAMETER_VALUE", "message": ...}`',
});
export const MlflowMediaTypeError = httpError({
  code: "FORESTD_ERR_MLFLOW_UNSUPPORTED_MEDIA_TYPE",
  status: 415,
  message: "%s",
  rejected: "unsupported_media_type",
  when: "`/invocations`: a `Content-Type` other than `application/json` or `text/csv` (charset utf-8 only); answered in MLflow's `text/plain`",
});
export const InternalError = httpError({
  code: "FORESTD_ERR_INTERNAL",
  status: 500,
  message: "internal error",
  logged: true,
  when: "a bug: please report it with the server log line that has the same time",
});
// Shed and deadline answers are the common case under overload: no stack trace for them.
export const OverloadedError = httpError(
  {
    code: "FORESTD_ERR_OVERLOADED",
    status: 503,
    message: "%s",
    rejected: "overload",
    when: "shed: more rows waiting than `MAX_QUEUE`, an expected wait past `MAX_QUEUE_WAIT` (answered before the body is read) or past the request's deadline, or the worker under pressure (event-loop delay or utilisation, heap, RSS)",
  },
  false,
);
export const ModelNotReadyError = httpError({
  code: "FORESTD_ERR_MODEL_NOT_READY",
  status: 503,
  message: 'model "%s" is not ready in this worker: %s',
  rejected: "not_ready",
  when: "the model is known but not loaded in this worker: still loading (LOADING), or its files could not be read (UNAVAILABLE, with the reason)",
});
export const NotReadyError = httpError({
  code: "FORESTD_ERR_NOT_READY",
  status: 503,
  message: "%s",
  rejected: "not_ready",
  when: "`/readyz` or an OIP readiness route while the worker drains or is under pressure",
});
export const ScoringFailedError = httpError({
  code: "FORESTD_ERR_SCORING_FAILED",
  status: 503,
  message: "scoring failed: %s",
  logged: true,
  when: "the scoring thread running this request failed (it is replaced, so a retry may succeed)",
});
export const DeadlineError = httpError(
  {
    code: "FORESTD_ERR_DEADLINE",
    status: 504,
    message: "%s",
    rejected: "deadline",
    when: "the request's deadline (`X-Request-Timeout-Ms`, OIP `parameters.timeout`, else `REQUEST_DEADLINE`) passed before its rows were scored, or a scoring thread stuck past `TIMEOUT` was terminated",
  },
  false,
);

/** Every error the server can answer with, in the docs' order. */
export const HTTP_ERRORS: readonly HttpErrorSpec[] = declared;

const byCode = new Map(declared.map((spec) => [spec.code as string, spec]));

/** The declaration of a code, if it is one of ours. */
export function httpErrorSpec(code: unknown): HttpErrorSpec | undefined {
  return typeof code === "string" ? byCode.get(code) : undefined;
}

/** Only these headers vary with the error: every 503 asks the client to come back in a second. */
export function errorHeaders(status: number): Record<string, string> {
  return status === 503 ? { "retry-after": "1" } : {};
}

/**
 * The JSON every error answer carries, whichever path sends it (Fastify, the shed gate, Node's
 * clientError): the shape /openapi.json documents. `error` is the status text; on the Open
 * Inference Protocol routes the message, as that protocol specifies. `requestId` is the answer's
 * X-Request-Id (workers/request-id.ts), so a client quoting a failure names its log line.
 */
export type ErrorBody = Static<typeof ErrorResponse>;

export function errorBody(
  error: { code: string; message: string; row?: number; field?: string },
  status: number,
  oip: boolean,
  requestId: string,
): ErrorBody {
  return {
    statusCode: status,
    code: error.code,
    error: oip ? error.message : (STATUS_CODES[status] ?? "Error"),
    message: error.message,
    ...(error.row !== undefined ? { row: error.row } : {}),
    ...(error.field !== undefined ? { field: error.field } : {}),
    requestId,
  };
}

/** The Open Inference Protocol's routes, whose error body differs (see errorBody). */
export function isOipUrl(url: string): boolean {
  return url.startsWith("/v2");
}

/** MLflow's scoring routes (/invocations, and /invocations/{name} in a repository), whose errors are MLflow's (mlflowErrorBody). */
export function isMlflowUrl(url: string): boolean {
  return url === "/invocations" || url.startsWith("/invocations?") || url.startsWith("/invocations/");
}

/** MLflow's error code for one of our errors answered on /invocations (mlflow/exceptions.py's table, reversed). */
function mlflowErrorCode(code: string, status: number): string {
  if (code === "FORESTD_ERR_MLFLOW_INVALID_PARAMETER_VALUE") return "INVALID_PARAMETER_VALUE";
  if (status === 404) return "ENDPOINT_NOT_FOUND";
  if (status === 413) return "RESOURCE_EXHAUSTED";
  if (status === 503) return "TEMPORARILY_UNAVAILABLE";
  if (status === 504) return "DEADLINE_EXCEEDED";
  if (status >= 500) return "INTERNAL_ERROR";
  return "BAD_REQUEST";
}

/**
 * The body MLflow's scoring server answers errors with (MlflowException.serialize_as_json):
 * `{"error_code": ..., "message": ...}`; the request id is in the X-Request-Id header.
 */
export function mlflowErrorBody(
  error: { code: string; message: string },
  status: number,
): {
  error_code: string;
  message: string;
} {
  return { error_code: mlflowErrorCode(error.code, status), message: error.message };
}
