/**
 * OpenTelemetry tracing of a whole server: forestd serve refuses OTEL_* values it cannot honour;
 * with tracing off no OpenTelemetry module is loaded; on, a real OTLP/HTTP receiver on loopback
 * gets each request's spans (request, queue wait and scoring task for rows scored on a thread; the
 * scoring span alone for rows scored inline), parented and linked; a gRPC call's the same, under
 * its own SERVER span.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { credentials, Metadata } from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { defaultModelPath } from "../../model/index.js";
import { oipService } from "../../workers/grpc/protos.js";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../helpers/otlp-receiver.js";
import {
  CLI,
  freePort,
  postJson,
  type RunningServer,
  request,
  startServer,
  waitFor,
} from "../helpers/server.js";

const ROW = { height: 180, weight: 80, shoe_size: 44 };
// A trace id per test: several share one server and one receiver.
const PROTOBUF_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const JSON_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4737";
const INLINE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4738";
const GRPC_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4739";
const CALLER_SPAN = "00f067aa0ba902b7";

t.test("forestd serve refuses OTEL_* values it cannot honour, before starting any worker", async (t) => {
  const run = spawnSync(process.execPath, [CLI, "serve"], {
    env: {
      ...process.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1",
      OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
    },
    encoding: "utf8",
    timeout: 30_000,
  });
  t.equal(run.status, 2, "exit 2, as for a bad setting");
  t.match(run.stderr, /OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported/);
});

/** A loader hook, given to a server through NODE_OPTIONS, that records every OpenTelemetry import. */
function importRecorder(): { nodeOptions: string; loaded: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), "forestd-otel-"));
  const log = join(dir, "loaded.txt");
  writeFileSync(log, "");
  writeFileSync(
    join(dir, "hooks.mjs"),
    `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  if (/opentelemetry|@fastify\\/otel/.test(specifier)) appendFileSync(${JSON.stringify(log)}, specifier + "\\n");
  return next(specifier, context);
}
`,
  );
  writeFileSync(
    join(dir, "register.mjs"),
    `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)});\n`,
  );
  return {
    nodeOptions: `--import ${pathToFileURL(join(dir, "register.mjs")).href}`,
    loaded: () => readFileSync(log, "utf8").split("\n").filter(Boolean),
  };
}

async function tracedServer(t: Test, receiver: OtlpReceiver, env: Record<string, string>) {
  const recorder = importRecorder();
  const server = await startServer({
    WORKERS: "1",
    THREADS: "1",
    OTEL_SERVICE_NAME: "forestd-test",
    OTEL_BSP_SCHEDULE_DELAY: "50",
    NODE_OPTIONS: recorder.nodeOptions,
    ...env,
  });
  t.teardown(() => server.stop());
  return { server, loaded: recorder.loaded, receiver };
}

interface Shared {
  server: RunningServer;
  receiver: OtlpReceiver;
  grpcPort: number;
  repository: string;
}

/**
 * One traced server (OTLP over http/json) for the tests below that need nothing else of their own:
 * a repository of the default model twice, "threaded" (every request through a scoring thread,
 * the default model) and "inline" (any one-row request scored on the event loop), with gRPC and the
 * access log on. A server each cost ~6 s of start-up (OpenTelemetry's modules included).
 */
async function sharedServer(): Promise<Shared> {
  const receiver = await startOtlpReceiver();
  const grpcPort = await freePort();
  const repository = mkdtempSync(join(tmpdir(), "forestd-otel-models-"));
  for (const [name, inlineUs] of [
    ["threaded", 0],
    ["inline", 100_000],
  ] as const) {
    mkdirSync(join(repository, name));
    copyFileSync(defaultModelPath(), join(repository, name, "model.json"));
    writeFileSync(
      join(repository, name, "forestd.json"),
      JSON.stringify({ inline_scoring_max_us: inlineUs }),
    );
  }
  const server = await startServer({
    WORKERS: "1",
    THREADS: "1",
    OTEL_SERVICE_NAME: "forestd-test",
    OTEL_BSP_SCHEDULE_DELAY: "50",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
    MODEL_REPOSITORY: repository,
    DEFAULT_MODEL: "threaded",
    GRPC_PORT: String(grpcPort),
    ACCESS_LOG: "on",
  });
  await waitFor(
    async () => ((await request(`${server.url}/v2/models`)).json.models as string[]).length === 2,
    20_000,
  );
  return { server, receiver, grpcPort, repository };
}

let shared: Promise<Shared> | undefined;
/** The shared server, started by the first test that asks for it and stopped after the last. */
function useShared(): Promise<Shared> {
  if (!shared) {
    shared = sharedServer();
    t.teardown(async () => {
      const { server, receiver, repository } = await (shared as NonNullable<typeof shared>);
      await server.stop();
      await receiver.close();
      rmSync(repository, { recursive: true, force: true });
    });
  }
  return shared;
}

t.test("tracing off: no OpenTelemetry module is loaded", async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const { server, loaded } = await tracedServer(t, receiver, {});
  t.equal((await postJson(`${server.url}/predict`, ROW)).status, 200);
  t.same(loaded(), [], "nothing imported");
  await server.stop();
  t.same(receiver.spans, [], "nothing sent");
});

for (const protocol of ["http/protobuf", "http/json"] as const) {
  t.test(`a scored request's three spans reach an OTLP receiver (${protocol})`, async (t) => {
    // http/protobuf on a server of its own (the protocol is the server's); http/json on the shared
    // one, whose default model ("threaded") scores every request on the thread.
    const TRACE_ID = protocol === "http/json" ? JSON_TRACE_ID : PROTOBUF_TRACE_ID;
    let server: RunningServer;
    let receiver: OtlpReceiver;
    let model = "default";
    if (protocol === "http/protobuf") {
      receiver = await startOtlpReceiver();
      t.teardown(() => receiver.close());
      const traced = await tracedServer(t, receiver, {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol,
        // Every request to the thread, through the batcher's queue (inline scoring: the test below).
        INLINE_SCORING_MAX_US: "0",
      });
      server = traced.server;
      t.ok(
        traced.loaded().includes("@fastify/otel"),
        "the recorder sees imports (so the test above means something)",
      );
    } else {
      ({ server, receiver } = await useShared());
      model = "threaded";
    }
    const r = await postJson(
      `${server.url}/predict`,
      { instances: [[180, 80, 44], ROW] },
      {
        traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`,
        "x-request-id": "trace-me",
      },
    );
    t.equal(r.status, 200);
    const bad = await postJson(`${server.url}/predict`, { instances: [["x"]] });
    t.equal(bad.status, 400);
    const inTrace = (spans: ReceivedSpan[]) => spans.filter((s) => s.traceId === TRACE_ID);
    await receiver.waitFor(
      (spans) =>
        inTrace(spans).length >= 4 && spans.some((s) => s.attributes["http.response.status_code"] === 400),
    );
    t.ok(receiver.contentTypes.length > 0, "spans were exported");
    t.ok(
      receiver.contentTypes.every((type) => (protocol === "http/json" ? /json/ : /protobuf/).test(type)),
      "sent as asked",
    );

    const spans = inTrace(receiver.spans);
    const request = spans.find((s) => s.name === "request");
    const handler = spans.find((s) => s.name.startsWith("handler"));
    const wait = spans.find((s) => s.name === "forestd.queue_wait");
    const score = spans.find((s) => s.name === "forestd.score");
    if (!request || !handler || !wait || !score) {
      t.fail(`missing spans: ${spans.map((s) => s.name).join(", ")}`);
      return;
    }
    t.equal(request.parentSpanId, CALLER_SPAN, "the request continues the caller's traceparent");
    t.equal(request.kind, 2, "as a SERVER span");
    t.match(request.attributes, {
      "http.request.method": "POST",
      "url.path": "/predict",
      "http.route": "/predict",
      "http.response.status_code": 200,
      "forestd.request_id": "trace-me",
      "forestd.model": model,
      "forestd.model_version": String,
    });
    t.match(request.resource, { "service.name": "forestd-test", "forestd.worker": 1 }, "OTEL_SERVICE_NAME");
    t.equal(handler.parentSpanId, request.spanId, "handler under request");
    t.equal(wait.parentSpanId, handler.spanId, "queue wait under the handler");
    t.equal(score.parentSpanId, handler.spanId, "the task under its (only) request");
    t.same(
      score.links.map((l) => [l.traceId, l.spanId, l.attributes["forestd.rows"]]),
      [[TRACE_ID, handler.spanId, 2]],
      "and linked to it",
    );
    t.same(
      wait.links.map((l) => l.spanId),
      [score.spanId],
      "the queue wait links to its task",
    );
    t.match(score.attributes, {
      "forestd.batch.rows": 2,
      "forestd.batch.requests": 1,
      "forestd.task": "score",
      "forestd.scoring.seconds": Number,
      "forestd.model": model,
    });
    t.equal(wait.endNs, score.startNs, "the queue wait ends as scoring starts");
    t.ok(score.endNs > score.startNs, "scoring takes time");
    // The SDK anchors each span it times to Date.now(), so spans timed apart agree to a millisecond
    // or so (more on a loaded machine).
    const slack = 5_000_000n;
    t.ok(request.startNs <= wait.startNs + slack, "the queue wait starts within the request");
    t.ok(score.endNs <= request.endNs + slack, "scoring ends within the request");
    // Workers batch their log writes (up to 250 ms): wait for the line rather than read at once.
    const accessLine = () => server.events().find((e) => e.log === "access" && e.request_id === "trace-me");
    await waitFor(() => accessLine() !== undefined, 5000);
    t.match(accessLine(), { trace_id: TRACE_ID }, "the access line names the trace");
    const failed = receiver.spans.find(
      (s) =>
        s.name === "request" &&
        s.attributes["http.response.status_code"] === 400 &&
        s.attributes["url.path"] === "/predict",
    );
    t.equal(failed?.status.code, 2, "a 400 marks its request span as an error");
  });
}

t.test("a request scored inline: its scoring span under the handler, no queue wait", async (t) => {
  // The shared server's "inline" model: any one-row request is inlined, however slow this machine
  // measures the engine.
  const { server, receiver } = await useShared();
  const TRACE_ID = INLINE_TRACE_ID;
  const r = await postJson(`${server.url}/predict/inline`, ROW, {
    traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`,
  });
  t.equal(r.status, 200);
  const inTrace = (spans: ReceivedSpan[]) => spans.filter((s) => s.traceId === TRACE_ID);
  await receiver.waitFor((spans) => inTrace(spans).some((s) => s.name === "request"));
  const spans = inTrace(receiver.spans);
  const request = spans.find((s) => s.name === "request");
  const handler = spans.find((s) => s.name.startsWith("handler"));
  const score = spans.find((s) => s.name === "forestd.score");
  if (!request || !handler || !score) {
    t.fail(`missing spans: ${spans.map((s) => s.name).join(", ")}`);
    return;
  }
  t.equal(score.parentSpanId, handler.spanId, "the scoring span under the handler");
  t.match(score.attributes, {
    "forestd.inline": true,
    "forestd.batch.rows": 1,
    "forestd.batch.requests": 1,
    "forestd.model": "inline",
  });
  t.same(score.links, [], "no task shared with other requests");
  t.notOk(
    spans.some((s) => s.name === "forestd.queue_wait"),
    "no queue wait",
  );
  t.ok(score.endNs >= score.startNs, "timed");
});

t.test(
  "a gRPC call: its SERVER span continues the caller's traceparent, the queue and task under it",
  async (t) => {
    // The shared server's default model, "threaded": the call's rows go through the queue.
    const { server, receiver, grpcPort } = await useShared();
    const TRACE_ID = GRPC_TRACE_ID;
    const client = new (oipService())(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
    t.teardown(() => client.close());
    const metadata = new Metadata();
    metadata.set("traceparent", `00-${TRACE_ID}-${CALLER_SPAN}-01`);
    metadata.set("x-request-id", "grpc-trace-me");
    const error = await new Promise<Error | null>((resolve) =>
      (client as unknown as Record<string, (...a: unknown[]) => void>).ModelInfer(
        {
          model_name: "threaded",
          inputs: [
            {
              name: "x",
              datatype: "FP32",
              shape: ["2", "3"],
              contents: { fp32_contents: [180, 80, 44, 170, 70, 40] },
            },
          ],
        },
        metadata,
        (e: Error | null) => resolve(e),
      ),
    );
    t.equal(error, null, "answered");
    const inTrace = (spans: ReceivedSpan[]) => spans.filter((s) => s.traceId === TRACE_ID);
    await receiver.waitFor((spans) => inTrace(spans).length >= 3);
    const spans = inTrace(receiver.spans);
    const call = spans.find((s) => s.name === "inference.GRPCInferenceService/ModelInfer");
    const wait = spans.find((s) => s.name === "forestd.queue_wait");
    const score = spans.find((s) => s.name === "forestd.score");
    if (!call || !wait || !score) {
      t.fail(`missing spans: ${spans.map((s) => s.name).join(", ")}`);
      return;
    }
    t.equal(call.parentSpanId, CALLER_SPAN, "the call continues the caller's traceparent (from metadata)");
    t.equal(call.kind, 2, "a SERVER span");
    t.match(call.attributes, {
      "rpc.system": "grpc",
      "rpc.service": "inference.GRPCInferenceService",
      "rpc.method": "ModelInfer",
      "rpc.grpc.status_code": 0,
      "forestd.request_id": "grpc-trace-me",
      "forestd.model": "threaded",
    });
    t.equal(wait.parentSpanId, call.spanId, "the queue wait under the call");
    t.equal(score.parentSpanId, call.spanId, "the task under its (only) call");
    await waitFor(() => server.events().some((e) => e.request_id === "grpc-trace-me"), 5000);
    t.equal(
      server.events().find((e) => e.request_id === "grpc-trace-me")?.trace_id,
      TRACE_ID,
      "the access line names the trace",
    );
  },
);
