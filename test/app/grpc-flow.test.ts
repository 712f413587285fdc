/**
 * The gRPC endpoint's HTTP/2 flow control (workers/grpc/server.ts): a client is told it may send a
 * whole message without waiting for a WINDOW_UPDATE, in large frames, and the connection's own
 * window is widened too; a 10 000-row raw request then goes through and is answered with the
 * engine's own bits. The settings are read by a plain node:http2 client, so a grpc-js upgrade that
 * drops the way they are applied fails here.
 */
import { connect } from "node:http2";
import { createServer } from "node:net";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import pino from "pino";
import t from "tap";
import { oipService } from "../../workers/grpc/protos.js";
import {
  CONNECTION_WINDOW_BYTES,
  createGrpcEndpoint,
  flowControlSettings,
  MAX_FRAME_BYTES,
  STREAM_WINDOW_BYTES,
} from "../../workers/grpc/server.js";
import { VERSION } from "../../workers/http/version.js";
import { testApp } from "../helpers/app.js";

t.test("a message's worth of window, large frames, and the rows answered bit for bit", async (t) => {
  const h = await testApp(["--threads", "1"]);
  t.teardown(h.close);
  const endpoint = createGrpcEndpoint(h.settings, {
    table: h.table,
    metrics: h.metrics,
    logger: pino({ level: "silent" }),
    accessLog: false,
    version: VERSION,
    isReady: () => true,
    underPressure: () => false,
  });
  const listener = createServer((socket) => endpoint.accept(socket));
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const { port } = listener.address() as { port: number };
  t.teardown(() => {
    endpoint.drain(0);
    listener.close();
  });

  const wanted = flowControlSettings(h.settings.grpc_max_message_bytes);
  t.equal(wanted.initialWindowSize, Math.min(STREAM_WINDOW_BYTES, h.settings.grpc_max_message_bytes + 5));
  t.equal(flowControlSettings(2048).initialWindowSize, 2053, "never more than one message");
  const session = connect(`http://127.0.0.1:${port}`);
  t.teardown(() => session.destroy());
  // The server's first SETTINGS are HTTP/2's defaults; forestd's follow in a second frame.
  const remote = await new Promise<{ initialWindowSize?: number; maxFrameSize?: number }>((resolve) => {
    const timer = setTimeout(() => resolve(session.remoteSettings), 2000);
    session.on("remoteSettings", (settings) => {
      if (settings.initialWindowSize !== 65_535) {
        clearTimeout(timer);
        resolve(settings);
      }
    });
  });
  t.equal(remote.initialWindowSize, wanted.initialWindowSize, "each stream's window: a whole message");
  t.equal(remote.maxFrameSize, MAX_FRAME_BYTES, "frames of up to 1 MiB");
  // The connection's window arrives as a WINDOW_UPDATE after the settings.
  for (let i = 0; i < 50 && (session.state.remoteWindowSize ?? 0) < CONNECTION_WINDOW_BYTES; i++)
    await new Promise((r) => setTimeout(r, 10));
  t.ok(
    (session.state.remoteWindowSize ?? 0) >= CONNECTION_WINDOW_BYTES - 65_535,
    `the connection's window widened (${session.state.remoteWindowSize})`,
  );

  const model = h.served.model;
  const rows = 10_000;
  const values = Float32Array.from({ length: rows * model.numFeature }, (_, i) => Math.sin(i) * 50);
  const expected = model.predictBatch(values.slice(), rows) as Float32Array;
  const Oip = oipService();
  const client = new Oip(`127.0.0.1:${port}`, credentials.createInsecure());
  t.teardown(() => client.close());
  const answer = await new Promise<{ raw_output_contents: Buffer[] }>((resolve, reject) =>
    (client as unknown as Record<string, (...args: unknown[]) => void>).ModelInfer(
      {
        model_name: "default",
        inputs: [{ name: "x", datatype: "FP32", shape: [String(rows), String(model.numFeature)] }],
        raw_input_contents: [Buffer.from(values.buffer)],
      },
      new Metadata(),
      (error: ServiceError | null, value: { raw_output_contents: Buffer[] }) =>
        error ? reject(error) : resolve(value),
    ),
  );
  const got = answer.raw_output_contents[0];
  t.equal(got.length, expected.byteLength);
  t.ok(got.equals(Buffer.from(expected.buffer)), "the engine's own bits");
});
