/**
 * Where a model's bytes came from: the primary fetches them, its workers report it on /model
 * (passed in the worker's environment, contract/messages.ts WORKER_ENV.modelOrigin).
 */

/** The validators a source gives for one version of the object (all optional: servers differ). */
export interface Validators {
  etag?: string;
  versionId?: string;
  /** ISO 8601. */
  lastModified?: string;
}

export interface ModelOrigin extends Validators {
  /** The source as describeLocation shows it: no credentials, no query string. */
  source: string;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
  /** When these bytes were fetched or last confirmed current (ISO 8601). */
  fetchedAt: string;
}
