/**
 * The binary-data body reader (workers/http/binary-body.ts): the chunks of a body put together so
 * that the first tensor (at Inference-Header-Content-Length) starts 8-byte aligned, a large body in
 * a SharedArrayBuffer, a small one as Fastify reads it; Fastify's limits kept (a Content-Length or a
 * body past the route's limit is FST_ERR_CTP_BODY_TOO_LARGE, a body shorter or longer than its
 * Content-Length FST_ERR_CTP_INVALID_CONTENT_LENGTH).
 */
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import type { FastifyRequest } from "fastify";
import t from "tap";
import {
  alignedBody,
  alignmentPad,
  readAlignedBody,
  SHARED_BODY_BYTES,
} from "../../workers/http/binary-body.js";

/** `total` bytes, a different value at each, cut into chunks of `size`. */
function chunked(total: number, size: number): { chunks: Buffer[]; whole: Buffer } {
  const whole = Buffer.alloc(total);
  for (let i = 0; i < total; i++) whole[i] = (i * 31 + 7) & 0xff;
  const chunks: Buffer[] = [];
  for (let at = 0; at < total; at += size) chunks.push(Buffer.from(whole.subarray(at, at + size)));
  return { chunks, whole };
}

t.test("the first tensor starts 8-byte aligned, whatever the header's length", async (t) => {
  const total = SHARED_BODY_BYTES + 1000;
  const { chunks, whole } = chunked(total, 7000);
  for (let header = 0; header < 24; header++) {
    const body = alignedBody(chunks, total, String(header));
    t.ok(body.buffer instanceof SharedArrayBuffer, `header ${header}: in shared memory`);
    t.equal((body.byteOffset + header) % 8, 0, `header ${header}: the tensor's byte is aligned`);
    t.equal(body.length, total);
    t.ok(body.equals(whole), `header ${header}: the same bytes`);
  }
});

t.test("a small body is read as Fastify reads it; a malformed header length gets no pad", async (t) => {
  const { chunks, whole } = chunked(1000, 300);
  const body = alignedBody(chunks, 1000, "149");
  t.notOk(body.buffer instanceof SharedArrayBuffer, "not in shared memory");
  t.ok(body.equals(whole));
  for (const bad of [undefined, ["8", "9"], "x", "-3", "1.5"])
    t.equal(alignmentPad(bad), 0, `${String(bad)}`);
  t.equal(alignmentPad("149"), 3);
  t.equal(alignmentPad("8"), 0);
});

/** Reads `chunks` as a request with these headers and body limit; resolves with the body or the error. */
function read(
  chunks: Buffer[],
  headers: Record<string, string>,
  bodyLimit: number,
): Promise<{ body?: Buffer; error?: Error & { code?: string } }> {
  const request = { headers, routeOptions: { bodyLimit } } as unknown as FastifyRequest;
  const payload = Readable.from(chunks) as unknown as IncomingMessage;
  return new Promise((resolve) =>
    readAlignedBody(request, payload, (error, body) => resolve(error ? { error } : { body })),
  );
}

t.test("read from the request stream, under Fastify's limits", async (t) => {
  const total = SHARED_BODY_BYTES * 2 + 5;
  const { chunks, whole } = chunked(total, 16384);
  const header = "inference-header-content-length";
  const ok = await read(chunks, { "content-length": String(total), [header]: "149" }, total);
  t.ok(ok.body?.equals(whole), "the body");
  t.equal(((ok.body?.byteOffset ?? 1) + 149) % 8, 0, "aligned");
  t.ok(ok.body?.buffer instanceof SharedArrayBuffer);
  const declared = await read(chunks, { "content-length": String(total), [header]: "149" }, total - 1);
  t.equal(declared.error?.code, "FST_ERR_CTP_BODY_TOO_LARGE", "a Content-Length past the limit");
  const grown = await read(chunks, { [header]: "149" }, total - 1);
  t.equal(grown.error?.code, "FST_ERR_CTP_BODY_TOO_LARGE", "no Content-Length, a body past the limit");
  const short = await read(chunks, { "content-length": String(total + 1), [header]: "149" }, total * 2);
  t.equal(short.error?.code, "FST_ERR_CTP_INVALID_CONTENT_LENGTH", "a body shorter than its Content-Length");
  const chunkedBody = await read(chunks, { [header]: "149" }, total);
  t.ok(chunkedBody.body?.equals(whole), "no Content-Length (chunked): read to its end");
});
