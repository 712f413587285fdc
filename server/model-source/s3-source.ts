/**
 * s3://bucket/key models through the AWS SDK v3, with its default credential chain (environment,
 * shared profile, IRSA web identity on EKS, ECS and instance metadata), region (AWS_REGION or the
 * profile) and endpoint (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL for MinIO, Ceph or GCS's XML API).
 *
 * The SDK is imported on first use, so a server with a local model never loads it. One client per
 * configuration is kept, so its credentials (an STS exchange on EKS) are cached between polls.
 */
import type { S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import type { Download, Probe, SourceDriver } from "./driver.js";
import { environmentSecrets, ModelSourceError, scrub } from "./errors.js";
import type { Validators } from "./origin.js";

export interface S3Options {
  forcePathStyle: boolean;
  timeoutMs: number;
}

type Sdk = typeof import("@aws-sdk/client-s3");
let sdk: Promise<Sdk> | undefined;
const clients = new Map<string, S3Client>();

async function clientFor(options: S3Options): Promise<{ sdk: Sdk; client: S3Client }> {
  sdk ??= import("@aws-sdk/client-s3");
  const loaded = await sdk;
  // The endpoint and region come from the environment, read by the SDK when a client is made.
  const env = process.env;
  const key = JSON.stringify([
    options,
    env.AWS_REGION,
    env.AWS_DEFAULT_REGION,
    env.AWS_ENDPOINT_URL_S3,
    env.AWS_ENDPOINT_URL,
    env.AWS_PROFILE,
    env.AWS_ACCESS_KEY_ID,
  ]);
  let client = clients.get(key);
  if (!client) {
    client = new loaded.S3Client({
      forcePathStyle: options.forcePathStyle,
      // A bucket in another region than AWS_REGION still works (one extra round trip).
      followRegionRedirects: true,
      requestHandler: { connectionTimeout: options.timeoutMs, requestTimeout: options.timeoutMs },
    });
    clients.set(key, client);
  }
  return { sdk: loaded, client };
}

export function s3Driver(bucket: string, key: string, source: string, options: S3Options): SourceDriver {
  const failure = (error: unknown, signal: AbortSignal) => s3Failure(error, signal, source);

  return {
    source,
    remote: true,
    async download(since, signal): Promise<Download> {
      try {
        const { sdk, client } = await clientFor(options);
        const response = await client
          .send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key, IfNoneMatch: since?.etag }), {
            abortSignal: signal,
          })
          .catch((error: Partial<S3ServiceException>) => {
            if (error.$metadata?.httpStatusCode === 304) return undefined;
            throw error;
          });
        if (response === undefined) return { modified: false };
        if (!response.Body)
          throw new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_FAILED", source, "empty answer");
        const stream = response.Body as unknown as { destroy?: () => void };
        const bytes = await untilAborted(response.Body.transformToByteArray(), signal, () =>
          stream.destroy?.(),
        ).catch((error: Error) => {
          if (signal.aborted) throw error;
          throw new ModelSourceError(
            "FORESTD_ERR_MODEL_SOURCE_FAILED",
            source,
            `the download was cut short: ${scrub(error.message, environmentSecrets())}`,
          );
        });
        if (response.ContentLength !== undefined && response.ContentLength !== bytes.length)
          throw new ModelSourceError(
            "FORESTD_ERR_MODEL_SOURCE_FAILED",
            source,
            `the download was cut short: ${bytes.length} of ${response.ContentLength} bytes`,
          );
        return { modified: true, bytes, validators: validators(response) };
      } catch (error) {
        throw failure(error, signal);
      }
    },
    async probe(_since, signal): Promise<Probe> {
      try {
        const { sdk, client } = await clientFor(options);
        const head = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }), {
          abortSignal: signal,
        });
        return validators(head);
      } catch (error) {
        throw failure(error, signal);
      }
    },
  };
}

/** What an SDK error means, as a ModelSourceError naming the source (never a credential). */
function s3Failure(error: unknown, signal: AbortSignal, source: string): ModelSourceError {
  if (error instanceof ModelSourceError) return error;
  const e = error as Partial<S3ServiceException> & { code?: string; message?: string };
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? "Error";
  const detail = scrub(
    e.message && e.message !== "UnknownError" ? `${name}: ${e.message}` : name,
    environmentSecrets(),
  );
  if (signal.aborted || name === "TimeoutError" || name === "AbortError")
    return new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_TIMEOUT", source, "no complete answer in time");
  if (status === 404 || name === "NoSuchKey" || name === "NoSuchBucket" || name === "NotFound")
    return new ModelSourceError(
      "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND",
      source,
      `no such ${name === "NoSuchBucket" ? "bucket" : "object"} (${status ?? 404} ${name})`,
    );
  if (status === 401 || status === 403)
    return new ModelSourceError(
      "FORESTD_ERR_MODEL_SOURCE_DENIED",
      source,
      `access denied (${status} ${name}): the credentials in use need s3:GetObject on this object`,
    );
  if (/Region is missing/i.test(e.message ?? ""))
    return new ModelSourceError(
      "FORESTD_ERR_MODEL_SOURCE_FAILED",
      source,
      "no AWS region: set AWS_REGION (or a region in the AWS profile)",
    );
  if (/credentials/i.test(name) || /Could not load credentials/i.test(e.message ?? ""))
    return new ModelSourceError(
      "FORESTD_ERR_MODEL_SOURCE_DENIED",
      source,
      `no AWS credentials found (${detail}): give the pod an IAM role (IRSA), or set AWS_PROFILE or AWS_ACCESS_KEY_ID`,
    );
  if (
    status === undefined &&
    /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EHOSTUNREACH|ENETUNREACH|EPIPE)/.test(e.code ?? "")
  )
    return new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_UNREACHABLE", source, `cannot connect: ${detail}`);
  return new ModelSourceError(
    "FORESTD_ERR_MODEL_SOURCE_FAILED",
    source,
    status ? `answered ${status} (${detail})` : detail,
  );
}

/** One object under a repository's prefix, as S3's listing describes it. */
export interface ListedObject {
  /** The key after the prefix. */
  readonly path: string;
  readonly etag?: string;
  readonly lastModified?: string;
  readonly size: number;
}

/**
 * Every object under `prefix` (ListObjectsV2, page by page), at most `limit` of them: a repository
 * that lists more is refused rather than read without end.
 */
export async function s3List(
  bucket: string,
  prefix: string,
  source: string,
  options: S3Options,
  signal: AbortSignal,
  limit: number,
): Promise<ListedObject[]> {
  try {
    const { sdk, client } = await clientFor(options);
    const out: ListedObject[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        { abortSignal: signal },
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(prefix) || o.Key.endsWith("/")) continue;
        if (out.length >= limit)
          throw new ModelSourceError(
            "FORESTD_ERR_MODEL_SOURCE_FAILED",
            source,
            `lists more than ${limit} objects; a repository holds at most that many files`,
          );
        out.push({
          path: o.Key.slice(prefix.length),
          etag: o.ETag,
          lastModified: o.LastModified?.toISOString(),
          size: o.Size ?? 0,
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out;
  } catch (error) {
    throw s3Failure(error, signal, source);
  }
}

function validators(o: { ETag?: string; VersionId?: string; LastModified?: Date }): Validators {
  return {
    etag: o.ETag,
    versionId: o.VersionId && o.VersionId !== "null" ? o.VersionId : undefined,
    lastModified: o.LastModified?.toISOString(),
  };
}

/** The SDK's body stream may not watch the abort signal once headers are in: race it. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, cancel: () => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      cancel();
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
