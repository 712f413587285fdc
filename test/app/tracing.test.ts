/**
 * OpenTelemetry tracing, in process: which OTEL_* values turn it on, and a coalesced task's spans
 * and links with the real SDK and engine (only the thread hop held by the test). A whole server's
 * spans reaching an OTLP receiver: test/process/tracing.test.ts.
 */
import { join } from "node:path";
import t from "tap";
import { tracingConfig } from "../../config/tracing.js";
import { loadModel } from "../../model/index.js";
import { Batcher, type TaskRunner } from "../../workers/scoring/batcher.js";
import { encodeResult, type ScoreTask, skippedResult } from "../../workers/scoring/protocol.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { type ReceivedSpan, startOtlpReceiver } from "../helpers/otlp-receiver.js";

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

const byName = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);

t.test("requests coalesced into one task: one score span linking them all", async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  // The SDK's exporter reads its endpoint from the environment, as in a worker.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  t.teardown(() => {
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  });
  const { startTracing } = await import("../../workers/tracing/otel.js");
  const tracing = startTracing({ exporter: "otlp", protocol: "http/json" }, { version: "test", worker: 0 });
  const { trace, context } = await import("@opentelemetry/api");

  // The real engine scores; only the thread hop is a runner the test holds (as in test/unit/batcher.test.ts).
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
    "forestd.task": "score",
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

t.test("a task that fails, or that its thread skipped, ends its score span as an error", async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  t.teardown(() => {
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  });
  const { startTracing } = await import("../../workers/tracing/otel.js");
  const tracing = startTracing({ exporter: "otlp", protocol: "http/json" }, { version: "test", worker: 0 });
  const answers = [
    () => Promise.reject(new Error("thread died")),
    // What a thread answers for a task whose every deadline had passed before it got to it.
    () => Promise.resolve(skippedResult()),
  ];
  const runner: TaskRunner = { threads: 1, run: () => (answers.shift() ?? answers[0])() };
  const batcher = new Batcher(runner, {
    numFeature: 3,
    groups: 1,
    width: 1,
    maxBatchRows: 64,
    maxQueueRows: 1000,
    tracer: tracing.batchTracer,
  });
  await t.rejects(batcher.submit(new Float32Array(3), 1, false), /thread died/);
  await t.rejects(batcher.submit(new Float32Array(3), 1, false), { code: "FORESTD_ERR_DEADLINE" });
  await tracing.shutdown();
  const scores = byName(receiver.spans, "forestd.score");
  t.equal(scores.length, 2, "a span per task");
  t.match(
    scores.map((s) => s.status),
    [
      { code: 2, message: "thread died" },
      { code: 2, message: /skipped by its thread/ },
    ],
    "both errors, saying why",
  );
  t.notOk(
    scores.some((s) => "forestd.scoring.seconds" in s.attributes),
    "no scoring time: nothing was scored",
  );
});
