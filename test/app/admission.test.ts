/** Admission control: deadlines, the queue bound, and shedding under event-loop pressure. */
import { Agent, request as httpRequest } from "node:http";
import type { Test } from "tap";
import t from "tap";
import { jitteredHoldMs, STORM_STREAK_BEFORE_DOUBLING, stormHoldMs } from "../../workers/http/shed-gate.js";
import { scriptedApp, testApp } from "../helpers/app.js";
import { rawPost, rawRequest } from "../helpers/raw-http.js";
import { scriptedRow } from "../helpers/threads.js";

const ROW = { height: 180, weight: 80, shoe_size: 44 };
const ROW_VALUES = [180, 80, 44];

/**
 * A server (one thread, MAX_QUEUE_WAIT 0.05 s, no inline scoring, RETRY_STORM_DELAY `stormDelay` s)
 * listening on a loopback port, whose thread has learnt a rate of 1 s a row and is held with a row
 * waiting behind it: an expected wait of ~1 s, past MAX_QUEUE_WAIT, so nothing is admitted until
 * `threads.release()`. `held` and `waiting` are those two requests.
 */
async function heldServer(t: Test, stormDelay: string) {
  const harness = await scriptedApp(t, [
    "--threads",
    "1",
    "--max-queue-wait",
    "0.05",
    "--inline-scoring-max-us",
    "0",
    "--retry-storm-delay",
    stormDelay,
  ]);
  const { app, served, threads } = harness;
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  const width = served.model.numFeature;
  const predict = (rows: number[][]) =>
    rawRequest(port, rawPost("/predict", JSON.stringify({ instances: rows })));
  t.equal((await predict([scriptedRow("slow", width)])).status, 200);
  const held = predict([scriptedRow("hold", width)]);
  await threads.held();
  const waiting = predict([ROW_VALUES]);
  return { ...harness, port, predict, held, waiting };
}

/** One POST /predict of ROW_VALUES over `agent`: its status, how long it took, and whether it reused a socket. */
function timedPredict(port: number, agent: Agent): Promise<{ status: number; ms: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = httpRequest(
      {
        port,
        host: "127.0.0.1",
        method: "POST",
        path: "/predict",
        agent,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, reused: req.reusedSocket }),
        );
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ instances: [ROW_VALUES] }));
  });
}

/** Tasks the scoring threads ran, and the rows in them (the per-task batch histogram). */
async function tasksScored(metrics: Awaited<ReturnType<typeof testApp>>["metrics"]) {
  const values = (await metrics.batchRows.get()).values;
  const pick = (name: string) => values.find((v) => v.metricName === name)?.value ?? 0;
  return { tasks: pick("forestd_batch_rows_count"), rows: pick("forestd_batch_rows_sum") };
}

t.test("rows whose deadline passes while they wait are not scored: 504", async (t) => {
  // Inline scoring off: these requests must wait for the (held) thread.
  const { app, served, metrics, threads } = await scriptedApp(t, [
    "--threads",
    "1",
    "--inline-scoring-max-us",
    "0",
  ]);
  const width = served.model.numFeature;
  const busy = app.inject({
    method: "POST",
    url: "/predict",
    payload: { instances: [scriptedRow("hold", width)] },
  });
  await threads.held();
  // The one thread is held: the batcher keeps this request, and it asks for 200 ms.
  const r = await app.inject({
    method: "POST",
    url: "/predict",
    payload: ROW,
    headers: { "x-request-timeout-ms": "200" },
  });
  t.equal(r.statusCode, 504);
  t.equal(r.json().code, "FORESTD_ERR_DEADLINE");
  threads.release();
  t.equal((await busy).statusCode, 200, "the held request is answered");
  t.same(
    await tasksScored(metrics),
    { tasks: 1, rows: 1 },
    "one task ran, the held one: the 504's row never did",
  );
  const ok = await app.inject({
    method: "POST",
    url: "/predict",
    payload: ROW,
    headers: { "x-request-timeout-ms": "5000" },
  });
  t.equal(ok.statusCode, 200, "with time to spare it is scored");
  t.same(await tasksScored(metrics), { tasks: 2, rows: 2 });
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
  const { app, served, threads } = await scriptedApp(t, [
    "--threads",
    "1",
    "--max-queue",
    "2",
    "--inline-scoring-max-us",
    "0",
  ]);
  const busy = app.inject({
    method: "POST",
    url: "/predict",
    payload: { instances: [scriptedRow("hold", served.model.numFeature)] },
  });
  await threads.held();
  const rows = Array.from({ length: 4 }, () => [1, 2, 3]);
  const shed = await app.inject({ method: "POST", url: "/predict", payload: { instances: rows } });
  t.equal(shed.statusCode, 503);
  t.equal(shed.headers["retry-after"], "1");
  t.equal(shed.json().code, "FORESTD_ERR_OVERLOADED");
  threads.release();
  await busy;
  t.match((await app.inject("/metrics")).body, /forestd_rejected_total\{reason="overload"\} 1/);
});

t.test("event-loop pressure sheds predictions and turns readiness false, then recovers", async (t) => {
  const { app, close } = await testApp(["--max-event-loop-delay", "10"]);
  t.teardown(close);
  await app.ready();
  await new Promise((r) => setTimeout(r, 2100)); // past the warm-up of a fresh worker
  t.equal((await app.inject({ method: "POST", url: "/predict", payload: ROW })).statusCode, 200);
  const block = (ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // Block the event loop, as a burst of work would.
    }
  };
  block(1500);
  // The plugin samples the delay every 250 ms and the pressure lasts one sample: poll until a sample
  // shows it, blocking again now and then (a busy machine can let the one window pass unpolled).
  let shed: Awaited<ReturnType<typeof app.inject>> | undefined;
  let readyWhileShedding = 0;
  let aliveWhileShedding = 0;
  for (let i = 0; i < 120 && !shed; i++) {
    if (i > 0 && i % 40 === 0) block(1500);
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

t.test(
  "the shed gate, in a real server: scoring POSTs are answered 503 before their body is read",
  async (t) => {
    const { metrics, batcher, threads, port, predict, held, waiting } = await heldServer(t, "1");
    while (batcher.queuedRows === 0) await new Promise((r) => setImmediate(r));
    t.notOk(batcher.admitting, "the batcher is not admitting");

    // Each is sent with its body unfinished: only an answer before the body is read can arrive.
    const unfinished = (path: string) =>
      rawRequest(port, rawPost(path, '{"instances": [[1', { "content-type": "application/json" }, 1000));
    for (const path of ["/predict", "/predict?output=margin", "/v2/models/default/infer"]) {
      const r = await unfinished(path);
      t.equal(r.status, 503, `POST ${path}: 503`);
      t.equal(r.headers["retry-after"], "1");
      t.match(JSON.parse(r.body), {
        statusCode: 503,
        code: "FORESTD_ERR_OVERLOADED",
        message: /MAX_QUEUE_WAIT/,
      });
    }
    const get = await rawRequest(port, "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
    t.equal(get.status, 200, "GETs go through");
    const elsewhere = await rawRequest(port, rawPost("/nowhere", "{}"));
    t.equal(elsewhere.status, 404, "a POST to no scoring route goes on to Fastify's 404");

    // A client resending at once on its connection (a retry storm) is answered RETRY_STORM_DELAY
    // (1 s here) later; after waiting that long itself, at once again.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    const timed = () => timedPredict(port, agent);
    const first = await timed();
    t.equal(first.status, 503, "turned away");
    const again = await timed();
    t.ok(again.reused, "the same connection");
    t.equal(again.status, 503);
    t.ok(again.ms >= 990, `resent at once: held for RETRY_STORM_DELAY (${Math.round(again.ms)} ms)`);
    await new Promise((r) => setTimeout(r, 1100));
    const paced = await timed();
    t.equal(paced.status, 503);
    t.ok(paced.ms < 990, `resent after the delay: answered at once (${Math.round(paced.ms)} ms)`);

    threads.release();
    t.equal((await held).status, 200);
    t.equal((await waiting).status, 200, "the rows that waited are scored");
    t.ok(batcher.admitting, "admitting again");
    t.equal((await predict([ROW_VALUES])).status, 200, "and scoring");
    const rejected = await metrics.rejected.get();
    t.equal(rejected.values.find((v) => v.labels.reason === "overload")?.value, 6, "counted as overload");
    const requests = await metrics.requests.get();
    t.equal(
      requests.values.filter((v) => v.labels.status === "503").reduce((n, v) => n + v.value, 0),
      6,
      "and as 503 requests",
    );
  },
);

t.test(
  "a connection that keeps resending at once is held, then twice as long each time, up to Retry-After; one that waits is not",
  async (t) => {
    // As above: the thread held with a row waiting behind it, at 1 s a row: nothing is admitted.
    const { threads, port, held, waiting } = await heldServer(t, "0.05");
    await new Promise((r) => setTimeout(r, 20));

    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    const timed = () => timedPredict(port, agent);
    const first = await timed();
    t.equal(first.status, 503, "turned away");
    // Resent at once, again and again on the same connection: 50 ms eight times, then 100, 200, 400 ms
    // (each jittered down to half of it at most, never below 50 ms).
    for (const least of [50, 50, 50, 50, 50, 50, 50, 50, 50, 100, 200]) {
      const again = await timed();
      t.ok(again.reused && again.status === 503, "the same connection, turned away");
      t.ok(again.ms >= least - 10, `resent at once: held ${Math.round(again.ms)} ms (at least ${least})`);
    }
    // Waiting longer than RETRY_STORM_DELAY before resending ends the streak.
    await new Promise((r) => setTimeout(r, 100));
    const paced = await timed();
    t.equal(paced.status, 503);
    // (Its streak would have held this one 800 ms.)
    t.ok(paced.ms < 400, `resent after a pause: not held (${Math.round(paced.ms)} ms)`);
    threads.release();
    t.equal((await held).status, 200);
    t.equal((await waiting).status, 200);
  },
);

t.test(
  "the hold doubles with each resend at once past the eighth, from RETRY_STORM_DELAY up to 1 s (Retry-After)",
  async (t) => {
    t.equal(STORM_STREAK_BEFORE_DOUBLING, 8);
    t.same(
      [1, 2, 8, 9, 10, 11, 12, 13, 14, 15, 100].map((streak) => stormHoldMs(20, streak)),
      [20, 20, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000],
    );
    t.same(
      [1, 2, 3].map((streak) => stormHoldMs(1000, streak)),
      [1000, 1000, 1000],
      "a delay of 1 s holds 1 s each time",
    );
    t.same(
      [8, 9, 14, 100].map((streak) => [jitteredHoldMs(20, streak, 0), jitteredHoldMs(20, streak, 0.5)]),
      [
        [20, 20],
        [20, 30],
        [500, 750],
        [500, 750],
      ],
      "once doubling, a hold is jittered between half of it and all of it, never below the delay",
    );
  },
);

t.test("Expect: 100-continue: turned away before the body is sent, or told to send it", async (t) => {
  const { createServer } = await import("node:http");
  const { connect } = await import("node:net");
  const { gateContinue, shedGate } = await import("../../workers/http/shed-gate.js");
  const { WorkerMetrics } = await import("../../workers/process/metrics.js");
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

/**
 * A bare server behind the gate whose admission the test sets, and a client on one keep-alive
 * connection that times each answer from its request.
 */
async function gatedServer(t: Test, retryStormDelay: number) {
  const { createServer } = await import("node:http");
  const { shedGate } = await import("../../workers/http/shed-gate.js");
  const { WorkerMetrics } = await import("../../workers/process/metrics.js");
  const metrics = new WorkerMetrics({ queueRows: () => 0, poolUtilization: () => 0 });
  const gate = { admitting: false };
  const server = createServer(
    shedGate(
      () => gate.admitting,
      metrics,
      retryStormDelay,
    )((request, response) => {
      request.resume();
      request.on("end", () => response.end("through"));
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => {
    agent.destroy();
    server.close();
  });
  const { port } = server.address() as { port: number };
  /** One request on the connection; `afterSend` runs once it is sent (e.g. to block this loop). */
  const timed = (afterSend?: () => void): Promise<{ status: number; ms: number; reused: boolean }> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const req = httpRequest({ port, host: "127.0.0.1", method: "POST", path: "/predict", agent }, (res) => {
        res.resume();
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, reused: req.reusedSocket }),
        );
      });
      req.on("error", reject);
      req.end("{}", () => afterSend?.());
    });
  return { gate, timed };
}

t.test(
  "one request let through does not end a connection's streak of resends at once; a pause does, and so does a second let through in a row",
  async (t) => {
    const { gate, timed } = await gatedServer(t, 0.05);
    t.equal((await timed()).status, 503, "turned away");
    // Resent at once: 50 ms eight times, then 100, 200 ms (streak 10).
    for (let i = 0; i < 10; i++) t.equal((await timed()).status, 503);
    gate.admitting = true;
    const through = await timed();
    t.ok(through.reused && through.status === 200, "let through, on the same connection");
    gate.admitting = false;
    const after = await timed();
    t.ok(after.reused && after.status === 503, "turned away again");
    // Before, a request let through ended the streak and this 503 was answered at once: a flood
    // over many connections, each let through now and then, made ~6 rejections per request served.
    t.ok(
      after.ms >= 190,
      `resent at once after the 200: its streak goes on, held ${Math.round(after.ms)} ms (200–400, jittered)`,
    );
    await new Promise((r) => setTimeout(r, 200));
    const paced = await timed();
    t.equal(paced.status, 503);
    t.ok(
      paced.ms < 300,
      `resent after a pause: answered at once (${Math.round(paced.ms)} ms), not held 400–800 ms`,
    );
    // A new streak, then two requests let through in a row (resent at once): the connection is served again.
    for (let i = 0; i < 10; i++) await timed();
    gate.admitting = true;
    t.equal((await timed()).status, 200);
    t.equal((await timed()).status, 200);
    gate.admitting = false;
    const later = await timed();
    t.equal(later.status, 503);
    t.ok(
      later.ms < 150,
      `let through twice in a row: the streak is over, answered at once (${Math.round(later.ms)} ms)`,
    );
  },
);

t.test(
  "a resend at once is told from a paced one by the delay the event loop saw: a loop held up past RETRY_STORM_DELAY still holds it",
  async (t) => {
    const { timed } = await gatedServer(t, 0.2);
    t.equal((await timed()).status, 503, "turned away");
    t.ok((await timed()).ms >= 190, "resent at once: held");
    // Resent at once, but this loop (the server's too) is then held up 300 ms before it reads the
    // request: 300 ms after its last answer, longer than RETRY_STORM_DELAY's 200 ms.
    const blocked = await timed(() => {
      const until = performance.now() + 300;
      while (performance.now() < until);
    });
    t.ok(blocked.reused && blocked.status === 503, "turned away on the same connection");
    t.ok(
      blocked.ms >= 480,
      `held RETRY_STORM_DELAY after the 300 ms the loop was held up (${Math.round(blocked.ms)} ms), not answered at once as a paced client's`,
    );
    // A client that really waits (here longer than the delay and the loop's recent delay) is not held.
    await new Promise((r) => setTimeout(r, 700));
    const paced = await timed();
    t.equal(paced.status, 503);
    t.ok(paced.ms < 150, `resent after a pause: answered at once (${Math.round(paced.ms)} ms)`);
  },
);
