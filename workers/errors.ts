/**
 * Every error the HTTP API answers with: a stable FORESTD_ERR_* code, a message template and an
 * HTTP status, made with @fastify/error (as Fastify's own lib/errors.js). Clients branch on `code`.
 * test/errors.test.ts keeps this list and docs/errors.md in step.
 */
import createError from "@fastify/error";

export const InvalidInputError = createError("FORESTD_ERR_INVALID_INPUT", "%s", 400);
export const InvalidJsonError = createError(
  "FORESTD_ERR_INVALID_JSON",
  "request body is not valid JSON: %s",
  400,
);
export const NotFoundError = createError("FORESTD_ERR_NOT_FOUND", "no route %s %s", 404);
export const ModelNotFoundError = createError(
  "FORESTD_ERR_MODEL_NOT_FOUND",
  'no model named "%s"; this server serves "%s"',
  404,
);
export const MethodNotAllowedError = createError(
  "FORESTD_ERR_METHOD_NOT_ALLOWED",
  "%s is not allowed on %s",
  405,
);
export const BodyTooLargeError = createError(
  "FORESTD_ERR_BODY_TOO_LARGE",
  "request body is larger than %s bytes",
  413,
);
export const UnsupportedMediaTypeError = createError(
  "FORESTD_ERR_UNSUPPORTED_MEDIA_TYPE",
  'Content-Type must be application/json, got "%s"',
  415,
);
export const OverloadedError = createError("FORESTD_ERR_OVERLOADED", "%s", 503);
export const NotReadyError = createError("FORESTD_ERR_NOT_READY", "%s", 503);
export const ScoringFailedError = createError("FORESTD_ERR_SCORING_FAILED", "scoring failed: %s", 503);
export const DeadlineError = createError("FORESTD_ERR_DEADLINE", "%s", 504);
export const InternalError = createError("FORESTD_ERR_INTERNAL", "internal error", 500);
export const BadRequestError = createError("FORESTD_ERR_BAD_REQUEST", "malformed HTTP request: %s", 400);
export const ClientTimeoutError = createError(
  "FORESTD_ERR_CLIENT_TIMEOUT",
  "the request did not arrive in time",
  408,
);
export const TooManyRowsError = createError(
  "FORESTD_ERR_TOO_MANY_ROWS",
  "%s rows in one request; the limit is %s",
  413,
);
export const UrlTooLongError = createError(
  "FORESTD_ERR_URL_TOO_LONG",
  "the URL is longer than %s bytes",
  414,
);
export const HeadersTooLargeError = createError(
  "FORESTD_ERR_HEADERS_TOO_LARGE",
  "request headers are larger than %s bytes",
  431,
);

/** Every code this server can answer with, and its status. */
export const ERROR_CODES: Readonly<Record<string, number>> = Object.fromEntries(
  [
    InvalidInputError,
    InvalidJsonError,
    NotFoundError,
    ModelNotFoundError,
    MethodNotAllowedError,
    BodyTooLargeError,
    UnsupportedMediaTypeError,
    OverloadedError,
    NotReadyError,
    ScoringFailedError,
    DeadlineError,
    InternalError,
    BadRequestError,
    ClientTimeoutError,
    TooManyRowsError,
    UrlTooLongError,
    HeadersTooLargeError,
  ].map((E) => {
    const e = new E("", "", "");
    return [e.code, e.statusCode as number];
  }),
);
