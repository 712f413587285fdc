/**
 * The cheapest possible "no": when the scoring queue already holds more than MAX_QUEUE_WAIT of
 * work, scoring requests are answered 503 by the raw Node request listener, before Fastify
 * routes them and before their bodies are read or parsed. Under overload most requests are
 * turned away, so each rejection must cost a small fraction of an accepted request or the
 * rejections themselves starve the scoring threads of CPU.
 *
 * A request sent with `Expect: 100-continue` reaches the gate before its body is even sent: turned
 * away, it is answered 503 with `Connection: close` (the client never sends the body, so the
 * connection cannot carry another request); let through, it gets its 100 Continue then.
 *
 * Shed requests are counted (forestd_rejected_total{reason="overload"} and forestd_http_requests_total)
 * but not access-logged: a log line each would cost more than the answer.
 */
import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";
import { errorBody, errorHeaders, httpErrorSpec, OverloadedError } from "./errors.js";
import type { WorkerMetrics } from "./metrics.js";

/** Routes a shed request is counted under; anything else goes on to Fastify (and its 404). */
function scoringRoute(url: string): string | null {
  const path = url.split("?", 1)[0];
  if (path === "/predict") return "/predict";
  if (/^\/v2\/models\/[^/]+\/infer$/.test(path)) return "/v2/models/:name/infer";
  return null;
}

/** The answer, built once from workers/errors.ts: the gate's whole point is to be cheap. */
function answer(oip: boolean): { body: string; headers: Record<string, string>; reason: string } {
  const error = new OverloadedError("the scoring queue is full (MAX_QUEUE_WAIT); try again shortly");
  const body = JSON.stringify(errorBody(error, 503, oip));
  const reason = httpErrorSpec(error.code)?.rejected as string;
  const headers = {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(body)),
    ...errorHeaders(503),
  };
  return { body, headers, reason };
}
const PREDICT = answer(false);
const OIP = answer(true);

/** Marks a request that is waiting for 100 Continue before it sends its body. */
const EXPECTS_CONTINUE = Symbol("forestd.expectsContinue");

/**
 * Node answers `Expect: 100-continue` itself unless the server listens for checkContinue: route
 * such requests to the (gated) request listener instead, which decides.
 */
export function gateContinue(server: Server): void {
  server.on("checkContinue", (request: IncomingMessage, response: ServerResponse) => {
    (request as IncomingMessage & { [EXPECTS_CONTINUE]?: true })[EXPECTS_CONTINUE] = true;
    server.emit("request", request, response);
  });
}

export function shedGate(
  admitting: () => boolean,
  metrics: WorkerMetrics,
): (handler: RequestListener) => RequestListener {
  return (handler) => (request: IncomingMessage, response: ServerResponse) => {
    const route = request.method === "POST" && !admitting() ? scoringRoute(request.url ?? "") : null;
    const expectsContinue = (request as IncomingMessage & { [EXPECTS_CONTINUE]?: true })[EXPECTS_CONTINUE];
    if (route === null) {
      if (expectsContinue) response.writeContinue();
      handler(request, response);
      return;
    }
    const { body, headers, reason } = route === "/predict" ? PREDICT : OIP;
    metrics.rejected.inc({ reason });
    metrics.requests.inc({ method: "POST", route, status: "503" });
    response.writeHead(503, expectsContinue ? { ...headers, connection: "close" } : headers);
    response.end(body);
  };
}
