/**
 * Why a model could not be fetched, with a stable code per cause. Messages name the source as
 * describeLocation shows it and never a credential: they end up in logs and boot errors.
 */
export const ModelSourceErrorCodes = {
  /** No such file, object, bucket or URL (404, 410, ENOENT). */
  FORESTD_ERR_MODEL_SOURCE_NOT_FOUND: "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND",
  /** The source refused the credentials or the request (401, 403, EACCES). */
  FORESTD_ERR_MODEL_SOURCE_DENIED: "FORESTD_ERR_MODEL_SOURCE_DENIED",
  /** No answer within MODEL_FETCH_TIMEOUT. */
  FORESTD_ERR_MODEL_SOURCE_TIMEOUT: "FORESTD_ERR_MODEL_SOURCE_TIMEOUT",
  /** The source cannot be reached: refused connection, unknown host, TLS certificate not trusted. */
  FORESTD_ERR_MODEL_SOURCE_UNREACHABLE: "FORESTD_ERR_MODEL_SOURCE_UNREACHABLE",
  /** Any other failure: an unexpected status, a download cut short, a missing region. */
  FORESTD_ERR_MODEL_SOURCE_FAILED: "FORESTD_ERR_MODEL_SOURCE_FAILED",
  /** The bytes do not have the SHA-256 that MODEL_SHA256 pins. */
  FORESTD_ERR_MODEL_CHECKSUM: "FORESTD_ERR_MODEL_CHECKSUM",
} as const;

export type ModelSourceErrorCode = keyof typeof ModelSourceErrorCodes;

export class ModelSourceError extends Error {
  readonly code: ModelSourceErrorCode;
  /** The source, redacted (describeLocation). */
  readonly source: string;

  constructor(code: ModelSourceErrorCode, source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = "ModelSourceError";
    this.code = code;
    this.source = source;
  }
}

/**
 * Replaces every secret that could have slipped into a message from below (an SDK or socket
 * error quoting a header or URL) with "[redacted]". Short values are left alone: replacing a
 * two-letter password everywhere would garble the message and reveal nothing anyway.
 */
export function scrub(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length >= 6) out = out.split(secret).join("[redacted]");
  }
  return out;
}

/** The credentials a message must never show: AWS keys and tokens from the environment. */
export function environmentSecrets(env: NodeJS.ProcessEnv = process.env): string[] {
  return [env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN].filter(
    (v): v is string => v !== undefined,
  );
}
