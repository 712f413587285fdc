/**
 * The gRPC service goes through the same admission and deadlines as HTTP: a worker app with the
 * scripted scoring thread (held on cue), its gRPC endpoint fed connections from a loopback
 * listener as a worker feeds it, and a real @grpc/grpc-js client. The call's deadline is the
 * request's (its rows are never scored once it has passed), MAX_QUEUE's 503 is RESOURCE_EXHAUSTED
 * with gRPC's retry hint, a draining worker is UNAVAILABLE and NOT_SERVING, and a thousand calls
 * in flight on one connection are all answered, and a message that never finishes arriving is cut
 * off at CLIENT_TIMEOUT.
 */
import { connect } from "node:http2";
import { createServer } from "node:net";
import { type Client, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import pino from "pino";
import t from "tap";
import { healthService, oipService } from "../../workers/grpc/protos.js";
import { createGrpcEndpoint } from "../../workers/grpc/server.js";
import { VERSION } from "../../workers/http/version.js";
import { scriptedApp } from "../helpers/app.js";
import { scriptedRow } from "../helpers/threads.js";

type Harness = Awaited<ReturnType<typeof scriptedApp>>;

/** The app's gRPC endpoint on a loopback port, and clients of both services. */
async function grpcOf(t: { teardown(fn: () => unknown): void }, h: Harness, ready: () => boolean) {
  const endpoint = createGrpcEndpoint(h.settings, {
    table: h.table,
    metrics: h.metrics,
    logger: pino({ level: "silent" }),
    accessLog: false,
    version: VERSION,
    isReady: ready,
    underPressure: () => h.app.forestdUnderPressure(),
  });
  const listener = createServer((socket) => endpoint.accept(socket));
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const { port } = listener.address() as { port: number };
  const Oip = oipService();
  const Health = healthService();
  const client = new Oip(`127.0.0.1:${port}`, credentials.createInsecure());
  const health = new Health(`127.0.0.1:${port}`, credentials.createInsecure());
  t.teardown(() => {
    client.close();
    health.close();
    endpoint.drain(0);
    listener.close();
  });
  return { client, health, port };
}

function rpc<T>(client: Client, method: string, message: object, deadlineMs = 30_000) {
  return new Promise<{ value?: T; error?: ServiceError }>((resolve) => {
    (client as unknown as Record<string, (...args: unknown[]) => void>)[method].call(
      client,
      message,
      new Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error: ServiceError | null, value: T) => resolve(error ? { error } : { value }),
    );
  });
}

function infer(rows: number[][], extra: object = {}) {
  const flat = rows.flat();
  return {
    model_name: "default",
    inputs: [
      {
        name: "x",
        datatype: "FP32",
        shape: [String(rows.length), String(rows[0].length)],
        contents: { fp32_contents: flat },
      },
    ],
    ...extra,
  };
}

/** Tasks the scoring threads ran (the per-task batch histogram's count). */
async function tasks(h: Harness): Promise<number> {
  const values = (await h.metrics.batchRows.get()).values;
  return values.find((v) => v.metricName === "forestd_batch_rows_count")?.value ?? 0;
}

t.test("the call's deadline is the request's: rows waiting past it are never scored", async (t) => {
  const h = await scriptedApp(t, ["--threads", "1", "--inline-scoring-max-us", "0"]);
  const { client } = await grpcOf(t, h, () => true);
  const width = h.served.model.numFeature;
  const busy = rpc(client, "ModelInfer", infer([scriptedRow("hold", width)]));
  await h.threads.held();
  const late = await rpc(client, "ModelInfer", infer([Array(width).fill(1)]), 200);
  t.equal(late.error?.code, status.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED");
  // The server gave up at the call's deadline too (its own 504), not only the client.
  const text = async () => h.metrics.registry.metrics();
  for (let i = 0; i < 50 && !/method="GRPC",route="[^"]*ModelInfer",status="504"/.test(await text()); i++)
    await new Promise((r) => setTimeout(r, 20));
  t.match(
    await text(),
    /forestd_http_requests_total\{method="GRPC",route="\/inference.GRPCInferenceService\/ModelInfer",status="504"\} 1/,
  );
  h.threads.release();
  t.notOk((await busy).error, "the held call is answered");
  t.equal(await tasks(h), 1, "one task ran, the held one: the late call's row never did");
  const ok = await rpc(client, "ModelInfer", infer([Array(width).fill(1)]), 5000);
  t.notOk(ok.error, "with time to spare it is scored");
});

t.test("beyond MAX_QUEUE: RESOURCE_EXHAUSTED with a retry hint, counted as HTTP's 503", async (t) => {
  const h = await scriptedApp(t, ["--threads", "1", "--max-queue", "2", "--inline-scoring-max-us", "0"]);
  const { client } = await grpcOf(t, h, () => true);
  const width = h.served.model.numFeature;
  const busy = rpc(client, "ModelInfer", infer([scriptedRow("hold", width)]));
  await h.threads.held();
  const shed = await rpc(client, "ModelInfer", infer(Array.from({ length: 4 }, () => Array(width).fill(1))));
  t.equal(shed.error?.code, status.RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED");
  t.same(
    shed.error?.metadata.get("grpc-retry-pushback-ms"),
    ["1000"],
    "grpc-retry-pushback-ms, as Retry-After: 1",
  );
  t.same(
    shed.error?.metadata.get("forestd-code"),
    ["FORESTD_ERR_OVERLOADED"],
    "forestd's code in the trailers",
  );
  h.threads.release();
  await busy;
  const text = await h.metrics.registry.metrics();
  t.match(text, /forestd_rejected_total\{reason="overload"\} 1/);
  t.match(
    text,
    /forestd_http_requests_total\{method="GRPC",route="\/inference.GRPCInferenceService\/ModelInfer",status="503"\} 1/,
  );
});

t.test("a worker that is not ready: UNAVAILABLE, health NOT_SERVING; ready again, SERVING", async (t) => {
  const h = await scriptedApp(t, ["--threads", "1"]);
  let ready = false;
  const { client, health } = await grpcOf(t, h, () => ready);
  const width = h.served.model.numFeature;
  const r = await rpc(client, "ModelInfer", infer([Array(width).fill(1)]));
  t.equal(r.error?.code, status.UNAVAILABLE, "UNAVAILABLE");
  t.same(r.error?.metadata.get("grpc-retry-pushback-ms"), ["1000"], "with the retry hint");
  t.same((await rpc(health, "Check", { service: "" })).value, { status: "NOT_SERVING" });
  t.same((await rpc(client, "ServerReady", {})).value, { ready: false });
  ready = true;
  t.same((await rpc(health, "Check", { service: "" })).value, { status: "SERVING" });
  t.notOk((await rpc(client, "ModelInfer", infer([Array(width).fill(1)]))).error, "answered once ready");
});

t.test("a thousand calls in flight on one connection are all answered", async (t) => {
  const h = await scriptedApp(t, ["--threads", "1"]);
  const { client } = await grpcOf(t, h, () => true);
  const width = h.served.model.numFeature;
  const answers = await Promise.all(
    Array.from({ length: 1000 }, (_, i) => rpc(client, "ModelInfer", infer([Array(width).fill(i % 7)]))),
  );
  t.equal(
    answers.filter((a) => a.value).length,
    1000,
    `all answered (${answers.find((a) => a.error)?.error?.details ?? "no error"})`,
  );
});

t.test("a call whose message never finishes is ended at CLIENT_TIMEOUT; others go on", async (t) => {
  const h = await scriptedApp(t, ["--threads", "1", "--client-timeout", "1"]);
  const { client, port } = await grpcOf(t, h, () => true);
  const session = connect(`http://127.0.0.1:${port}`);
  // The endpoint cancels what is left at teardown: not this test's subject.
  session.on("error", () => undefined);
  t.teardown(() => session.close());
  const stream = session.request({
    ":method": "POST",
    ":path": "/inference.GRPCInferenceService/ModelInfer",
    "content-type": "application/grpc",
    te: "trailers",
  });
  // A message announced as 1000 bytes, of which 10 are sent; the stream is never ended.
  stream.on("error", () => undefined);
  const frame = Buffer.alloc(15);
  frame.writeUInt32BE(1000, 1);
  stream.write(frame);
  const started = Date.now();
  const ended = await new Promise<Record<string, unknown>>((resolve) => {
    stream.on("trailers", (trailers) => resolve(trailers));
    stream.on("response", (headers) => {
      if (headers["grpc-status"] !== undefined) resolve(headers);
    });
    stream.resume();
  });
  t.equal(ended["grpc-status"], String(status.DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
  t.same(ended["forestd-code"], "FORESTD_ERR_CLIENT_TIMEOUT");
  t.ok(Date.now() - started < 5000, `ended after ${Date.now() - started} ms`);
  const width = h.served.model.numFeature;
  t.notOk(
    (await rpc(client, "ModelInfer", infer([Array(width).fill(1)]))).error,
    "the server goes on answering",
  );
});
