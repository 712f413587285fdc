/**
 * Every code docs/errors.md promises, provoked through real HTTP on a real socket (one worker app,
 * one scripted scoring thread that holds, fails or answers garbage on cue), checking what a client
 * sees: status, code, the body's shape (with its requestId, also in X-Request-Id), Retry-After on
 * every 503 and only there. The list of codes provoked must be the list declared: a new error
 * without a case here fails this test.
 */
import { STATUS_CODES } from "node:http";
import t from "tap";
import { HTTP_ERRORS } from "../../workers/http/errors.js";
import { modelSet, modelSpec, scriptedApp, testApp } from "../helpers/app.js";
import { mlflowFolder } from "../helpers/mlflow-fixtures.js";
import { type RawAnswer, rawPost, rawRequest } from "../helpers/raw-http.js";
import { scriptedRow } from "../helpers/threads.js";

const ROW = [180, 80, 44];

t.test("every documented error code, through real HTTP", async (t) => {
  const { app, served, setReady, threads, table } = await scriptedApp(t, [
    "--threads",
    "1",
    "--max-queue",
    "2",
    "--max-request-rows",
    "10",
    "--body-limit",
    "2048",
    "--max-url-length",
    "200",
    "--headers-timeout",
    "1",
    "--timeout",
    "1",
  ]);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  const width = served.model.numFeature;
  const send = (bytes: Buffer | string, waitMs?: number) => rawRequest(port, bytes, waitMs);
  const predict = (body: unknown, headers: Record<string, string> = {}) =>
    send(rawPost("/predict", JSON.stringify(body), { "content-type": "application/json", ...headers }));
  const infer = (body: unknown, model = served.name) =>
    send(rawPost(`/v2/models/${model}/infer`, JSON.stringify(body)));
  const tensor = (rows: number[][]) => ({
    name: "x",
    shape: [rows.length, width],
    datatype: "FP32",
    data: rows.flat(),
  });

  const seen = new Set<string>();
  /** The answer is the documented error: status, code, body shape, headers. */
  const expectError = (
    what: string,
    answer: RawAnswer,
    code: string,
    extra: Record<string, unknown> = {},
  ) => {
    const spec = HTTP_ERRORS.find((e) => e.code === code);
    t.ok(spec, `${code} is declared`);
    const status = spec?.status ?? 0;
    seen.add(code);
    t.equal(answer.status, status, `${what}: status ${status}`);
    t.match(answer.headers["content-type"], /^application\/json/, `${what}: JSON`);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(answer.body);
    } catch {
      t.fail(`${what}: body is not JSON: ${answer.body.slice(0, 80)}`);
    }
    const oip = what.startsWith("OIP");
    t.same(
      Object.keys(body).sort(),
      ["code", "error", "message", "requestId", "statusCode", ...Object.keys(extra)].sort(),
      `${what}: body shape`,
    );
    // Whichever path answered (Fastify, the shed gate, Node's clientError): the id in the header.
    t.match(body.requestId, /^\S+$/, `${what}: a request id`);
    t.equal(answer.headers["x-request-id"], body.requestId, `${what}: X-Request-Id is the body's requestId`);
    t.match(
      body,
      { statusCode: status, code, message: /\S/, error: oip ? body.message : STATUS_CODES[status], ...extra },
      `${what}: ${code}`,
    );
    t.equal(answer.headers["retry-after"], status === 503 ? "1" : undefined, `${what}: Retry-After iff 503`);
  };

  expectError("bad row", await predict({ instances: [[1, "x", 3]] }), "FORESTD_ERR_INVALID_INPUT", {
    row: 0,
    field: "weight",
  });
  expectError("broken JSON", await send(rawPost("/predict", '{"instances": [')), "FORESTD_ERR_INVALID_JSON");
  expectError("garbage request line", await send("GARBAGE\r\n\r\n"), "FORESTD_ERR_BAD_REQUEST");
  expectError(
    "unknown route",
    await send("GET /nowhere HTTP/1.1\r\nhost: x\r\n\r\n"),
    "FORESTD_ERR_NOT_FOUND",
  );
  expectError(
    "GET on /predict",
    await send("GET /predict HTTP/1.1\r\nhost: x\r\n\r\n"),
    "FORESTD_ERR_NOT_FOUND",
  );
  expectError(
    "OIP unknown model, empty inputs",
    await infer({ inputs: [] }, "other"),
    "FORESTD_ERR_MODEL_NOT_FOUND",
  );
  expectError(
    "headers never finished",
    await send("POST /predict HTTP/1.1\r\nhost: x\r\n", 5000),
    "FORESTD_ERR_CLIENT_TIMEOUT",
  );
  expectError(
    "body over BODY_LIMIT",
    await predict({ instances: Array.from({ length: 200 }, () => ROW) }),
    "FORESTD_ERR_BODY_TOO_LARGE",
  );
  expectError(
    "rows over MAX_REQUEST_ROWS",
    await predict({ instances: Array.from({ length: 11 }, () => ROW) }),
    "FORESTD_ERR_TOO_MANY_ROWS",
  );
  expectError(
    "OIP rows over MAX_REQUEST_ROWS",
    await infer({ inputs: [tensor(Array.from({ length: 11 }, () => ROW))] }),
    "FORESTD_ERR_TOO_MANY_ROWS",
  );
  expectError(
    "URL over MAX_URL_LENGTH",
    await send(rawPost(`/predict?${"a".repeat(300)}`, JSON.stringify({ instances: [ROW] }))),
    "FORESTD_ERR_URL_TOO_LONG",
  );
  expectError(
    "text/plain",
    await send(rawPost("/predict", "height=180", { "content-type": "text/plain" })),
    "FORESTD_ERR_UNSUPPORTED_MEDIA_TYPE",
  );
  expectError(
    "head over MAX_HEADER_SIZE",
    await send(
      rawPost("/predict", "{}", { "content-type": "application/json", "x-filler": "a".repeat(20_000) }),
    ),
    "FORESTD_ERR_HEADERS_TOO_LARGE",
  );
  expectError(
    "a thread answering garbage",
    await predict({ instances: [scriptedRow("garbage", width)] }),
    "FORESTD_ERR_INTERNAL",
  );
  expectError(
    "a failing thread",
    await predict({ instances: [scriptedRow("fail", width)] }),
    "FORESTD_ERR_SCORING_FAILED",
  );
  t.equal((await predict({ instances: [ROW] })).status, 200, "the next request is scored");

  // /invocations answers MLflow's body ({"error_code", "message"}; a 415 in text/plain), its
  // request id in the header only.
  const invocations = (body: string, type = "application/json") =>
    send(rawPost("/invocations", body, { "content-type": type }));
  const expectMlflowError = (what: string, answer: RawAnswer, code: string, errorCode: string | null) => {
    const spec = HTTP_ERRORS.find((e) => e.code === code);
    t.ok(spec, `${code} is declared`);
    seen.add(code);
    t.equal(answer.status, spec?.status, `${what}: status ${spec?.status}`);
    t.match(answer.headers["x-request-id"], /^\S+$/, `${what}: X-Request-Id`);
    if (errorCode === null) {
      t.match(answer.headers["content-type"], /^text\/plain/, `${what}: MLflow's text/plain`);
      return;
    }
    const body = JSON.parse(answer.body);
    t.same(Object.keys(body).sort(), ["error_code", "message"], `${what}: MLflow's body`);
    t.equal(body.error_code, errorCode, `${what}: ${errorCode}`);
  };
  expectMlflowError(
    "/invocations: not JSON",
    await invocations("{"),
    "FORESTD_ERR_MLFLOW_BAD_REQUEST",
    "BAD_REQUEST",
  );
  expectMlflowError(
    "/invocations: a missing column",
    await invocations(JSON.stringify({ dataframe_records: [{ height: 180 }] })),
    "FORESTD_ERR_MLFLOW_BAD_REQUEST",
    "BAD_REQUEST",
  );
  expectMlflowError(
    "/invocations: text/plain",
    await invocations("height\n180", "text/plain"),
    "FORESTD_ERR_MLFLOW_UNSUPPORTED_MEDIA_TYPE",
    null,
  );

  setReady(false);
  expectError(
    "/readyz while draining",
    await send("GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n"),
    "FORESTD_ERR_NOT_READY",
  );
  expectError(
    "OIP readiness while draining",
    await send("GET /v2/health/ready HTTP/1.1\r\nhost: x\r\n\r\n"),
    "FORESTD_ERR_NOT_READY",
  );
  setReady(true);

  // The one thread held: the batcher's own answers.
  const held = predict({ instances: [scriptedRow("hold", width)] });
  await threads.held(1);
  const queueFull = await predict({ instances: [ROW, ROW, ROW] });
  expectError("more rows waiting than MAX_QUEUE", queueFull, "FORESTD_ERR_OVERLOADED");
  t.match(JSON.parse(queueFull.body).message, /too many rows waiting/, "the batcher's answer");
  expectError(
    "deadline passed in the queue",
    await predict({ instances: [ROW] }, { "x-request-timeout-ms": "200" }),
    "FORESTD_ERR_DEADLINE",
  );
  expectError(
    "OIP deadline passed in the queue",
    await infer({ parameters: { timeout: 200 }, inputs: [tensor([ROW])] }),
    "FORESTD_ERR_DEADLINE",
  );
  threads.release();
  t.equal((await held).status, 200, "the held request is answered once released");

  // The shed gate: the thread held again with rows waiting behind it that are expected to take
  // longer than MAX_QUEUE_WAIT (a slow thread taught the rate). A request whose body is not even
  // finished is answered at once: only the gate, before Fastify reads bodies, can do that.
  t.equal((await predict({ instances: [scriptedRow("slow", width)] })).status, 200, "a slow task");
  const heldAgain = predict({ instances: [scriptedRow("hold", width)] });
  await threads.held(2);
  const waiting = predict({ instances: [ROW] });
  const unfinished = await send(
    rawPost("/predict", '{"instances": [[1', { "content-type": "application/json" }, 1000),
  );
  expectError("shed at the gate", unfinished, "FORESTD_ERR_OVERLOADED");
  t.match(JSON.parse(unfinished.body).message, /MAX_QUEUE_WAIT/, "the gate's answer");
  const shedInvocations = await send(
    rawPost("/invocations", '{"inputs": [[1', { "content-type": "application/json" }, 1000),
  );
  t.equal(shedInvocations.status, 503, "/invocations shed at the gate: 503");
  t.same(
    JSON.parse(shedInvocations.body),
    {
      error_code: "TEMPORARILY_UNAVAILABLE",
      message: "the scoring queue is full (MAX_QUEUE_WAIT); try again shortly",
    },
    "in MLflow's shape",
  );
  t.equal(shedInvocations.headers["retry-after"], "1");
  threads.release();
  t.equal((await heldAgain).status, 200);
  t.equal((await waiting).status, 200, "the rows that waited are scored");

  // Last, as it costs the thread: one stuck past TIMEOUT is terminated and its request answered.
  expectError(
    "a thread stuck past TIMEOUT",
    await predict({ instances: [scriptedRow("hang", width)] }),
    "FORESTD_ERR_DEADLINE",
  );
  t.equal((await predict({ instances: [ROW] })).status, 200, "scoring goes on on a new thread");

  // Versions and models this worker does not serve: a version the model lacks, a model the
  // primary lists as loading that this worker has not loaded, and /predict without a default.
  expectError(
    "OIP infer at a version the model does not have",
    await send(
      rawPost(`/v2/models/${served.name}/versions/999/infer`, JSON.stringify({ inputs: [tensor([ROW])] })),
    ),
    "FORESTD_ERR_MODEL_VERSION_NOT_FOUND",
  );
  const same = modelSpec(served.file, served.name, { version: served.version }, served.config);
  await table.apply({
    ...modelSet([same], null, 2),
    index: [...table.index(), { name: "pending", version: "1", state: "LOADING", reason: "" }],
  });
  expectError(
    "OIP infer of a model not loaded yet",
    await infer({ inputs: [tensor([ROW])] }, "pending"),
    "FORESTD_ERR_MODEL_NOT_READY",
  );
  expectError(
    "/predict with no default model",
    await predict({ instances: [ROW] }),
    "FORESTD_ERR_NO_DEFAULT_MODEL",
  );

  // The signature's refusal needs an MLflow folder with one: a second app.
  const folder = await testApp(["--model", mlflowFolder("xgboost-booster-binary"), "--threads", "1"]);
  t.teardown(folder.close);
  await folder.app.listen({ host: "127.0.0.1", port: 0 });
  expectMlflowError(
    "/invocations: a column the signature requires, missing",
    await rawRequest(
      (folder.app.server.address() as { port: number }).port,
      rawPost("/invocations", JSON.stringify({ dataframe_records: [{ age: 30 }] })),
    ),
    "FORESTD_ERR_MLFLOW_INVALID_PARAMETER_VALUE",
    "INVALID_PARAMETER_VALUE",
  );

  t.same(
    [...seen].sort(),
    HTTP_ERRORS.map((e) => e.code).sort(),
    "every declared code was provoked (a new one needs its case here)",
  );
});
