/**
 * One access-log line per request (JSON, in the worker's pino stream): request id, method, path,
 * status, duration, rows, the model and version it was for, client address (X-Forwarded-For when
 * the peer is a trusted proxy), trace id when tracing; and the request metrics (by route, and by
 * model for scoring requests).
 *
 * The line is written by hand, not through `logger.info({...})`: at tens of thousands of requests
 * a second per worker, pino's generic object serialisation cost ~5 µs a line, about a fifth of a
 * single-row request. The line has exactly the fields, order and format pino would write (level
 * and time as the logger's LOG_FORMAT writes them, then its bindings), and goes to the same stream,
 * so it stays in order with every other log line and is flushed with them.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import pino, { type Logger } from "pino";
import type { WorkerMetrics } from "../process/metrics.js";

export function installAccessLog(
  app: FastifyInstance,
  logger: Logger,
  metrics: WorkerMetrics,
  enabled: boolean,
  /** With tracing on: the line also gets the trace id, so a log search leads to the trace. */
  traceId?: (request: FastifyRequest) => string | undefined,
): void {
  const write = enabled && logger.isLevelEnabled("info") ? accessLineWriter(logger) : null;
  app.addHook("onResponse", (request, reply, done) => {
    const seconds = reply.elapsedTime / 1000;
    const route = request.routeOptions.url ?? "unmatched";
    const labels = { method: request.method, route, status: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.requestDuration.observe(labels, seconds);
    // The model version the request was for (resolved before its body was read), and its series.
    const model = request.forestdModel;
    if (model !== null) {
      model.active--;
      model.modelMetrics.answered(reply.statusCode, seconds);
    }
    if (write) {
      const path = request.url.length > 512 ? `${request.url.slice(0, 512)}…` : request.url;
      write(
        `,"request_id":${jsonString(request.id)},"method":${jsonString(request.method)},"path":${jsonString(path)},"status":${reply.statusCode},"duration_ms":${Math.round(reply.elapsedTime * 1000) / 1000},"rows":${request.forestdRows}${modelFields(model?.served)},"client":${jsonString(request.ip)}${traceField(traceId?.(request))}}\n`,
      );
    }
    done();
  });
}

/** One gRPC call, as its access line says it. */
export interface GrpcAccess {
  requestId: string;
  /** The call's full method name: /inference.GRPCInferenceService/ModelInfer. */
  path: string;
  /** The HTTP status the same answer would have (200, 400, 503...): one scale for every log search. */
  status: number;
  /** The gRPC status code's name (OK, INVALID_ARGUMENT, ...). */
  grpcStatus: string;
  durationMs: number;
  rows: number;
  model?: { name: string; version: string };
  client: string;
  /** The pid of the worker the call was forwarded to (workers/grpc/forwarding.ts), when it was. */
  forwardedTo?: number;
  /** With tracing on, when the call's trace is sampled. */
  traceId?: string;
}

/**
 * The access log of gRPC calls (workers/grpc/service.ts): the same line as an HTTP request's, in
 * the same stream, with method "GRPC", the call's method as path, and its gRPC status beside.
 */
export function grpcAccessLog(logger: Logger, enabled: boolean): ((access: GrpcAccess) => void) | null {
  const write = enabled && logger.isLevelEnabled("info") ? accessLineWriter(logger) : null;
  if (write === null) return null;
  return (a) =>
    write(
      `,"request_id":${jsonString(a.requestId)},"method":"GRPC","path":${jsonString(a.path)},"status":${a.status},"grpc_status":${jsonString(a.grpcStatus)},"duration_ms":${Math.round(a.durationMs * 1000) / 1000},"rows":${a.rows}${modelFields(a.model)},"client":${jsonString(a.client)}${a.forwardedTo === undefined ? "" : `,"forwarded_to":${a.forwardedTo}`}${traceField(a.traceId)}}\n`,
    );
}

/**
 * A writer of access lines into `logger`'s stream: each call gets the fields after the logger's
 * bindings (starting with a comma, ending with the closing brace and newline) and writes the whole
 * line, with level and time written by the logger's own formatters, so LOG_FORMAT applies.
 */
function accessLineWriter(logger: Logger): (fields: string) => void {
  const access = logger.child({ log: "access" });
  // pino's documented symbols for a logger's parts (pino.symbols): its bindings as JSON text, its
  // formatters, its stream and its time function.
  const part = <T>(symbol: symbol) => (access as unknown as Record<symbol, T>)[symbol];
  const formatters = part<{ level(label: string, number: number): object }>(pino.symbols.formattersSym);
  const level = JSON.stringify(formatters.level("info", access.levels.values.info)).slice(0, -1);
  const bindings = part<string>(pino.symbols.chindingsSym);
  const stream = part<{ write(line: string): unknown }>(pino.symbols.streamSym);
  const time = part<() => string>(pino.symbols.timeSym);
  return (fields) => stream.write(`${level}${time()}${bindings}${fields}`);
}

/** Printable ASCII but `"` and `\`: written as is; anything else is left to JSON.stringify. */
const PLAIN = /^[ !#-[\]-~]*$/;

function jsonString(text: string): string {
  return PLAIN.test(text) ? `"${text}"` : JSON.stringify(text);
}

/** `,"model":"churn","model_version":"3"` for a request that named a model version; nothing otherwise. */
function modelFields(served: { name: string; version: string } | undefined): string {
  return served === undefined
    ? ""
    : `,"model":${jsonString(served.name)},"model_version":${jsonString(served.version)}`;
}

function traceField(id: string | undefined): string {
  return id === undefined ? "" : `,"trace_id":${jsonString(id)}`;
}
