/**
 * gRPC load, as ghz makes it: `concurrency` unary ModelInfer calls kept in flight (each answered
 * call is followed at once by the next) over `connections` HTTP/2 connections, for a fixed time,
 * with every call's latency (p50/p90/p99/max) and the server's CPU and peak RSS.
 *
 * The request is encoded once (with the protocol's own .proto) and sent as bytes, and answers are
 * not decoded: the load generator's cost per call is the HTTP/2 framing only, so the figure is the
 * server's, as autocannon's is for HTTP.
 */
import { credentials, type Metadata, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { oipService } from "../../workers/grpc/protos.js";
import { type Latencies, type LoadSpec, type Measurement, record, summarize } from "./load.js";
import { TreeSampler } from "./proc.js";

export interface GrpcLoadSpec {
  /** 127.0.0.1:PORT */
  address: string;
  /** A ModelInferRequest, as @grpc/proto-loader takes it. */
  request: object;
  rowsPerRequest: number;
  seconds: number;
  /** Calls in flight at once, over all connections. */
  concurrency: number;
  /** HTTP/2 connections the calls are spread over (ghz --connections). */
  connections: number;
}

const passthrough = (b: Buffer) => b;

/** A client whose ModelInfer takes the request's bytes and gives the answer's, undecoded. */
const RawClient = makeGenericClientConstructor(
  {
    ModelInfer: {
      path: "/inference.GRPCInferenceService/ModelInfer",
      requestStream: false,
      responseStream: false,
      requestSerialize: passthrough,
      requestDeserialize: passthrough,
      responseSerialize: passthrough,
      responseDeserialize: passthrough,
    },
  },
  "GRPCInferenceService",
);
type RawCall = (request: Buffer, callback: (error: ServiceError | null, answer?: Buffer) => void) => void;

/** gRPC status → the HTTP status the bench tables count by (OK 200, RESOURCE_EXHAUSTED 503). */
function statusKey(error: ServiceError | null): number {
  if (error === null) return 200;
  return error.code === 8 ? 503 : 600 + error.code;
}

export async function measureGrpc(spec: GrpcLoadSpec, serverPid: number | null): Promise<Measurement> {
  const bytes = oipService().service.ModelInfer.requestSerialize(spec.request) as Buffer;
  // A local subchannel pool per client: each client its own connection, as ghz --connections.
  const clients = Array.from(
    { length: spec.connections },
    () => new RawClient(spec.address, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
  );
  const latencies: Latencies = { ok: [], rejected: [], withRetryAfter: 0 };
  const statuses: Record<string, number> = {};
  let errors = 0;
  let total = 0;
  try {
    // Connected (and one call answered) on every connection before the clock starts.
    await Promise.all(clients.map((c) => call(c, bytes)));
    const sampler = serverPid === null ? null : new TreeSampler(serverPid);
    const deadline = performance.now() + spec.seconds * 1000;
    await Promise.all(
      Array.from({ length: spec.concurrency }, async (_, i) => {
        const client = clients[i % clients.length];
        while (performance.now() < deadline) {
          const started = performance.now();
          const { error, pushback } = await call(client, bytes);
          total++;
          const status = statusKey(error);
          if (error !== null && status !== 503) errors++;
          statuses[status] = (statuses[status] ?? 0) + 1;
          record(latencies, status, performance.now() - started, pushback);
        }
      }),
    );
    const load: LoadSpec = {
      url: spec.address,
      body: "",
      rowsPerRequest: spec.rowsPerRequest,
      seconds: spec.seconds,
      connections: spec.connections,
    };
    return summarize(load, latencies, statuses, errors, total, sampler);
  } finally {
    for (const c of clients) c.close();
  }
}

function call(
  client: InstanceType<typeof RawClient>,
  bytes: Buffer,
): Promise<{ error: ServiceError | null; pushback: boolean }> {
  return new Promise((resolve) => {
    (client as unknown as { ModelInfer: RawCall }).ModelInfer(bytes, (error) => {
      const trailers: Metadata | undefined = error?.metadata;
      resolve({
        error,
        pushback:
          trailers?.get("grpc-retry-pushback-ms").length !== undefined &&
          (trailers?.get("grpc-retry-pushback-ms").length ?? 0) > 0,
      });
    });
  });
}
