/**
 * `forestd serve` with GRPC_PORT, called by a real @grpc/grpc-js client built from the vendored
 * open_inference_grpc.proto over loopback: fixture models of every format (XGBoost, ONNX, LightGBM,
 * scikit-learn) in a model repository answer ModelInfer bit-identically to the HTTP JSON path, with
 * typed contents and with raw_input_contents / raw_output_contents; the metadata and health RPCs,
 * grpc.health.v1, request ids through metadata, the access log and the request metrics; bad input
 * gets INVALID_ARGUMENT / NOT_FOUND / RESOURCE_EXHAUSTED and the server goes on answering; one
 * long-lived connection's calls scored by both workers; with CERTFILE, gRPC over TLS with client
 * certificates as CERT_REQS says.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type Client, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import t from "tap";
import { healthService, oipService } from "../../workers/grpc/protos.js";
import { bits, decodeTensor, floatBytes, parityModels } from "../helpers/binary-tensors.js";
import { freePort, postJson, request, startServer, waitFor } from "../helpers/server.js";
import { testPki } from "../helpers/tls.js";

const MODELS = parityModels(5, 8);

type Call = (
  request: object,
  metadata: Metadata,
  options: object,
  callback: (error: ServiceError | null, value: never) => void,
) => unknown;

/** A unary RPC as a promise: the answer, or the error; and the answer's initial metadata. */
function rpc<T>(
  client: Client,
  method: string,
  message: object,
  metadata = new Metadata(),
  deadlineMs = 30_000,
) {
  return new Promise<{ value?: T; error?: ServiceError; metadata?: Metadata }>((resolve) => {
    let received: Metadata | undefined;
    const call = (client as unknown as Record<string, Call>)[method].call(
      client,
      message,
      metadata,
      { deadline: Date.now() + deadlineMs },
      (error: ServiceError | null, value: T) =>
        resolve(error ? { error, metadata: received } : { value, metadata: received }),
    ) as { on(event: "metadata", listener: (m: Metadata) => void): void };
    call.on("metadata", (m) => {
      received = m;
    });
  });
}

interface GrpcOutput {
  name: string;
  datatype: string;
  shape: string[];
  contents?: Record<string, unknown[]>;
}

/** An answer's output values: from raw_output_contents, else from the typed field of its datatype. */
function values(answer: { outputs: GrpcOutput[]; raw_output_contents: Buffer[] }, i: number): unknown[] {
  const o = answer.outputs[i];
  if (answer.raw_output_contents.length > 0) {
    return decodeTensor(o.datatype, answer.raw_output_contents[i]).map((v) =>
      typeof v === "bigint" ? Number(v) : v,
    );
  }
  const c = o.contents ?? {};
  switch (o.datatype) {
    case "FP32":
      return c.fp32_contents ?? [];
    case "FP64":
      return c.fp64_contents ?? [];
    case "INT32":
      return c.int_contents ?? [];
    case "INT64":
      return (c.int64_contents ?? []).map(Number);
    case "BYTES":
      return (c.bytes_contents as Buffer[]).map((b) => b.toString("utf8"));
    default:
      throw new Error(o.datatype);
  }
}

t.test("gRPC on GRPC_PORT: parity, metadata, health, ids, logs, metrics, bad input", async (t) => {
  const repo = mkdtempSync(join(tmpdir(), "forestd-grpc-"));
  t.teardown(() => rmSync(repo, { recursive: true, force: true }));
  for (const m of MODELS) {
    mkdirSync(join(repo, m.name));
    copyFileSync(m.path, join(repo, m.name, basename(m.path)));
  }
  const grpcPort = await freePort();
  const server = await startServer({
    MODEL_REPOSITORY: repo,
    GRPC_PORT: String(grpcPort),
    GRPC_MAX_MESSAGE_BYTES: String(1 << 20),
    WORKERS: "2",
    ACCESS_LOG: "on",
    MAX_EVENT_LOOP_DELAY: "0",
  });
  t.teardown(() => server.stop());
  const Oip = oipService();
  const client = new Oip(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  t.teardown(() => client.close());

  t.same((await rpc(client, "ServerLive", {})).value, { live: true }, "ServerLive");
  t.same((await rpc(client, "ServerReady", {})).value, { ready: true }, "ServerReady");
  const meta = (await rpc<{ name: string; extensions: string[] }>(client, "ServerMetadata", {})).value;
  t.equal(meta?.name, "forestd", "ServerMetadata");

  let compared = 0;
  for (const m of MODELS) {
    const ready = await rpc<{ ready: boolean }>(client, "ModelReady", { name: m.name });
    t.same(ready.value, { ready: true }, `${m.name} ModelReady`);
    const grpcMeta = (
      await rpc<{ name: string; outputs: { name: string }[]; inputs: unknown[] }>(client, "ModelMetadata", {
        name: m.name,
      })
    ).value;
    const httpMeta = (await request(`${server.url}/v2/models/${m.name}`)).json as {
      outputs: { name: string }[];
      platform: string;
    };
    t.same(
      grpcMeta?.outputs.map((o) => o.name),
      httpMeta.outputs.map((o) => o.name),
      `${m.name} ModelMetadata: the outputs HTTP lists`,
    );
    const outputs = httpMeta.outputs.map((o) => ({ name: o.name }));
    const nf = m.rows[0].length;
    for (const datatype of ["FP32", "FP64"] as const) {
      const shape = [m.rows.length, nf];
      const json = await postJson(`${server.url}/v2/models/${m.name}/infer`, {
        inputs: [{ name: "input-0", shape, datatype, data: m.rows }],
        outputs,
      });
      t.equal(json.status, 200, `${m.name} ${datatype} HTTP`);
      const expected = (
        json.json.outputs as { name: string; datatype: string; shape: number[]; data: unknown[] }[]
      ).map((o) => ({
        ...o,
        data: o.data.flat(3).map((v) => (v === null ? Number.NaN : v)) as number[],
      }));
      const flat = m.rows.flat().map((v) => (v === null ? Number.NaN : v));
      const typed = await rpc<{
        outputs: GrpcOutput[];
        raw_output_contents: Buffer[];
        model_name: string;
        id: string;
      }>(client, "ModelInfer", {
        model_name: m.name,
        id: "typed",
        inputs: [
          {
            name: "input-0",
            datatype,
            shape: shape.map(String),
            contents: datatype === "FP32" ? { fp32_contents: flat } : { fp64_contents: flat },
          },
        ],
        outputs,
      });
      const raw = await rpc<{ outputs: GrpcOutput[]; raw_output_contents: Buffer[] }>(client, "ModelInfer", {
        model_name: m.name,
        inputs: [{ name: "input-0", datatype, shape: shape.map(String) }],
        raw_input_contents: [floatBytes(m.rows, datatype)],
        outputs,
      });
      for (const [how, answer] of [
        ["typed", typed],
        ["raw", raw],
      ] as const) {
        t.notOk(answer.error, `${m.name} ${datatype} ${how}: ${answer.error?.details ?? "answered"}`);
        if (!answer.value) continue;
        t.same(
          answer.value.outputs.map((o) => [o.name, o.datatype, o.shape.map(Number)]),
          expected.map((o) => [o.name, o.datatype, o.shape]),
          `${m.name} ${datatype} ${how}: the same tensors as HTTP`,
        );
        t.equal(answer.value.raw_output_contents.length > 0, how === "raw", `${how} in, ${how} out`);
        for (const [i, o] of expected.entries()) {
          t.same(
            bits(values(answer.value, i) as number[]),
            bits(o.data),
            `${m.name} ${datatype} ${how} ${o.name}: the same bits`,
          );
          compared++;
        }
      }
      t.equal(typed.value?.id, "typed", "the id echoed");
    }
  }
  t.ok(compared >= MODELS.length * 4, `${compared} output tensors compared on ${MODELS.length} models`);

  // grpc.health.v1, as Kubernetes' gRPC probe calls it.
  const Health = healthService();
  const health = new Health(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  t.teardown(() => health.close());
  t.same(
    (await rpc(health, "Check", { service: "" })).value,
    { status: "SERVING" },
    "health: the server SERVING",
  );
  t.same(
    (await rpc(health, "Check", { service: "inference.GRPCInferenceService" })).value,
    { status: "SERVING" },
    "health: the OIP service SERVING",
  );
  t.equal(
    (await rpc(health, "Check", { service: "nope" })).error?.code,
    status.NOT_FOUND,
    "health: an unknown service NOT_FOUND",
  );

  // Request ids ride in metadata; the access line names the call.
  const m0 = MODELS[0];
  const nf0 = m0.rows[0].length;
  const withId = new Metadata();
  withId.set("x-request-id", "grpc-test-42");
  const named = await rpc(
    client,
    "ModelInfer",
    {
      model_name: m0.name,
      inputs: [{ name: "x", datatype: "FP32", shape: ["1", String(nf0)] }],
      raw_input_contents: [floatBytes([m0.rows[0]], "FP32")],
    },
    withId,
  );
  t.notOk(named.error, "an infer with a request id");
  t.equal(named.metadata?.get("x-request-id")[0], "grpc-test-42", "the request id sent back");
  await waitFor(() => server.events().some((e) => e.request_id === "grpc-test-42"), 5000);
  const line = server.events().find((e) => e.request_id === "grpc-test-42");
  t.match(
    line,
    {
      method: "GRPC",
      path: "/inference.GRPCInferenceService/ModelInfer",
      status: 200,
      grpc_status: "OK",
      rows: 1,
      model: m0.name,
    },
    "the access line",
  );

  // Bad input: a clear status each, and the server goes on.
  const bad = async (what: string, message: object, code: status, details: RegExp) => {
    const r = await rpc(client, "ModelInfer", message);
    t.equal(r.error?.code, code, `${what}: ${status[code]}`);
    t.match(r.error?.details ?? "", details, `${what}: says why (${r.error?.details})`);
  };
  const input = { name: "x", datatype: "FP32", shape: ["2", String(nf0)] };
  await bad(
    "raw bytes disagree with the shape",
    { model_name: m0.name, inputs: [input], raw_input_contents: [Buffer.alloc(12)] },
    status.INVALID_ARGUMENT,
    /has 12 bytes; shape \[2, \d+\] of FP32 is/,
  );
  await bad(
    "an unknown datatype",
    {
      model_name: m0.name,
      inputs: [{ ...input, datatype: "FP128" }],
      raw_input_contents: [Buffer.alloc(8 * nf0)],
    },
    status.INVALID_ARGUMENT,
    /datatype "FP128"/,
  );
  await bad(
    "a negative dimension",
    {
      model_name: m0.name,
      inputs: [{ ...input, shape: ["-2", String(nf0)] }],
      raw_input_contents: [Buffer.alloc(8 * nf0)],
    },
    status.INVALID_ARGUMENT,
    /shape\[0\] is -2/,
  );
  await bad(
    "an overflowing shape",
    {
      model_name: m0.name,
      inputs: [{ ...input, shape: ["4294967296", "4294967296"] }],
      raw_input_contents: [Buffer.alloc(8)],
    },
    status.INVALID_ARGUMENT,
    /more than 2147483647 elements/,
  );
  await bad(
    "too few typed values",
    { model_name: m0.name, inputs: [{ ...input, contents: { fp32_contents: [1, 2] } }] },
    status.INVALID_ARGUMENT,
    /has 2 values in fp32_contents/,
  );
  await bad(
    "raw and typed both",
    {
      model_name: m0.name,
      inputs: [{ ...input, contents: { fp32_contents: [1] } }],
      raw_input_contents: [Buffer.alloc(8 * nf0)],
    },
    status.INVALID_ARGUMENT,
    /contents as well as raw_input_contents/,
  );
  await bad("an unknown model", { model_name: "nope", inputs: [input] }, status.NOT_FOUND, /nope/);
  await bad(
    "an unknown output",
    {
      model_name: m0.name,
      inputs: [input],
      raw_input_contents: [floatBytes(m0.rows.slice(0, 2), "FP32")],
      outputs: [{ name: "nope" }],
    },
    status.INVALID_ARGUMENT,
    /nope/,
  );
  await bad(
    "a message past GRPC_MAX_MESSAGE_BYTES",
    { model_name: m0.name, inputs: [input], raw_input_contents: [Buffer.alloc(2 << 20)] },
    status.RESOURCE_EXHAUSTED,
    /larger than max|exceeds|max/i,
  );
  const after = await rpc(client, "ModelInfer", {
    model_name: m0.name,
    inputs: [input],
    raw_input_contents: [floatBytes(m0.rows.slice(0, 2), "FP32")],
  });
  t.notOk(after.error, "and a good call still answers");

  // The request metrics count gRPC calls like HTTP requests (method GRPC, route the RPC).
  const metrics = (await request(`${server.url}/metrics`)).text;
  t.match(
    metrics,
    /forestd_http_requests_total\{method="GRPC",route="\/inference.GRPCInferenceService\/ModelInfer",status="200"\} \d+/,
    "forestd_http_requests_total counts ModelInfer",
  );
  t.match(
    metrics,
    /forestd_http_requests_total\{method="GRPC",route="\/inference.GRPCInferenceService\/ModelInfer",status="400"\} \d+/,
  );
});

t.test("one long-lived connection, 32 calls in flight: both workers score (calls forwarded)", async (t) => {
  const m = MODELS.find((x) => x.name.startsWith("xgb-")) as (typeof MODELS)[number];
  const grpcPort = await freePort();
  const server = await startServer({
    MODEL_PATH: m.path,
    GRPC_PORT: String(grpcPort),
    GRPC_FORWARD_ROWS: "256",
    WORKERS: "2",
    THREADS: "1",
    ACCESS_LOG: "on",
    MAX_EVENT_LOOP_DELAY: "0",
  });
  t.teardown(() => server.stop());
  // Both workers serving: a link to a worker still booting is refused (and retried later).
  const workersReady = () =>
    new Set(
      server
        .events()
        .filter((e) => e.event === "worker_ready" && e.pid !== server.child.pid)
        .map((e) => e.pid),
    ).size;
  await waitFor(() => workersReady() === 2, 30_000);
  const client = new (oipService())(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  t.teardown(() => client.close());
  const nf = m.rows[0].length;
  // 2000 rows a call, cycling the fixture rows: enough work that one worker's thread is busy.
  const rows = Array.from({ length: 2000 }, (_, i) => m.rows[i % m.rows.length]);
  const message = {
    model_name: "",
    inputs: [{ name: "x", datatype: "FP32", shape: ["2000", String(nf)] }],
    raw_input_contents: [floatBytes(rows, "FP32")],
  };
  const expected = await postJson(
    `${server.url}/v2/models/${encodeURIComponent((await request(`${server.url}/model`)).json.name as string)}/infer`,
    {
      inputs: [{ name: "x", shape: [2000, nf], datatype: "FP32", data: rows }],
    },
  );
  const want = bits(
    (expected.json.outputs as { data: number[] }[])[0].data.map((v) => (v === null ? Number.NaN : v)),
  );
  let forwarded = 0;
  const workersSeen = new Set<unknown>();
  for (let round = 0; round < 5 && forwarded === 0; round++) {
    const answers = await Promise.all(
      Array.from({ length: 32 }, (_, i) => {
        const id = new Metadata();
        id.set("x-request-id", `fwd-${round}-${i}`);
        return rpc<{ outputs: GrpcOutput[]; raw_output_contents: Buffer[] }>(
          client,
          "ModelInfer",
          message,
          id,
        );
      }),
    );
    for (const a of answers) {
      t.notOk(a.error, `answered (${a.error?.details ?? "ok"})`);
      if (a.value)
        t.same(bits(values(a.value, 0) as number[]), want, "the same bits as HTTP JSON, wherever scored");
    }
    await waitFor(
      () => server.events().filter((e) => String(e.request_id).startsWith(`fwd-${round}-`)).length === 32,
      5000,
    );
    for (const e of server.events().filter((e) => String(e.request_id).startsWith(`fwd-${round}-`))) {
      workersSeen.add(e.pid);
      if (e.forwarded_to !== undefined) {
        forwarded++;
        t.not(e.forwarded_to, e.pid, "forwarded to another worker");
        workersSeen.add(e.forwarded_to);
      }
    }
  }
  t.equal(
    server
      .events()
      .filter((e) => e.log === "access" && e.method === "GRPC" && String(e.request_id).startsWith("fwd-"))
      .length % 32,
    0,
    "one access line per call, none from the worker that scored a forwarded one",
  );
  t.ok(forwarded > 0, `${forwarded} calls forwarded`);
  t.equal(workersSeen.size, 2, "both workers scored calls of one connection");
});

t.test(
  "with CERTFILE, gRPC is TLS too: CERT_REQS 2 answers a client with a certificate, refuses one without",
  async (t) => {
    const pki = testPki();
    const serverCert = pki.server("grpc-server");
    const clientCert = pki.client("grpc-client");
    const m = MODELS.find((x) => x.name.startsWith("xgb-")) as (typeof MODELS)[number];
    const grpcPort = await freePort();
    const server = await startServer(
      {
        MODEL_PATH: m.path,
        GRPC_PORT: String(grpcPort),
        CERTFILE: serverCert.certFile,
        KEYFILE: serverCert.keyFile,
        CA_CERTS: pki.ca.certFile,
        CERT_REQS: "2",
        WORKERS: "2",
      },
      [],
      {
        ready: (port) =>
          new Promise((resolve) => {
            const req = httpsRequest(
              {
                host: "127.0.0.1",
                port,
                path: "/readyz",
                ca: pki.ca.cert,
                cert: clientCert.cert,
                key: clientCert.key,
              },
              (res) => {
                res.resume();
                resolve(res.statusCode === 200);
              },
            );
            req.on("error", () => resolve(false));
            req.end();
          }),
      },
    );
    t.teardown(() => server.stop());
    const Oip = oipService();
    const withCert = new Oip(
      `127.0.0.1:${grpcPort}`,
      credentials.createSsl(pki.ca.cert, clientCert.key, clientCert.cert),
    );
    t.teardown(() => withCert.close());
    t.same((await rpc(withCert, "ServerLive", {})).value, { live: true }, "ServerLive over TLS");
    const nf = m.rows[0].length;
    const answer = await rpc<{ outputs: GrpcOutput[]; raw_output_contents: Buffer[] }>(
      withCert,
      "ModelInfer",
      {
        inputs: [{ name: "x", datatype: "FP32", shape: ["2", String(nf)] }],
        raw_input_contents: [floatBytes(m.rows.slice(0, 2), "FP32")],
      },
    );
    t.notOk(answer.error, `ModelInfer over TLS (${answer.error?.details ?? "answered"})`);
    const withoutCert = new Oip(`127.0.0.1:${grpcPort}`, credentials.createSsl(pki.ca.cert));
    t.teardown(() => withoutCert.close());
    const refused = await rpc(withoutCert, "ServerLive", {}, new Metadata(), 5000);
    t.equal(
      refused.error?.code,
      status.UNAVAILABLE,
      `no client certificate: refused (${refused.error?.details})`,
    );
    const plain = new Oip(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
    t.teardown(() => plain.close());
    t.ok((await rpc(plain, "ServerLive", {}, new Metadata(), 5000)).error, "plaintext: refused");
  },
);
