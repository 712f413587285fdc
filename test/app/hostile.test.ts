/**
 * Hostile requests over real sockets: every one gets a 4xx JSON answer with a FORESTD_ERR_* code,
 * none a 500, a crash, a hang or a changed prototype, and the server keeps serving.
 */
import t from "tap";
import { testApp } from "../helpers/app.js";
import { hostileJsonBodies, VALID_BODY } from "../helpers/hostile-bodies.js";
import { rawPost, rawRequest } from "../helpers/raw-http.js";

/** Answers status 0 for a hang, so one bad case does not stop the others. */
const raw = (port: number, bytes: Buffer | string, waitMs = 5000) =>
  rawRequest(port, bytes, waitMs).catch((error: Error) => ({ status: 0, headers: {}, body: error.message }));
const post = (path: string, body: Buffer | string, headers?: Record<string, string>) =>
  rawPost(path, body, headers);

const VALID = VALID_BODY;

function corpus(): [string, Buffer | string, number?][] {
  const cases: [string, Buffer | string, number?][] = [];
  const json = (name: string, body: string, path = "/predict") => cases.push([name, post(path, body)]);
  for (const [name, body] of hostileJsonBodies()) json(name, body);
  cases.push([
    "invalid UTF-8 in a key",
    post(
      "/predict",
      Buffer.concat([Buffer.from('{"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('": 1}')]),
    ),
  ]);
  cases.push([
    "invalid UTF-8 outside strings",
    post(
      "/predict",
      Buffer.concat([Buffer.from('{"height": '), Buffer.from([0xff, 0xfe]), Buffer.from("}")]),
    ),
  ]);
  cases.push([
    "Content-Length shorter than the body",
    `POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n${VALID}`,
  ]);
  cases.push([
    "Content-Length longer than the body",
    `POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n${VALID}`,
    8000,
  ]);
  cases.push([
    "bad Content-Length",
    `POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ten\r\n\r\n${VALID}`,
  ]);
  cases.push([
    "two Content-Lengths",
    `POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n${VALID}`,
  ]);
  for (const type of [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "image/png",
  ]) {
    cases.push([`Content-Type ${type}`, post("/predict", VALID, { "content-type": type })]);
  }
  cases.push(["no Content-Type", post("/predict", VALID, {})]);
  cases.push(["empty body", post("/predict", "")]);
  cases.push([
    "huge header",
    post("/predict", VALID, { "content-type": "application/json", "x-filler": "a".repeat(20_000) }),
  ]);
  cases.push(["URL too long", post(`/predict?${"a".repeat(9000)}`, VALID)]);
  cases.push(["malformed request line", "GARBAGE\r\n\r\n"]);
  cases.push(["bad HTTP version", "POST /predict HTTP/9.9\r\nhost: x\r\n\r\n"]);
  cases.push(["header without colon", "POST /predict HTTP/1.1\r\nhost x\r\n\r\n"]);
  cases.push([
    "too many rows",
    post("/predict", JSON.stringify({ instances: Array.from({ length: 2001 }, () => [1, 2, 3]) })),
  ]);
  cases.push([
    "bad X-Request-Timeout-Ms",
    post("/predict", VALID, { "content-type": "application/json", "x-request-timeout-ms": "soon" }),
  ]);
  cases.push(["bad output query", post("/predict?output=everything", VALID)]);
  cases.push(["GET on /predict", "GET /predict HTTP/1.1\r\nhost: x\r\n\r\n"]);
  cases.push(["unknown route", "GET /admin HTTP/1.1\r\nhost: x\r\n\r\n"]);
  const infer = (name: string, body: unknown) =>
    cases.push([`OIP ${name}`, post("/v2/models/default/infer", JSON.stringify(body))]);
  infer("no inputs", { inputs: [] });
  infer("wrong datatype", {
    inputs: [{ name: "x", shape: [1, 3], datatype: "BYTES", data: ["a", "b", "c"] }],
  });
  infer("shape mismatch", { inputs: [{ name: "x", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }] });
  infer("data too short", { inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", data: [1, 2, 3] }] });
  infer("strings in data", {
    inputs: [{ name: "x", shape: [1, 3], datatype: "FP32", data: ["1", "2", "3"] }],
  });
  infer("nested too deep", { inputs: [{ name: "x", shape: [1, 3], datatype: "FP32", data: [[[1, 2, 3]]] }] });
  infer("negative shape", { inputs: [{ name: "x", shape: [-1, 3], datatype: "FP32", data: [1, 2, 3] }] });
  infer("bad timeout", {
    parameters: { timeout: -5 },
    inputs: [{ name: "x", shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }],
  });
  cases.push(["OIP unknown model", post("/v2/models/other/infer", JSON.stringify({ inputs: [] }))]);
  return cases;
}

t.test("every hostile request gets a 4xx JSON answer; the server keeps serving", async (t) => {
  const { app, close } = await testApp([
    "--max-request-rows",
    "2000",
    "--client-timeout",
    "3",
    "--headers-timeout",
    "3",
  ]);
  t.teardown(close);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  const cases = corpus();
  t.ok(cases.length >= 50, `${cases.length} hostile requests`);
  for (const [name, bytes, waitMs] of cases) {
    const answer = await raw(port, bytes, waitMs);
    t.ok(answer.status >= 400 && answer.status < 500, `${name}: ${answer.status}`);
    let code = "";
    try {
      code = (JSON.parse(answer.body) as { code: string }).code;
    } catch {
      code = `not JSON: ${answer.body.slice(0, 60)}`;
    }
    t.match(code, /^FORESTD_ERR_/, `${name}: ${code}`);
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, "Object.prototype untouched");
  const ok = await raw(port, post("/predict", VALID));
  t.equal(ok.status, 200, "still serving");
});
