/**
 * The cases of test/app/model-source-https.test.ts, run in a process started with
 * NODE_EXTRA_CA_CERTS naming the certificate of the local HTTPS server.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { loadModel } from "../../model/index.js";
import {
  checkModel,
  type FetchedModel,
  fetchModel,
  ModelSourceError,
  type SourceSettings,
} from "../../server/model-source/index.js";
import { FIXTURES } from "./fixtures.js";
import {
  BASIC_PASSWORD,
  BASIC_USER,
  type ModelHttpsServer,
  startModelHttpsServer,
} from "./https-model-server.js";
import { loadSelfSigned, selfSignedCertificate } from "./tls.js";

const MODEL_A = readFileSync(join(FIXTURES, "binary_logistic.json"));
const MODEL_B = readFileSync(join(FIXTURES, "reg_squarederror.json"));
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const tls = loadSelfSigned(process.env.FORESTD_TEST_TLS_CERT as string);
let server: ModelHttpsServer;

t.before(async () => {
  server = await startModelHttpsServer(tls);
  server.put("model.json", MODEL_A);
});
t.teardown(() => server.close());

function settings(path: string, overrides: Partial<SourceSettings> = {}): SourceSettings {
  return {
    model_path: `${server.url}${path}`,
    model_sha256: "",
    model_cache_dir: mkdtempSync(join(tmpdir(), "forestd-cache-")),
    model_fetch_timeout: 5,
    s3_force_path_style: false,
    ...overrides,
  };
}

function fetched(result: Awaited<ReturnType<typeof fetchModel>>): FetchedModel {
  if ("unchanged" in result) throw new Error("expected bytes, got unchanged");
  return result;
}

async function failure(promise: Promise<unknown>): Promise<ModelSourceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ModelSourceError)) throw new Error(`expected a ModelSourceError, got ${error}`);
  return error;
}

t.test("loads over HTTPS with a private CA trusted through NODE_EXTRA_CA_CERTS", async (t) => {
  const model = fetched(await fetchModel(settings("/model.json")));
  t.same(Buffer.from(model.bytes), MODEL_A);
  t.equal(model.origin.source, `${server.url}/model.json`);
  t.match(model.origin.etag, /^"[0-9a-f]{16}"$/);
  t.match(model.origin.lastModified, /^\d{4}-/);
  t.equal(loadModel(model.bytes).objective, "binary:logistic");
});

t.test("conditional GET: 304 keeps the served model; a new version is seen and fetched", async (t) => {
  server.put("versions.json", MODEL_A);
  const s = settings("/versions.json");
  const first = fetched(await fetchModel(s));
  const again = await fetchModel(s, first.origin);
  t.ok("unchanged" in again, "unchanged");
  t.equal(server.requests.at(-1)?.status, 304, "answered 304");
  t.equal(server.requests.at(-1)?.ifNoneMatch, first.origin.etag, "asked with If-None-Match");
  t.equal(await checkModel(s, first.origin), false, "the poller's check sees no change");
  server.put("versions.json", MODEL_B);
  t.equal(await checkModel(s, first.origin), true, "the poller's check sees the change");
  const next = fetched(await fetchModel(s, first.origin));
  t.equal(next.sha256, sha256(MODEL_B));
});

t.test("a server without ETag or Last-Modified: changes are found by content", async (t) => {
  server.put("bare.json", MODEL_A);
  const s = settings("/plain/bare.json");
  const first = fetched(await fetchModel(s));
  t.equal(first.origin.etag, undefined);
  t.equal(await checkModel(s, first.origin), false, "same bytes: no change");
  const same = await fetchModel(s, first.origin);
  t.ok("unchanged" in same, "the same bytes again are not a new version");
  server.put("bare.json", MODEL_B);
  t.equal(await checkModel(s, first.origin), true, "other bytes: a change");
});

t.test("redirects are followed; the origin names the URL configured", async (t) => {
  const model = fetched(await fetchModel(settings("/redirect/model.json")));
  t.equal(model.sha256, sha256(MODEL_A));
  t.equal(model.origin.source, `${server.url}/redirect/model.json`);
});

t.test("credentials in the URL are sent as Basic auth and never shown", async (t) => {
  const withAuth = (path: string) =>
    settings("", {
      model_path: server.url.replace("https://", `https://${BASIC_USER}:${BASIC_PASSWORD}@`) + path,
    });
  const model = fetched(await fetchModel(withAuth("/auth/model.json")));
  t.equal(model.sha256, sha256(MODEL_A));
  t.equal(model.origin.source, `${server.url}/auth/model.json`, "no user:password in the origin");
  const denied = await failure(
    fetchModel(
      settings("", {
        model_path: `${server.url.replace("https://", `https://${BASIC_USER}:wrong-password@`)}/auth/model.json`,
      }),
    ),
  );
  t.equal(denied.code, "FORESTD_ERR_MODEL_SOURCE_DENIED");
  t.match(denied.message, /answered 401/);
  t.notOk(`${denied.message}${denied.stack}`.includes("wrong-password"), "no password in the error");
});

t.test("a presigned URL: the query string (a credential) is in no origin or error", async (t) => {
  const signature = "X-Amz-Signature=0123456789abcdef0123456789abcdef";
  const model = fetched(await fetchModel(settings(`/signed/model.json?${signature}`)));
  t.equal(model.origin.source, `${server.url}/signed/model.json`);
  t.notOk(JSON.stringify(model.origin).includes("Signature"));
  const missing = await failure(fetchModel(settings(`/signed/none.json?${signature}`)));
  t.equal(missing.code, "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND");
  t.notOk(`${missing.message}${missing.stack}`.includes("Signature"), "no signature in the error");
});

t.test("403, 404, 500: clear errors naming the source and the status", async (t) => {
  const forbidden = await failure(fetchModel(settings("/status/403")));
  t.match(forbidden, {
    code: "FORESTD_ERR_MODEL_SOURCE_DENIED",
    message: `${server.url}/status/403: answered 403 Forbidden: the server refused access (credentials in the URL, or an expired presigned URL?)`,
  });
  t.match(await failure(fetchModel(settings("/missing.json"))), {
    code: "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND",
    message: `${server.url}/missing.json: answered 404 Not Found: no model there`,
  });
  t.match(await failure(fetchModel(settings("/status/500"))), {
    code: "FORESTD_ERR_MODEL_SOURCE_FAILED",
    message: /answered 500 Internal Server Error$/,
  });
});

t.test("timeout, a body cut short, a server gone", async (t) => {
  const started = Date.now();
  t.match(await failure(fetchModel(settings("/slow", { model_fetch_timeout: 1 }))), {
    code: "FORESTD_ERR_MODEL_SOURCE_TIMEOUT",
    message: `${server.url}/slow: no complete answer in time`,
  });
  t.ok(Date.now() - started < 3000, "within MODEL_FETCH_TIMEOUT");
  t.match(await failure(fetchModel(settings("/cut"))), {
    code: "FORESTD_ERR_MODEL_SOURCE_FAILED",
    message: /the download was cut short/,
  });
  const gone = await startModelHttpsServer(tls);
  const url = gone.url;
  await gone.close();
  t.match(await failure(fetchModel(settings("", { model_path: `${url}/model.json` }))), {
    code: "FORESTD_ERR_MODEL_SOURCE_UNREACHABLE",
    message: /ECONNREFUSED/,
  });
});

t.test("a certificate nobody vouches for is refused, with the NODE_EXTRA_CA_CERTS hint", async (t) => {
  const stranger = await startModelHttpsServer(selfSignedCertificate());
  t.teardown(() => stranger.close());
  stranger.put("model.json", MODEL_A);
  t.match(await failure(fetchModel(settings("", { model_path: `${stranger.url}/model.json` }))), {
    code: "FORESTD_ERR_MODEL_SOURCE_UNREACHABLE",
    message: /TLS certificate not trusted .*NODE_EXTRA_CA_CERTS/,
  });
});

t.test("MODEL_SHA256 over HTTPS: a wrong pin is refused", async (t) => {
  t.match(await failure(fetchModel(settings("/model.json", { model_sha256: sha256(MODEL_B) }))), {
    code: "FORESTD_ERR_MODEL_CHECKSUM",
    message: new RegExp(`SHA-256 is ${sha256(MODEL_A)}, but MODEL_SHA256 pins ${sha256(MODEL_B)}`),
  });
});
