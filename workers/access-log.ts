/**
 * One access-log line per request (pino JSON): request id, method, path, status, duration, rows,
 * client address (X-Forwarded-For when the peer is a trusted proxy), trace id when tracing; and the
 * request metrics.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { WorkerMetrics } from "./metrics.js";

export function installAccessLog(
  app: FastifyInstance,
  logger: Logger,
  metrics: WorkerMetrics,
  enabled: boolean,
  /** With tracing on: the line also gets the trace id, so a log search leads to the trace. */
  traceId?: (request: FastifyRequest) => string | undefined,
): void {
  const access = logger.child({ log: "access" });
  app.addHook("onResponse", (request, reply, done) => {
    const seconds = reply.elapsedTime / 1000;
    const route = request.routeOptions.url ?? "unmatched";
    const labels = { method: request.method, route, status: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.requestDuration.observe(labels, seconds);
    if (enabled) {
      access.info({
        request_id: request.id,
        method: request.method,
        path: request.url.length > 512 ? `${request.url.slice(0, 512)}…` : request.url,
        status: reply.statusCode,
        duration_ms: Math.round(reply.elapsedTime * 1000) / 1000,
        rows: request.forestdRows,
        client: request.ip,
        ...(traceId ? { trace_id: traceId(request) } : {}),
      });
    }
    done();
  });
}
