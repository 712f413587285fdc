/**
 * Reads a binary-data request body (application/octet-stream: a JSON header of
 * `Inference-Header-Content-Length` bytes, then raw tensors; binary-data.ts) so that its rows can be
 * scored where they lie. Fastify's own reader concatenates the body's chunks into a fresh Buffer
 * wherever it lands: the tensor after a 149-byte header then starts at an odd offset, no
 * Float32Array can view it, and its rows were copied once to align them and again into each task
 * a large request is cut into (MAX_BATCH_ROWS). Here the chunks are put together once, as Fastify
 * would, but after a few bytes of padding chosen so the first tensor starts 8-byte aligned, and a
 * large body goes into a SharedArrayBuffer, so that the scoring thread reads a task's rows from it
 * directly, whole or cut (batcher.ts), with no copy and nothing to transfer.
 *
 * Limits as Fastify's reader has them: a Content-Length past the route's body limit is refused
 * before anything is read, and so is a body that grows past it (413), and a body whose length is
 * not its Content-Length is a 400 — with Fastify's own errors, so they are answered as before.
 */
import type { IncomingMessage } from "node:http";
import { errorCodes, type FastifyRequest } from "fastify";
import { HEADER_LENGTH } from "./binary-data.js";

/**
 * Bodies at least this long go into shared memory. A SharedArrayBuffer costs more to make than
 * a Buffer from Node's pool (which small bodies come from), and a small request's rows are a
 * small copy: what it saves is the copies of a request cut into tasks.
 */
export const SHARED_BODY_BYTES = 32 * 1024;

/** The bytes to leave before the body so that the byte at `headerLength` is 8-byte aligned (0–7). */
export function alignmentPad(headerLength: string | string[] | undefined): number {
  if (typeof headerLength !== "string") return 0;
  const length = Number(headerLength);
  // A malformed header is refused by parseBinaryBody once the body is read: no pad then.
  return Number.isSafeInteger(length) && length >= 0 ? (8 - (length % 8)) % 8 : 0;
}

/**
 * `chunks` (`total` bytes) as one Buffer whose byte `headerLength` is 8-byte aligned in its
 * memory; from SHARED_BODY_BYTES on, in a SharedArrayBuffer of its own.
 */
export function alignedBody(
  chunks: readonly Buffer[],
  total: number,
  headerLength: string | string[] | undefined,
): Buffer {
  // A small body as Fastify reads it: if its tensor is not aligned, its rows are copied once
  // when read (binary-data.ts), a small copy.
  if (total < SHARED_BODY_BYTES) return Buffer.concat(chunks, total);
  const pad = alignmentPad(headerLength);
  const body = Buffer.from(new SharedArrayBuffer(pad + total), pad, total);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.length;
  }
  return body;
}

/**
 * A Fastify content-type parser body reader (addContentTypeParser without parseAs): reads
 * `payload` to its end under the route's body limit and calls `done` with alignedBody's Buffer.
 */
export function readAlignedBody(
  request: FastifyRequest,
  payload: IncomingMessage,
  done: (error: Error | null, body?: Buffer) => void,
): void {
  const limit = request.routeOptions.bodyLimit ?? Number.POSITIVE_INFINITY;
  const contentLength = Number(request.headers["content-length"]);
  if (contentLength > limit) {
    done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    return;
  }
  const chunks: Buffer[] = [];
  let received = 0;
  const finish = (error?: Error | null) => {
    payload.removeListener("data", onData);
    payload.removeListener("end", finish);
    payload.removeListener("error", finish);
    if (error) {
      // As Fastify's reader: a failed read (the client went away mid-body) is the client's error.
      if (!(typeof (error as { statusCode?: unknown }).statusCode === "number"))
        Object.assign(error, { statusCode: 400 });
      return done(error);
    }
    if (!Number.isNaN(contentLength) && received !== contentLength)
      return done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    done(null, alignedBody(chunks, received, request.headers[HEADER_LENGTH]));
  };
  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    received += bytes.length;
    if (received > limit) {
      payload.removeListener("data", onData);
      payload.removeListener("end", finish);
      payload.removeListener("error", finish);
      return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    }
    chunks.push(bytes);
  };
  payload.on("data", onData);
  payload.on("end", finish);
  payload.on("error", finish);
  payload.resume();
}
