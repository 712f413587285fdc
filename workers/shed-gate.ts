/**
 * The cheapest possible "no": when the scoring queue already holds more than MAX_QUEUE_WAIT of
 * work, scoring requests are answered 503 by the raw Node request listener, before Fastify
 * routes them and before their bodies are read or parsed. Under overload most requests are
 * turned away, so each rejection must cost a small fraction of an accepted request or the
 * rejections themselves starve the scoring threads of CPU.
 *
 * Shed requests are counted (forestd_rejected_total{reason="overload"} and forestd_http_requests_total)
 * but not access-logged: a log line each would cost more than the answer.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { WorkerMetrics } from "./metrics.js";
import { REQUEST_ID_HEADER, requestId } from "./request-id.js";

/** Routes a shed request is counted under; anything else goes on to Fastify (and its 404). */
function scoringRoute(url: string): string | null {
  const path = url.split("?", 1)[0];
  if (path === "/predict") return "/predict";
  if (/^\/v2\/models\/[^/]+\/infer$/.test(path)) return "/v2/models/:name/infer";
  return null;
}

// The body is fixed but for its request id, which request-id.ts keeps to characters that need no
// JSON escaping and are one byte each: two string concatenations, no JSON.stringify per rejection.
const BODY_HEAD = JSON.stringify({
  statusCode: 503,
  code: "FORESTD_ERR_OVERLOADED",
  error: "Service Unavailable",
  message: "the scoring queue is full (MAX_QUEUE_WAIT); try again shortly",
}).slice(0, -1);

export function shedGate(
  admitting: () => boolean,
  metrics: WorkerMetrics,
): (handler: RequestListener) => RequestListener {
  return (handler) => (request: IncomingMessage, response: ServerResponse) => {
    const route = request.method === "POST" && !admitting() ? scoringRoute(request.url ?? "") : null;
    if (route === null) {
      handler(request, response);
      return;
    }
    metrics.rejected.inc({ reason: "overload" });
    metrics.requests.inc({ method: "POST", route, status: "503" });
    const id = requestId(request.headers[REQUEST_ID_HEADER]);
    const body = `${BODY_HEAD},"requestId":"${id}"}`;
    response.writeHead(503, {
      "content-type": "application/json; charset=utf-8",
      "content-length": String(body.length),
      "retry-after": "1",
      [REQUEST_ID_HEADER]: id,
    });
    response.end(body);
  };
}
