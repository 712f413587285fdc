/**
 * Request ids (X-Request-Id). A caller's id is kept when it is short and plain, so it can go
 * verbatim into a header, a JSON body and a log line with no escaping; anything else (absent, too
 * long, other characters, repeated headers) is replaced by a fresh UUID rather than rejected, so a
 * request is never refused for its id.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const REQUEST_ID_HEADER = "x-request-id";
export const MAX_REQUEST_ID_LENGTH = 128;
/** Letters, digits and `-._~:@+=/`: UUIDs, ULIDs, base64 and proxies' ids (Nginx's $request_id, AWS's). */
const PLAIN = /^[A-Za-z0-9\-._~:@+=/]{1,128}$/;

/** The caller's id when it is acceptable, else a new one. */
export function requestId(header: string | string[] | undefined): string {
  return typeof header === "string" && PLAIN.test(header) ? header : randomUUID();
}

/** Fastify's genReqId: the id of a raw request, from its X-Request-Id header. */
export function genReqId(request: IncomingMessage): string {
  return requestId(request.headers[REQUEST_ID_HEADER]);
}
