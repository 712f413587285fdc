/**
 * https:// models through Node's fetch (undici): redirects followed, conditional GETs with the
 * ETag / Last-Modified of the version held, and the process's CA store, so NODE_EXTRA_CA_CERTS
 * (read by Node at start) lets a private CA's certificate through.
 */
import { createHash } from "node:crypto";
import type { Download, Probe, SourceDriver } from "./driver.js";
import { ModelSourceError, scrub } from "./errors.js";
import type { Validators } from "./origin.js";

/** TLS failures that mean "this certificate is not trusted", for a hint in the message. */
const UNTRUSTED_CERT = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
]);

export function httpsDriver(url: URL, source: string): SourceDriver {
  // fetch refuses URLs with user:password; send them as Basic auth instead.
  const target = new URL(url);
  const authorization =
    url.username !== ""
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`
      : undefined;
  target.username = "";
  target.password = "";
  const secrets = [url.search.slice(1), url.password, decodeURIComponent(url.password), authorization];

  async function get(since: Validators | undefined, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json, application/octet-stream, */*" };
    if (authorization) headers.authorization = authorization;
    if (since?.etag) headers["if-none-match"] = since.etag;
    else if (since?.lastModified) headers["if-modified-since"] = new Date(since.lastModified).toUTCString();
    let response: Response;
    try {
      response = await fetch(target, { headers, redirect: "follow", signal });
    } catch (error) {
      throw failure(error, signal);
    }
    if (response.status === 200 || response.status === 304) return response;
    await response.body?.cancel().catch(() => undefined);
    const status = `answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
    if (response.status === 404 || response.status === 410)
      throw new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_NOT_FOUND", source, `${status}: no model there`);
    if (response.status === 401 || response.status === 403)
      throw new ModelSourceError(
        "FORESTD_ERR_MODEL_SOURCE_DENIED",
        source,
        `${status}: the server refused access (credentials in the URL, or an expired presigned URL?)`,
      );
    throw new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_FAILED", source, status);
  }

  async function body(response: Response, signal: AbortSignal): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      throw failure(error, signal, "the download was cut short");
    }
    // fetch decodes gzip/br, after which Content-Length no longer describes the body.
    const length = response.headers.get("content-length");
    if (length !== null && !response.headers.get("content-encoding") && Number(length) !== bytes.length)
      throw new ModelSourceError(
        "FORESTD_ERR_MODEL_SOURCE_FAILED",
        source,
        `the download was cut short: ${bytes.length} of ${length} bytes`,
      );
    return bytes;
  }

  function failure(error: unknown, signal: AbortSignal, context = "cannot fetch"): ModelSourceError {
    if (signal.aborted)
      return new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_TIMEOUT", source, "no complete answer in time");
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? "";
    const detail = scrub(cause?.message ?? (error as Error).message, secrets);
    if (UNTRUSTED_CERT.has(code))
      return new ModelSourceError(
        "FORESTD_ERR_MODEL_SOURCE_UNREACHABLE",
        source,
        `TLS certificate not trusted (${detail}); for a private CA set NODE_EXTRA_CA_CERTS to its PEM file`,
      );
    if (
      /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EHOSTUNREACH|ENETUNREACH|UND_ERR_CONNECT|ERR_TLS|CERT_)/.test(
        code,
      )
    )
      return new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_UNREACHABLE", source, `${context}: ${detail}`);
    return new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_FAILED", source, `${context}: ${detail}`);
  }

  return {
    source,
    remote: true,
    async download(since, signal): Promise<Download> {
      const response = await get(since, signal);
      if (response.status === 304) return { modified: false };
      return { modified: true, bytes: await body(response, signal), validators: validators(response) };
    },
    async probe(since, signal): Promise<Probe> {
      const response = await get(since, signal);
      if (response.status === 304) return "not-modified";
      const current = validators(response);
      if (current.etag || current.lastModified) {
        // The version is known from the headers: the body is not needed now.
        await response.body?.cancel().catch(() => undefined);
        return current;
      }
      // A server with no validators: the content itself is the version.
      return {
        sha256: createHash("sha256")
          .update(await body(response, signal))
          .digest("hex"),
      };
    },
  };
}

function validators(response: Response): Validators {
  const etag = response.headers.get("etag") ?? undefined;
  const modified = response.headers.get("last-modified");
  const date = modified ? new Date(modified) : undefined;
  return {
    etag,
    lastModified: date && !Number.isNaN(date.getTime()) ? date.toISOString() : undefined,
  };
}
