/**
 * OpenTelemetry tracing: off unless the OTEL_* variables ask for it (and then not even loaded),
 * and when on, a real OTLP/HTTP receiver on loopback gets the request, queue-wait and scoring spans
 * of each request, parented and linked across the batcher's coalescing.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import t, { type Test } from "tap";
import { tracingConfig } from "../config/tracing.js";
import { loadModel } from "../model/index.js";
import { Batcher, type TaskRunner } from "../workers/scoring/batcher.js";
import { encodeResult, type ScoreTask } from "../workers/scoring/protocol.js";
import { FIXTURES } from "./helpers/fixtures.js";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "./helpers/otlp-receiver.js";
import { CLI, postJson, startServer } from "./helpers/server.js";

const ROW = { height: 180, weight: 80, shoe_size: 44 };
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";

t.test("tracing is off unless the OTEL_* variables ask for it", async (t) => {
  const cases: [NodeJS.ProcessEnv, ReturnType<typeof tracingConfig> | RegExp][] = [
    [{}, null],
    [{ OTEL_SERVICE_NAME: "x" }, null],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }, { exporter: "otlp", protocol: "http/protobuf" }],
    [
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" },
      { exporter: "otlp", protocol: "http/protobuf" },
    ],
    [{ OTEL_TRACES_EXPORTER: "otlp" }, { exporter: "otlp", protocol: "http/protobuf" }],
    [
      { OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" },
      { exporter: "otlp", protocol: "http/json" },
    ],
    [
      {
        OTEL_TRACES_EXPORTER: "otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf",
      },
      { exporter: "otlp", protocol: "http/protobuf" },
    ],
    [{ OTEL_TRACES_EXPORTER: "console" }, { exporter: "console" }],
    [{ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }, null],
    [{ OTEL_SDK_DISABLED: "true", OTEL_TRACES_EXPORTER: "otlp" }, null],
    [{ OTEL_TRACES_EXPORTER: "zipkin" }, /"zipkin" is not supported/],
    [{ OTEL_TRACES_EXPORTER: "otlp,console" }, /one exporter only/],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" },
      /"grpc" is not supported/,
    ],
  ];
  for (const [env, expected] of cases) {
    if (expected instanceof RegExp) t.throws(() => tracingConfig(env), expected, JSON.stringify(env));
    else t.same(tracingConfig(env), expected, JSON.stringify(env));
  }
});

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

const byName = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);

t.test("requests coalesced into one task: one score span linking them all", async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  // The SDK's exporter reads its endpoint from the environment, as in a worker.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  t.teardown(() => {
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT; // the servers started below inherit this process's environment
  });
  const { startTracing } = await import("../workers/tracing/otel.js");
  const tracing = startTracing({ exporter: "otlp", protocol: "http/json" }, { version: "test", worker: 0 });
  const { trace, context } = await import("@opentelemetry/api");

  // The real engine scores; only the thread hop is a runner the test holds (as in batcher.test.ts).
  const model = loadModel(join(FIXTURES, "multi_softmax.json"));
  const held: (() => void)[] = [];
  const runner: TaskRunner = {
    threads: 1,
    run(task: ScoreTask) {
      const margins = model.predictBatch(task.values, task.rows, { margin: true });
      const result = encodeResult(
        0.002,
        margins,
        task.wantPredictions ? model.transform(margins, task.rows) : null,
      );
      return new Promise((resolve) => held.push(() => resolve(result)));
    },
  };
  const batcher = new Batcher(runner, {
    numFeature: model.numFeature,
    groups: model.numMarginOutputs,
    width: model.numOutputs,
    maxBatchRows: 64,
    maxQueueRows: 1000,
    tracer: tracing.batchTracer,
  });
  const tracer = trace.getTracer("test");
  const submit = (name: string, rows: number) => {
    const span = tracer.startSpan(name);
    const done = context.with(trace.setSpan(context.active(), span), () =>
      batcher.submit(new Float32Array(rows * model.numFeature), rows, false),
    );
    return { span, done: done.then(() => span.end()) };
  };
  // A request whose caller did not sample its trace: linked, but not the task's parent.
  const unsampledSpan = trace.wrapSpanContext({
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    traceFlags: 0,
  });
  const first = submit("first", 1); // takes the only thread
  await new Promise((r) => setImmediate(r));
  const unsampled = context.with(trace.setSpan(context.active(), unsampledSpan), () =>
    batcher.submit(new Float32Array(model.numFeature), 1, false),
  );
  const waiting = [submit("a", 2), submit("b", 3), submit("c", 1)]; // wait, then share one task
  await new Promise((r) => setTimeout(r, 20));
  held.shift()?.();
  await first.done;
  await new Promise((r) => setImmediate(r));
  t.equal(held.length, 1, "the four waiting requests left as one task");
  held.shift()?.();
  await Promise.all([...waiting.map((w) => w.done), unsampled]);
  await tracing.shutdown();

  const spans = receiver.spans;
  const scores = byName(spans, "forestd.score");
  t.equal(scores.length, 2, "one score span per task");
  const shared = scores.find((s) => s.links.length === 4);
  t.ok(shared, "the coalesced task links its four requests");
  if (!shared) return;
  t.match(shared.attributes, {
    "forestd.batch.rows": 7,
    "forestd.batch.requests": 4,
    "forestd.scoring.seconds": 0.002,
  });
  for (const w of waiting) {
    const ctx = w.span.spanContext();
    t.ok(
      shared.links.some((l) => l.traceId === ctx.traceId && l.spanId === ctx.spanId),
      "a link to each request's span",
    );
    const wait = byName(spans, "forestd.queue_wait").find((s) => s.traceId === ctx.traceId);
    t.equal(wait?.parentSpanId, ctx.spanId, "its queue wait is the request's child");
    t.same(
      wait?.links.map((l) => l.spanId),
      [shared.spanId],
      "and links to the task that scored it",
    );
    t.ok(wait && wait.endNs - wait.startNs >= 15_000_000n, "and lasted while the thread was busy (≥ 15 ms)");
  }
  const a = waiting[0].span.spanContext();
  t.equal(shared.traceId, a.traceId, "the task sits in its first sampled request's trace");
  t.equal(shared.parentSpanId, a.spanId);
  t.same(
    shared.links.map((l) => [l.spanId, l.attributes["forestd.rows"]]),
    [
      [unsampledSpan.spanContext().spanId, 1],
      ...waiting.map((w, i) => [w.span.spanContext().spanId, [2, 3, 1][i]]),
    ],
    "a link per request, the unsampled one too, each saying how many rows",
  );
  t.notOk(
    spans.some((s) => s.traceId === unsampledSpan.spanContext().traceId),
    "nothing recorded in the unsampled trace",
  );
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
    const receiver = await startOtlpReceiver();
    t.teardown(() => receiver.close());
    const { server, loaded } = await tracedServer(t, receiver, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol,
    });
    t.ok(loaded().includes("@fastify/otel"), "the recorder sees imports (so the test above means something)");
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
    t.match(receiver.contentTypes[0], protocol === "http/json" ? /json/ : /protobuf/, "sent as asked");

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
      "forestd.scoring.seconds": Number,
    });
    t.equal(wait.endNs, score.startNs, "the queue wait ends as scoring starts");
    t.ok(score.endNs > score.startNs, "scoring takes time");
    // The SDK anchors each span it times to Date.now(), so spans timed apart agree to a millisecond
    // or so (more on a loaded machine).
    const slack = 5_000_000n;
    t.ok(request.startNs <= wait.startNs + slack, "the queue wait starts within the request");
    t.ok(score.endNs <= request.endNs + slack, "scoring ends within the request");
    t.match(
      server.events().find((e) => e.log === "access" && e.request_id === "trace-me"),
      { trace_id: TRACE_ID },
      "the access line names the trace",
    );
    const failed = receiver.spans.find(
      (s) => s.name === "request" && s.attributes["http.response.status_code"] === 400,
    );
    t.equal(failed?.status.code, 2, "a 400 marks its request span as an error");
  });
}
