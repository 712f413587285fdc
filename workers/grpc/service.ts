/**
 * The Open Inference Protocol's gRPC service (inference.GRPCInferenceService) and grpc.health.v1,
 * on the worker's own model table: a ModelInfer call takes the path an HTTP infer request takes —
 * the model version resolved by name (404 → NOT_FOUND, not loaded → UNAVAILABLE), admission (the
 * model's queue, MAX_QUEUE_WAIT, and the worker's event-loop pressure: RESOURCE_EXHAUSTED with a
 * retry hint where HTTP answers 503), its rows read exactly (binary-data.ts, tensors.ts), scored
 * through the model's batcher with the call's deadline as the request's (never past
 * REQUEST_DEADLINE), the same counters and histograms (method "GRPC", route the RPC's name) and
 * an access line. The request id is the `x-request-id` metadata (kept when plain, else a fresh
 * one), sent back in the answer's metadata and named in its log line.
 */
import {
  Metadata as GrpcMetadata,
  type Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import { grpcAccessLog } from "../http/access-log.js";
import { readRawInputs } from "../http/binary-data.js";
import {
  DeadlineError,
  httpErrorSpec,
  ModelNotReadyError,
  NotReadyError,
  OverloadedError,
} from "../http/errors.js";
import { resolveModel } from "../http/model-route.js";
import { requestId } from "../http/request-id.js";
import { inferOutputs, metadata } from "../http/routes/oip.js";
import { deadlineMs } from "../http/scoring.js";
import type { WorkerMetrics } from "../process/metrics.js";
import type { ModelEntry, ModelTable } from "../scoring/model-table.js";
import type { GrpcSpan, GrpcTracer } from "../tracing/otel.js";
import { type PeerForwarder, WORKER_KEY } from "./forwarding.js";
import { OIP_SERVICE, RAW_MESSAGE } from "./protos.js";
import { toGrpcError } from "./status.js";
import {
  answersRaw,
  inferResponse,
  type ModelInferRequest,
  type ModelInferResponse,
  plainParameters,
  requestInputs,
} from "./tensors.js";

export interface GrpcDeps {
  table: ModelTable;
  /** Forwards large calls to another worker while this one's threads are all busy (forwarding.ts). */
  forwarder?: PeerForwarder;
  /** GRPC_FORWARD_ROWS: calls of fewer rows are never forwarded. */
  forwardRows?: number;
  /** THREADS: scoring threads of this worker (all busy: a large call is worth forwarding). */
  threads?: number;
  metrics: WorkerMetrics;
  logger: Logger;
  accessLog: boolean;
  version: string;
  /** The worker serves (not draining), as /v2/health/ready says. */
  isReady(): boolean;
  /** With tracing on: a SERVER span per call, the batcher's spans under it. */
  tracer?: GrpcTracer;
  /** The event loop is under pressure (@fastify/under-pressure's verdict): scoring is shed. */
  underPressure(): boolean;
}

const STATUS_NAMES = Object.fromEntries(
  Object.entries(status)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [v as number, k]),
) as Record<number, string>;

/** The answer to a call: a value or an error, and what its metrics and access line say. */
interface CallRecord {
  path: string;
  started: number;
  id: string;
  rows: number;
  entry: ModelEntry | null;
  /** Forwarded here by another worker, which counts and logs it. */
  forwarded: boolean;
  /** The worker this call was forwarded to, when it was. */
  forwardedTo: number;
  span?: GrpcSpan;
}

/** A forwarded call's error, relayed as the other worker answered it. */
class PeerError extends Error {
  constructor(readonly error: ServiceError) {
    super(error.details);
  }
}

export function oipImplementation(deps: GrpcDeps): UntypedServiceImplementation {
  const { table, metrics } = deps;
  const access = grpcAccessLog(deps.logger, deps.accessLog);

  /** Runs a unary handler with the request id, error mapping, metrics and the access line. */
  const unary =
    <Req, Res>(
      name: string,
      handler: (request: Req, call: ServerUnaryCall<Req, Res>, record: CallRecord) => Promise<Res>,
    ) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      const record: CallRecord = {
        path: `/${OIP_SERVICE}/${name}`,
        started: performance.now(),
        id: requestId(firstValue(call.metadata, "x-request-id")),
        rows: 0,
        entry: null,
        forwarded: deps.forwarder?.isForwarded(call.metadata) ?? false,
        forwardedTo: 0,
      };
      const answerMetadata = new GrpcMetadata();
      answerMetadata.set("x-request-id", record.id);
      if (record.forwarded) answerMetadata.set(WORKER_KEY, String(process.pid));
      call.sendMetadata(answerMetadata);
      record.span = deps.tracer?.start(record.path, call.metadata, record.id);
      const run = () => handler(call.request, call, record);
      (record.span ? record.span.run(run) : run()).then(
        (value) => {
          finish(record, call, 200, status.OK);
          record.span?.end(status.OK);
          callback(null, value);
        },
        (error: unknown) => {
          if (error instanceof PeerError) {
            const code = error.error.metadata.get("forestd-code")[0];
            finish(record, call, httpErrorSpec(code)?.status ?? 500, error.error.code);
            callback({
              code: error.error.code,
              details: error.error.details,
              metadata: error.error.metadata,
            });
            return;
          }
          const e = toGrpcError(error, record.id);
          // A forwarded call this worker turns away is served by the one that forwarded it: not a rejection.
          if (e.rejected && !record.forwarded) metrics.rejected.inc({ reason: e.rejected });
          if (e.httpStatus === 500)
            deps.logger.error({ err: error, request_id: record.id }, "gRPC call failed");
          finish(record, call, e.httpStatus, e.code);
          record.span?.end(e.code, e.details);
          callback({ code: e.code, details: e.details, metadata: e.metadata });
        },
      );
    };

  const finish = (
    record: CallRecord,
    call: ServerUnaryCall<unknown, unknown>,
    httpStatus: number,
    code: status,
  ) => {
    const ms = performance.now() - record.started;
    const entry = record.entry;
    if (record.forwarded) {
      // The forwarding worker counts and logs it; this one only scored it (rows, classes).
      if (entry !== null) entry.active--;
      return;
    }
    const labels = { method: "GRPC", route: record.path, status: String(httpStatus) };
    metrics.requests.inc(labels);
    metrics.requestDuration.observe(labels, ms / 1000);
    if (entry !== null) {
      entry.active--;
      entry.modelMetrics.answered(httpStatus, ms / 1000);
    }
    access?.({
      requestId: record.id,
      path: record.path,
      status: httpStatus,
      grpcStatus: STATUS_NAMES[code] ?? String(code),
      durationMs: ms,
      rows: record.rows,
      model: entry?.served,
      client: call.getPeer(),
      forwardedTo: record.forwardedTo || undefined,
      traceId: record.span?.traceId,
    });
  };

  /** The model version a call names (an empty name: the default model; an empty version: its default). */
  const resolve = (record: CallRecord, name: string, version: string): ModelEntry => {
    const entry = resolveModel(table, name === "" ? undefined : name, version === "" ? undefined : version);
    // Held until the call is answered, as an HTTP request holds it (a replaced version finishes it).
    entry.active++;
    record.entry = entry;
    record.span?.model(entry.served);
    return entry;
  };

  const ready = () => {
    if (!deps.isReady()) throw new NotReadyError("not ready");
  };

  return {
    ServerLive: unary("ServerLive", async () => ({ live: true })),
    ServerReady: unary("ServerReady", async () => ({ ready: deps.isReady() })),
    ModelReady: unary<{ name: string; version: string }, { ready: boolean }>(
      "ModelReady",
      async (request, _call, record) => {
        try {
          resolve(record, request.name, request.version);
        } catch (error) {
          // A model that is known but not loaded is not ready; an unknown one is NOT_FOUND.
          if (error instanceof ModelNotReadyError) return { ready: false };
          throw error;
        }
        return { ready: deps.isReady() };
      },
    ),
    ServerMetadata: unary("ServerMetadata", async () => ({
      name: "forestd",
      version: deps.version,
      extensions: [],
    })),
    ModelMetadata: unary<{ name: string; version: string }, unknown>(
      "ModelMetadata",
      async (request, _call, record) => {
        const m = metadata(table, resolve(record, request.name, request.version));
        return {
          ...m,
          inputs: m.inputs.map((i) => ({ ...i, shape: i.shape.map(String) })),
          outputs: m.outputs.map((o) => ({ ...o, shape: o.shape.map(String) })),
        };
      },
    ),
    ModelInfer: unary<ModelInferRequest, ModelInferResponse>("ModelInfer", async (request, call, record) => {
      ready();
      const entry = resolve(record, request.model_name, request.model_version);
      const { served } = entry;
      // This worker's threads all busy, or rows already waiting for every idle one (calls that
      // arrived in one turn: a whole HTTP/2 window of them is read before the first is handed to a
      // thread), with a large call waiting: another worker may score it.
      const forwarder = deps.forwarder;
      const declaredRows = Number(request.inputs[0]?.shape[0] ?? 0);
      const forwardRows = deps.forwardRows ?? 0;
      const threads = deps.threads ?? 1;
      const idleThreads = Math.max(0, threads - entry.batcher.busyThreads);
      if (
        forwarder !== undefined &&
        !record.forwarded &&
        forwardRows > 0 &&
        declaredRows >= forwardRows &&
        (idleThreads === 0 || entry.batcher.queuedRows >= forwardRows * idleThreads) &&
        forwarder.ready()
      ) {
        const bytes = (request as ModelInferRequest & { [RAW_MESSAGE]?: Buffer })[RAW_MESSAGE];
        const forwarded = bytes ? await forwarder.forward(bytes, call.getDeadline(), record.id) : null;
        if (forwarded !== null) {
          record.rows = declaredRows;
          record.forwardedTo = forwarded.peer;
          if ("error" in forwarded) throw new PeerError(forwarded.error);
          return forwarded.answer as unknown as ModelInferResponse;
        }
      }
      // Admission, as the HTTP shed gate and the pressure check decide it, before anything is read.
      if (!table.admitting(served.name, served.version)) {
        if (!record.forwarded) table.shed(served.name, served.version);
        throw new OverloadedError("the scoring queue is full (MAX_QUEUE_WAIT); try again shortly");
      }
      if (deps.underPressure()) throw new OverloadedError("the worker is under pressure; try again shortly");
      const params = plainParameters(request.parameters);
      const timeoutMs = deadlineMs(entry, callTimeoutMs(call) ?? params.timeout, "the call's deadline");
      const { values, rows } = readRawInputs(
        served.model,
        entry.columns,
        requestInputs(request),
        entry.maxRequestRows,
        params.content_type,
      );
      record.rows = rows;
      const outputs = await inferOutputs(
        entry,
        {
          parameters: params,
          outputs: request.outputs.map((o) => ({ name: o.name, parameters: plainParameters(o.parameters) })),
        },
        values,
        rows,
        timeoutMs,
      );
      return inferResponse(served, request.id, outputs, answersRaw(request, params));
    }),
  };
}

/** The call's deadline as milliseconds left; undefined when it has none. */
function callTimeoutMs(call: ServerUnaryCall<unknown, unknown>): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return undefined;
  const left = at - Date.now();
  if (left <= 0) throw new DeadlineError("the call's deadline had passed when it arrived");
  return left;
}

function firstValue(metadata: Metadata, key: string): string | undefined {
  const v = metadata.get(key)[0];
  return typeof v === "string" ? v : undefined;
}

type ServingStatus = "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

/**
 * grpc.health.v1 (Kubernetes' gRPC probes, grpc_health_probe): the server ("") and the OIP service
 * are SERVING while the worker is ready (not draining), NOT_SERVING otherwise; any other service
 * name is NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch), as the protocol says. A handful of lines on
 * our own readiness rather than grpc-health-check, which would bring a second proto-loader and a
 * status map to keep in step by hand.
 */
export function healthImplementation(isReady: () => boolean): UntypedServiceImplementation {
  const known = (service: string) => service === "" || service === OIP_SERVICE;
  const statusOf = (service: string): ServingStatus =>
    !known(service) ? "SERVICE_UNKNOWN" : isReady() ? "SERVING" : "NOT_SERVING";
  return {
    Check: (call: ServerUnaryCall<{ service: string }, unknown>, callback: sendUnaryData<unknown>) => {
      const service = call.request.service;
      if (!known(service))
        return callback({ code: status.NOT_FOUND, details: `unknown service "${service.slice(0, 80)}"` });
      callback(null, { status: statusOf(service) });
    },
    List: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      callback(null, {
        statuses: { "": { status: statusOf("") }, [OIP_SERVICE]: { status: statusOf(OIP_SERVICE) } },
      });
    },
    // A status at once, then each change (checked every second) until the client cancels.
    Watch: (call: ServerWritableStream<{ service: string }, unknown>) => {
      let last: ServingStatus | null = null;
      const send = () => {
        const now = statusOf(call.request.service);
        if (now !== last) {
          last = now;
          call.write({ status: now });
        }
      };
      send();
      const timer = setInterval(send, 1000);
      timer.unref();
      const stop = () => clearInterval(timer);
      call.on("cancelled", stop);
      call.on("close", stop);
      call.on("error", stop);
    },
  };
}
