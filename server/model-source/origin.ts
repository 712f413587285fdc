/** Where a model's bytes came from, and how to tell whether the source has a newer version. */

import type { ModelOrigin, Validators } from "../../contract/model-origin.js";

export type { ModelOrigin, Validators };

export interface FetchedModel {
  bytes: Uint8Array;
  sha256: string;
  origin: ModelOrigin;
}

/** The source still holds the version the caller has (`origin` is refreshed: fetchedAt, validators). */
export interface UnchangedModel {
  unchanged: true;
  origin: ModelOrigin;
}

/**
 * Whether two descriptions are of the same version, by the strongest validator both have:
 * S3 version id, then ETag, then Last-Modified, then the content digest.
 */
export function sameVersion(
  a: Validators & { sha256?: string },
  b: Validators & { sha256?: string },
): boolean {
  if (a.versionId && b.versionId) return a.versionId === b.versionId;
  if (a.etag && b.etag) return a.etag === b.etag;
  if (a.lastModified && b.lastModified) return a.lastModified === b.lastModified;
  if (a.sha256 && b.sha256) return a.sha256 === b.sha256;
  return false;
}

export function validatorsOf(origin: ModelOrigin): Validators {
  const { etag, versionId, lastModified } = origin;
  return { etag, versionId, lastModified };
}
