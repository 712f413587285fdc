/**
 * Request ids (X-Request-Id) on every answer, in error bodies and in the access log; LOG_FORMAT's
 * line shape. A whole server's logs in json-iso: test/process/log-format.test.ts.
 */
import { createServer } from "node:http";
import { connect } from "node:net";
import { Writable } from "node:stream";
import t from "tap";
import { createLogger } from "../../config/logger.js";
import { errorBody, OverloadedError } from "../../workers/http/errors.js";
import { MAX_REQUEST_ID_LENGTH, requestId } from "../../workers/http/request-id.js";
import { shedGate } from "../../workers/http/shed-gate.js";
import { WorkerMetrics } from "../../workers/process/metrics.js";
import { testApp } from "../helpers/app.js";
import { SCRIPTED_THREAD, scriptedRow } from "../helpers/threads.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ROW = { height: 180, weight: 80, shoe_size: 44 };

/** Log lines written to memory, parsed. */
function memoryLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

t.test("an id is kept when plain and short, else replaced by a UUID", async (t) => {
  for (const kept of [
    "abc-123",
    "0f8fad5b-d9cb-469f-a165-70867728950e",
    "Root=1-5759e988-bd862e3f:x/y+z=",
    "a".repeat(MAX_REQUEST_ID_LENGTH),
  ]) {
    t.equal(requestId(kept), kept, `kept: ${kept.slice(0, 40)}`);
  }
  for (const replaced of [
    undefined,
    "",
    "a b",
    'a"b',
    "a\\b",
    "é",
    "a".repeat(MAX_REQUEST_ID_LENGTH + 1),
    ["a", "b"],
  ]) {
    t.match(requestId(replaced), UUID, `replaced: ${JSON.stringify(replaced)?.slice(0, 40)}`);
  }
  t.not(requestId(undefined), requestId(undefined), "each made id is new");
});

t.test("every answer carries X-Request-Id; every error body its requestId", async (t) => {
  const log = memoryLog();
  const { app, close } = await testApp(
    [],
    { ACCESS_LOG: "on" },
    { logger: createLogger({ log_level: "info", log_format: "json" }, {}, log.stream) },
  );
  t.teardown(close);
  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method: "POST",
      url,
      payload: JSON.stringify(payload),
      headers: { "content-type": "application/json", ...headers },
    });

  const made = await post("/predict", ROW);
  t.equal(made.statusCode, 200);
  t.match(made.headers["x-request-id"], UUID, "made when absent");
  const given = await post("/predict", ROW, { "x-request-id": "client-42" });
  t.equal(given.headers["x-request-id"], "client-42", "the caller's id is returned");
  const odd = await post("/predict", ROW, { "x-request-id": "x".repeat(300) });
  t.match(odd.headers["x-request-id"], UUID, "an over-long id is replaced");
  t.match((await app.inject("/healthz")).headers["x-request-id"], UUID, "operational routes too");

  const cases: [string, Promise<Awaited<ReturnType<typeof app.inject>>>, number][] = [
    ["invalid input", post("/predict", { instances: [["x"]] }, { "x-request-id": "e-400" }), 400],
    [
      "invalid JSON",
      app.inject({
        method: "POST",
        url: "/predict",
        payload: "{",
        headers: { "content-type": "application/json", "x-request-id": "e-json" },
      }),
      400,
    ],
    [
      "unsupported media type",
      app.inject({
        method: "POST",
        url: "/predict",
        payload: "x",
        headers: { "content-type": "text/plain", "x-request-id": "e-415" },
      }),
      415,
    ],
    ["no such route", app.inject({ url: "/nowhere", headers: { "x-request-id": "e-404" } }), 404],
    [
      "OIP: unknown model",
      post(
        "/v2/models/nope/infer",
        { inputs: [{ name: "x", shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }] },
        { "x-request-id": "e-oip" },
      ),
      404,
    ],
    [
      "OIP: invalid input",
      post(
        "/v2/models/default/infer",
        { inputs: [{ name: "x", shape: [1, 1], datatype: "FP32", data: [1] }] },
        { "x-request-id": "e-oip-400" },
      ),
      400,
    ],
    [
      "URL too long",
      app.inject({ url: `/predict?${"a".repeat(9000)}`, headers: { "x-request-id": "e-414" } }),
      414,
    ],
  ];
  for (const [what, pending, status] of cases) {
    const r = await pending;
    t.equal(r.statusCode, status, `${what}: ${status}`);
    const id = r.headers["x-request-id"];
    t.match(id, /^e-/, `${what}: the caller's id in the header`);
    t.equal(r.json().requestId, id, `${what}: and in the body`);
  }

  const access = log.lines.filter((l) => l.log === "access");
  t.equal(access.length, 4 + cases.length, "one access line per request");
  t.match(access[1], { request_id: "client-42", path: "/predict", status: 200, level: 30, time: Number });
  t.match(
    access.find((l) => l.status === 404),
    { request_id: "e-404" },
  );
});

t.test("request.log, made only when a request logs: a failed scoring's error line has its id", async (t) => {
  const log = memoryLog();
  const { app, close } = await testApp(
    [],
    {},
    {
      threadFile: SCRIPTED_THREAD,
      logger: createLogger({ log_level: "info", log_format: "json" }, { pid: 1 }, log.stream),
    },
  );
  t.teardown(close);
  const failed = await app.inject({
    method: "POST",
    url: "/predict",
    payload: JSON.stringify({ instances: [scriptedRow("fail", 3)] }),
    headers: { "content-type": "application/json", "x-request-id": "fail-7" },
  });
  t.equal(failed.statusCode, 503);
  t.equal(failed.json().code, "FORESTD_ERR_SCORING_FAILED");
  const errors = log.lines.filter((l) => l.level === 50);
  t.equal(errors.length, 1, "one error line");
  t.match(
    errors[0],
    { request_id: "fail-7", pid: 1, code: "FORESTD_ERR_SCORING_FAILED" },
    "with the request's id",
  );
  t.notOk(
    log.lines.some((l) => l.level !== 50 && l.request_id !== undefined && l.log !== "access"),
    "and no other request line",
  );
});

t.test("malformed HTTP, answered before any request exists, still gets an id", async (t) => {
  const { app, close } = await testApp();
  t.teardown(close);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () =>
      socket.end("GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"),
    );
    let text = "";
    socket.on("data", (d) => {
      text += d;
    });
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
  t.match(answer, /^HTTP\/1\.1 400 /);
  const id = /\r\nx-request-id: ([^\r]+)\r\n/.exec(answer)?.[1];
  t.match(id, UUID, "a made id in the header");
  t.match(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)), {
    code: "FORESTD_ERR_BAD_REQUEST",
    requestId: id,
  });
});

t.test("the shed gate's 503 carries an id too", async (t) => {
  const metrics = new WorkerMetrics({ queueRows: () => 0, poolUtilization: () => 0 });
  const server = createServer(shedGate(() => false, metrics)((_q, s) => s.end()));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  for (const [path, oip] of [
    ["/predict", false],
    ["/v2/models/default/infer", true],
  ] as const) {
    for (const [sent, expected] of [
      ["shed-1", /^shed-1$/],
      [undefined, UUID],
      ["bad id", UUID],
      ["a".repeat(MAX_REQUEST_ID_LENGTH), /^a{128}$/],
    ] as const) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, {
        method: "POST",
        body: "{}",
        headers: sent ? { "x-request-id": sent } : {},
      });
      t.equal(r.status, 503);
      t.equal(r.headers.get("retry-after"), "1");
      const id = r.headers.get("x-request-id") ?? "";
      t.match(id, expected, `${path}: header for ${sent?.slice(0, 20)}`);
      const text = await r.text();
      t.equal(Number(r.headers.get("content-length")), Buffer.byteLength(text), "content-length right");
      // The gate's pre-built body is exactly what errors.ts's errorBody gives, with this id.
      const error = new OverloadedError("the scoring queue is full (MAX_QUEUE_WAIT); try again shortly");
      t.same(JSON.parse(text), errorBody(error, 503, oip, id), `${path}: the shared error body`);
    }
  }
});

t.test("LOG_FORMAT=json-iso writes ISO times and level names; json pino's own", async (t) => {
  for (const [format, time, level] of [
    ["json-iso", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, "warn"],
    ["json", Number, 40],
  ] as const) {
    const log = memoryLog();
    createLogger({ log_level: "info", log_format: format }, { pid: 1 }, log.stream).warn({ x: 1 }, "hi");
    await new Promise((r) => setImmediate(r));
    t.match(log.lines, [{ time, level, pid: 1, x: 1, msg: "hi" }], format);
  }
});
