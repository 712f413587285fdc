/**
 * OpenTelemetry tracing of a worker, imported only when config/tracing.ts says tracing is on.
 *
 * Three spans per request scored on a thread:
 * - `request` (SERVER), from @fastify/otel, continuing the caller's W3C traceparent; its handler
 *   span is its child;
 * - `forestd.queue_wait`, a child of the handler span: from the moment the request's rows were
 *   queued until the last of them left for a scoring thread;
 * - `forestd.score`, the scoring task: from leaving for a thread until its result came back, with
 *   the thread's own scoring time as an attribute. A task holds rows of many requests, so it has
 *   one span link per request in it (and the first sampled request as its parent, so that it shows
 *   in at least one request's trace); each request's queue_wait span links back to it.
 * Both forestd spans are made when the task leaves, from timings the batcher keeps (start times in
 * the past): nothing is held open while rows wait, and nothing crosses to the thread.
 * A request small enough to be scored on the worker's own loop (INLINE_SCORING_MAX_US) waits in no
 * queue and shares no task: its `forestd.score` span is the handler span's child, with
 * `forestd.inline` true (made by workers/scoring.ts through InlineTracer).
 *
 * Exporter, endpoint, headers, sampler and batching come from the standard OTEL_* variables, read
 * by the SDK itself.
 */
import FastifyOtel from "@fastify/otel";
import {
  type Context,
  type Link,
  context as otelContext,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from "@opentelemetry/api";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-node";
import type { FastifyPluginCallback, FastifyRequest } from "fastify";
import type { TracingConfig } from "../../config/tracing.js";
import type { InlineTracer } from "../http/scoring.js";
import type { BatchTracer, TracedPart } from "../scoring/batcher.js";

/** The metadata of a gRPC call, as far as tracing reads it (@grpc/grpc-js's Metadata). */
export interface CallMetadata {
  get(key: string): unknown[];
  getMap(): Record<string, unknown>;
}

/** A gRPC call's SERVER span, opened as the call arrives (workers/grpc/service.ts). */
export interface GrpcSpan {
  /** The trace id when sampled, for the access line. */
  readonly traceId: string | undefined;
  /** Runs the call's handler with its span active, so the batcher's spans are its children. */
  run<T>(handler: () => Promise<T>): Promise<T>;
  model(model: { name: string; version: string }): void;
  /** Ends the span with the call's gRPC status code. */
  end(code: number, message?: string): void;
}

export interface GrpcTracer {
  start(path: string, metadata: CallMetadata, requestId: string): GrpcSpan;
}

export interface Tracing {
  /** gRPC calls' spans (their parent from a `traceparent` in the call's metadata). */
  grpcTracer: GrpcTracer;
  /** @fastify/otel's plugin: register before any route or hook. */
  plugin: FastifyPluginCallback;
  /** The request's trace id when its trace is sampled (spans of unsampled traces go nowhere). */
  traceId(request: FastifyRequest): string | undefined;
  batchTracer: BatchTracer;
  inlineTracer: InlineTracer;
  /** Marks the request's span with the model version it was for (forestd.model, forestd.model_version). */
  tagModel(request: FastifyRequest, model: { name: string; version: string }): void;
  /** Flushes the spans not yet exported. */
  shutdown(): Promise<void>;
}

const TRACER = "forestd";
/**
 * The batcher keeps performance.now() times; spans want epoch times. The SDK places the spans it
 * times itself by the wall clock at their start (Date.now()) plus monotonic time since, so a task's
 * times are placed the same way, with one wall-clock reading per task: the queue waits and the task
 * then meet exactly, and agree with the SDK's own spans to within its millisecond of Date.now().
 */
function clockOf(): (t: number) => number {
  const offset = Date.now() - performance.now();
  return (t) => offset + t;
}

function exporterFor(config: TracingConfig): SpanExporter {
  if (config.exporter === "console") return new ConsoleSpanExporter();
  return config.protocol === "http/json" ? new JsonExporter() : new ProtobufExporter();
}

function isSampled(ctx: Context): boolean {
  const span = trace.getSpanContext(ctx);
  return span !== undefined && (span.traceFlags & TraceFlags.SAMPLED) !== 0;
}

export function startTracing(config: TracingConfig, service: { version: string; worker: number }): Tracing {
  // Defaults first, then what OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES say, which win.
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        "service.name": "forestd",
        "service.version": service.version,
        "process.pid": process.pid,
        "forestd.worker": service.worker,
      }),
    )
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(exporterFor(config))],
  });
  // The AsyncLocalStorage context manager and the W3C traceparent/baggage propagators.
  provider.register();

  const instrumentation = new FastifyOtel.FastifyOtelInstrumentation({
    // The request span and its handler span; a span per hook would triple the spans for nothing.
    instrumentHooks: false,
    requestHook: (span, request) => {
      span.setAttribute("forestd.request_id", request.id);
    },
  });
  instrumentation.setTracerProvider(provider);
  const tracer = provider.getTracer(TRACER, service.version);

  const batchTracer: BatchTracer = {
    capture: () => otelContext.active(),
    dispatched(parts, at, work, model) {
      const epoch = clockOf();
      const rows = parts.reduce((n, p) => n + p.rows, 0);
      const links: Link[] = [];
      for (const p of parts) {
        const spanContext = trace.getSpanContext(p.trace as Context);
        if (spanContext) links.push({ context: spanContext, attributes: { "forestd.rows": p.rows } });
      }
      const attributes: Record<string, number | string> = {
        "forestd.batch.rows": rows,
        "forestd.batch.requests": parts.length,
        "forestd.task": work,
      };
      if (model) {
        attributes["forestd.model"] = model.name;
        attributes["forestd.model_version"] = model.version;
      }
      // Under a parent-based sampler the task is kept if its parent is: pick a sampled one.
      const parent = parts.find((p) => isSampled(p.trace as Context)) ?? parts[0];
      const task = tracer.startSpan(
        "forestd.score",
        { startTime: epoch(at), links, attributes },
        parent.trace as Context,
      );
      for (const p of parts) if (p.leftQueue) endQueueWait(p, epoch, at, task, attributes);
      return (seconds, error) => {
        if (seconds !== null) task.setAttribute("forestd.scoring.seconds", seconds);
        if (error !== undefined) {
          task.recordException(error as Error);
          task.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        }
        task.end(epoch(performance.now()));
      };
    },
  };

  function endQueueWait(
    part: TracedPart,
    epoch: (t: number) => number,
    at: number,
    task: Span,
    batch: Record<string, number | string>,
  ): void {
    tracer
      .startSpan(
        "forestd.queue_wait",
        {
          startTime: epoch(part.enqueuedAt),
          links: [{ context: task.spanContext() }],
          attributes: batch,
        },
        part.trace as Context,
      )
      .end(epoch(at));
  }

  const inlineTracer: InlineTracer = {
    inlineScored(rows, startedAt, endedAt, model) {
      const epoch = clockOf();
      tracer
        .startSpan(
          "forestd.score",
          {
            startTime: epoch(startedAt),
            attributes: {
              "forestd.batch.rows": rows,
              "forestd.batch.requests": 1,
              "forestd.inline": true,
              ...(model ? { "forestd.model": model.name, "forestd.model_version": model.version } : {}),
            },
          },
          otelContext.active(),
        )
        .end(epoch(endedAt));
    },
  };

  // A call's metadata as a propagation carrier: the W3C traceparent and baggage keys.
  const metadataGetter = {
    get: (carrier: CallMetadata, key: string) => {
      const v = carrier.get(key)[0];
      return typeof v === "string" ? v : undefined;
    },
    keys: (carrier: CallMetadata) => Object.keys(carrier.getMap()),
  };
  const grpcTracer: GrpcTracer = {
    start(path, metadata, requestId) {
      const parent = propagation.extract(ROOT_CONTEXT, metadata, metadataGetter);
      const [, service = "", method = ""] = path.split("/");
      // OpenTelemetry's RPC conventions: the span is named service/method, kind SERVER.
      const span = tracer.startSpan(
        `${service}/${method}`,
        {
          kind: SpanKind.SERVER,
          attributes: {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": method,
            "forestd.request_id": requestId,
          },
        },
        parent,
      );
      const ctx = trace.setSpan(parent, span);
      return {
        traceId: isSampled(ctx) ? span.spanContext().traceId : undefined,
        run: (handler) => otelContext.with(ctx, handler),
        model(model) {
          span.setAttribute("forestd.model", model.name);
          span.setAttribute("forestd.model_version", model.version);
        },
        end(code, message) {
          span.setAttribute("rpc.grpc.status_code", code);
          if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message });
          span.end();
        },
      };
    },
  };

  return {
    plugin: instrumentation.plugin() as FastifyPluginCallback,
    grpcTracer,
    batchTracer,
    inlineTracer,
    tagModel(request, model) {
      const span = request.opentelemetry().span;
      span?.setAttribute("forestd.model", model.name);
      span?.setAttribute("forestd.model_version", model.version);
    },
    traceId(request) {
      const ctx = request.opentelemetry().context;
      return ctx && isSampled(ctx) ? trace.getSpanContext(ctx)?.traceId : undefined;
    },
    shutdown: () => provider.shutdown(),
  };
}
