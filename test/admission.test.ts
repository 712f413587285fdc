/** Admission control: deadlines, the queue bound, and shedding under event-loop pressure. */
import t from "tap";
import { testApp } from "./helpers/app.js";

const ROW = { height: 180, weight: 80, shoe_size: 44 };

t.test("rows whose deadline passes while they wait are not scored: 504", async (t) => {
  const { app, batcher, served, metrics, close } = await testApp(["--threads", "1"]);
  t.teardown(close);
  const busy = batcher.submit(new Float32Array(served.model.numFeature), 1, false, Number.POSITIVE_INFINITY, {
    hangMs: 1500,
  });
  await new Promise((r) => setTimeout(r, 100));
  // The one thread is busy: the batcher holds this request, and it asks for 200 ms.
  const rowsBefore = (await metrics.rows.get()).values.reduce((n, v) => n + v.value, 0); // batcher-direct rows are not counted
  const started = Date.now();
  const r = await app.inject({
    method: "POST",
    url: "/predict",
    payload: ROW,
    headers: { "x-request-timeout-ms": "200" },
  });
  const took = Date.now() - started;
  t.equal(r.statusCode, 504);
  t.equal(r.json().code, "FORESTD_ERR_DEADLINE");
  t.ok(took >= 190 && took < 1000, `answered after ${took} ms, not after the busy task`);
  await busy;
  const rowsAfter = (await metrics.rows.get()).values.reduce((n, v) => n + v.value, 0);
  t.equal(rowsAfter, rowsBefore, "its rows were never scored");
  const ok = await app.inject({
    method: "POST",
    url: "/predict",
    payload: ROW,
    headers: { "x-request-timeout-ms": "5000" },
  });
  t.equal(ok.statusCode, 200, "with time to spare it is scored");
  const oip = await app.inject({
    method: "POST",
    url: "/v2/models/default/infer",
    payload: {
      parameters: { timeout: 0 },
      inputs: [{ name: "x", shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }],
    },
  });
  t.equal(oip.statusCode, 400, "OIP parameters.timeout must be positive");
});

t.test("beyond MAX_QUEUE rows waiting: 503 with Retry-After, counted", async (t) => {
  const { app, batcher, served, close } = await testApp(["--threads", "1", "--max-queue", "2"]);
  t.teardown(close);
  const busy = batcher.submit(new Float32Array(served.model.numFeature), 1, false, Number.POSITIVE_INFINITY, {
    hangMs: 800,
  });
  await new Promise((r) => setTimeout(r, 100));
  const rows = Array.from({ length: 4 }, () => [1, 2, 3]);
  const shed = await app.inject({ method: "POST", url: "/predict", payload: { instances: rows } });
  t.equal(shed.statusCode, 503);
  t.equal(shed.headers["retry-after"], "1");
  t.equal(shed.json().code, "FORESTD_ERR_OVERLOADED");
  await busy;
  t.match((await app.inject("/metrics")).body, /forestd_rejected_total\{reason="overload"\} 1/);
});

t.test("event-loop pressure sheds predictions and turns readiness false, then recovers", async (t) => {
  const { app, close } = await testApp(["--max-event-loop-delay", "10"]);
  t.teardown(close);
  await app.ready();
  await new Promise((r) => setTimeout(r, 2100)); // past the warm-up of a fresh worker
  t.equal((await app.inject({ method: "POST", url: "/predict", payload: ROW })).statusCode, 200);
  const until = Date.now() + 1500;
  while (Date.now() < until) {
    // Block the event loop, as a burst of work would.
  }
  // The plugin samples the delay every 250 ms: poll until the sample shows the pressure.
  let shed: Awaited<ReturnType<typeof app.inject>> | undefined;
  let readyWhileShedding = 0;
  let aliveWhileShedding = 0;
  for (let i = 0; i < 40 && !shed; i++) {
    const r = await app.inject({ method: "POST", url: "/predict", payload: ROW });
    if (r.statusCode === 503) {
      shed = r;
      readyWhileShedding = (await app.inject("/readyz")).statusCode;
      aliveWhileShedding = (await app.inject("/healthz")).statusCode;
    } else await new Promise((r) => setTimeout(r, 10));
  }
  t.ok(shed, "prediction shed");
  t.equal(shed?.json().code, "FORESTD_ERR_OVERLOADED");
  t.ok(shed?.headers["retry-after"], "Retry-After");
  t.equal(readyWhileShedding, 503, "not ready under pressure");
  t.equal(aliveWhileShedding, 200, "but alive");
  let recovered = false;
  for (let i = 0; i < 60 && !recovered; i++) {
    await new Promise((r) => setTimeout(r, 100));
    recovered = (await app.inject({ method: "POST", url: "/predict", payload: ROW })).statusCode === 200;
  }
  t.ok(recovered, "predictions accepted again once the pressure is gone");
  t.equal((await app.inject("/readyz")).statusCode, 200, "ready again");
});

t.test("the shed gate answers scoring POSTs 503 before Fastify while the queue is full", async (t) => {
  const { createServer } = await import("node:http");
  const { shedGate } = await import("../workers/shed-gate.js");
  const { WorkerMetrics } = await import("../workers/metrics.js");
  const metrics = new WorkerMetrics({ queueRows: () => 0, poolUtilization: () => 0 });
  let admitting = false;
  const passed: string[] = [];
  const server = createServer(
    shedGate(
      () => admitting,
      metrics,
    )((request, response) => {
      passed.push(`${request.method} ${request.url}`);
      response.end("through");
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const send = (method: string, path: string) =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      ...(method === "POST" ? { body: JSON.stringify({ instances: [[1, 2, 3]] }) } : {}),
    });
  for (const path of ["/predict", "/predict?output=margin", "/v2/models/default/infer"]) {
    const r = await send("POST", path);
    t.equal(r.status, 503, `POST ${path}: 503`);
    t.equal(r.headers.get("retry-after"), "1");
    t.match(await r.json(), { statusCode: 503, code: "FORESTD_ERR_OVERLOADED", message: /MAX_QUEUE_WAIT/ });
  }
  t.equal((await send("GET", "/healthz")).status, 200, "GET goes through");
  t.equal((await send("POST", "/nowhere")).status, 200, "an unknown route goes on (to Fastify's 404)");
  admitting = true;
  t.equal((await send("POST", "/predict")).status, 200, "admitting again: goes through");
  t.same(passed, ["GET /healthz", "POST /nowhere", "POST /predict"]);
  const rejected = await metrics.rejected.get();
  t.equal(rejected.values.find((v) => v.labels.reason === "overload")?.value, 3, "counted as overload");
});

t.test("Expect: 100-continue: turned away before the body is sent, or told to send it", async (t) => {
  const { createServer } = await import("node:http");
  const { connect } = await import("node:net");
  const { gateContinue, shedGate } = await import("../workers/shed-gate.js");
  const { WorkerMetrics } = await import("../workers/metrics.js");
  const metrics = new WorkerMetrics({ queueRows: () => 0, poolUtilization: () => 0 });
  let admitting = false;
  const server = createServer(
    shedGate(
      () => admitting,
      metrics,
    )((request, response) => {
      request.resume();
      request.on("end", () => response.end("through"));
    }),
  );
  gateContinue(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const body = JSON.stringify({ instances: [[1, 2, 3]] });
  /** Sends the head only; sends the body once told 100 Continue; resolves with all it read when the server closes or answers. */
  const exchange = () =>
    new Promise<string>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      let read = "";
      socket.write(
        `POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nexpect: 100-continue\r\n\r\n`,
      );
      socket.setEncoding("latin1").on("data", (d: string) => {
        read += d;
        if (read.startsWith("HTTP/1.1 100") && !read.includes("\r\n\r\nHTTP/1.1 ")) {
          if (read.endsWith("\r\n\r\n")) socket.write(body);
        }
        if (read.includes("through")) socket.end();
      });
      socket.on("close", () => resolve(read));
    });
  const refused = await exchange();
  t.match(refused, /^HTTP\/1\.1 503 /, "503 first, no 100 Continue");
  t.match(refused, /connection: close/i, "and the connection closes (the body was never sent)");
  t.match(refused, /retry-after: 1/i);
  admitting = true;
  const accepted = await exchange();
  t.match(accepted, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /, "100 Continue, then the answer");
});
