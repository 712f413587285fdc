/**
 * Errors the engine raises, each with a stable code a caller can branch on.
 *
 * Model files come from outside (a volume, an artifact store, an upload), so every refusal names
 * what is wrong and where, in the spirit of Fastify's `lib/errors.js`: one place, stable codes.
 */
export const ModelErrorCodes = {
  /** The file could not be read at all (missing, unreadable). */
  FORESTD_ERR_MODEL_READ: "FORESTD_ERR_MODEL_READ",
  /** The bytes are not JSON or UBJSON, or are truncated. */
  FORESTD_ERR_MODEL_SYNTAX: "FORESTD_ERR_MODEL_SYNTAX",
  /** The document parses but is not a valid XGBoost model (wrong types, bad indices, cycles, ...). */
  FORESTD_ERR_MODEL_INVALID: "FORESTD_ERR_MODEL_INVALID",
  /** A valid XGBoost model that forestd does not score (gblinear, multi-target trees, unknown objective). */
  FORESTD_ERR_MODEL_UNSUPPORTED: "FORESTD_ERR_MODEL_UNSUPPORTED",
  /** The model exceeds a size limit (nodes, trees, features, nesting). */
  FORESTD_ERR_MODEL_TOO_LARGE: "FORESTD_ERR_MODEL_TOO_LARGE",
} as const;

export type ModelErrorCode = keyof typeof ModelErrorCodes;

export class ModelError extends Error {
  readonly code: ModelErrorCode;

  constructor(code: ModelErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ModelError";
    this.code = code;
  }
}

/** Input to `predictBatch` that does not fit the model (a programming error in the caller). */
export class PredictInputError extends RangeError {
  readonly code = "FORESTD_ERR_PREDICT_INPUT";

  constructor(message: string) {
    super(message);
    this.name = "PredictInputError";
  }
}

/** An output the model cannot give (SHAP values from a model saved without node covers). */
export class UnsupportedOutputError extends Error {
  readonly code = "FORESTD_ERR_OUTPUT_UNSUPPORTED";

  constructor(message: string) {
    super(message);
    this.name = "UnsupportedOutputError";
  }
}

// Readers refuse a file through these (one per code), so every format's refusals are the same
// ModelError; the message names what and where.

/** Refuses bytes that do not parse (truncated, not the format's syntax). */
export function modelSyntaxError(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", message);
}

/** Refuses a model that parses but is not valid (wrong types, bad indices, cycles, ...), naming where. */
export function invalidModel(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_INVALID", message);
}

/** Refuses a valid model that forestd does not serve, naming what. */
export function unsupportedModel(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_UNSUPPORTED", message);
}

/** Refuses a model past a size limit, naming the limit. */
export function modelTooLarge(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_TOO_LARGE", message);
}

/** A value as error messages name it: `null`, `an array`, `the string "x"`, `the number 5`, ... */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (ArrayBuffer.isView(v)) return "a typed array";
  switch (typeof v) {
    case "string":
      return `the string ${JSON.stringify(v.slice(0, 40))}`;
    case "number":
    case "boolean":
    case "bigint":
      return `the ${typeof v} ${String(v).slice(0, 40)}`;
    case "object":
      return "an object";
    default:
      return typeof v;
  }
}
