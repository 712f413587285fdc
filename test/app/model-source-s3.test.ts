/**
 * Models from S3, through the real AWS SDK against a real S3 API on loopback (s3rver): the
 * endpoint comes from AWS_ENDPOINT_URL_S3 and the credentials from the SDK's default chain
 * (here the environment), as in production. Covers loading, conditional re-fetch, the cache,
 * the SHA-256 pin, change detection and polling, and each failure's error, with no credential
 * in any message.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { loadModel } from "../../model/index.js";
import {
  checkModel,
  type FetchedModel,
  type FetchResult,
  fetchModel,
  type ModelOrigin,
  ModelPoller,
  ModelSourceError,
  type PollerSettings,
} from "../../server/model-source/index.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { type LocalS3, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, startS3 } from "../helpers/s3.js";
import { waitFor } from "../helpers/wait.js";

const MODEL_A = readFileSync(join(FIXTURES, "binary_logistic.json"));
const MODEL_B = readFileSync(join(FIXTURES, "reg_squarederror.json"));
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

import { createHash } from "node:crypto";

let s3: LocalS3;

function settings(overrides: Partial<PollerSettings> = {}): PollerSettings {
  return {
    model_path: "s3://models/churn/model.json",
    model_sha256: "",
    model_cache_dir: mkdtempSync(join(tmpdir(), "forestd-cache-")),
    model_fetch_timeout: 5,
    s3_force_path_style: true,
    model_poll_interval: 0,
    ...overrides,
  };
}

function useCredentials(id: string, secret: string): void {
  process.env.AWS_ACCESS_KEY_ID = id;
  process.env.AWS_SECRET_ACCESS_KEY = secret;
}

t.before(async () => {
  s3 = await startS3(["models"]);
  process.env.AWS_REGION = "us-east-1";
  process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
  // Nothing from a developer's own AWS setup may leak in.
  process.env.AWS_CONFIG_FILE = "/nonexistent";
  process.env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent";
  process.env.AWS_EC2_METADATA_DISABLED = "true";
  useCredentials(S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY);
  await s3.put("models", "churn/model.json", MODEL_A);
});
t.teardown(() => s3.close());

function fetched(result: Awaited<ReturnType<typeof fetchModel>>): FetchedModel {
  if ("unchanged" in result) throw new Error("expected bytes, got unchanged");
  return result;
}

t.test("loads an object: bytes, digest, and an origin without credentials", async (t) => {
  const results: FetchResult[] = [];
  const model = fetched(await fetchModel(settings(), undefined, (r) => results.push(r)));
  t.same(Buffer.from(model.bytes), MODEL_A, "the object's bytes");
  t.equal(model.sha256, sha256(MODEL_A));
  t.equal(model.origin.source, "s3://models/churn/model.json");
  t.match(model.origin.etag, /^"[0-9a-f]{32}"$/, "the ETag");
  t.match(model.origin.lastModified, /^\d{4}-\d\d-\d\dT/);
  t.ok(Date.now() - Date.parse(model.origin.fetchedAt) < 10_000, "fetchedAt is now");
  t.equal(loadModel(model.bytes).objective, "binary:logistic", "the bytes are the model");
  t.same(results, ["fetched"]);
});

t.test("unchanged: a conditional GET answers 304 and no bytes are moved", async (t) => {
  const s = settings();
  const first = fetched(await fetchModel(s));
  const before = s3.requests.length;
  const again = await fetchModel(s, first.origin);
  t.ok("unchanged" in again, "unchanged");
  t.equal(again.origin.sha256, first.origin.sha256);
  const [get] = s3.requests.slice(before);
  t.equal(get.ifNoneMatch, first.origin.etag, "asked If-None-Match with the held ETag");
  t.equal(get.status, 304);
  t.equal(await checkModel(s, first.origin), false, "the poller's HEAD sees no change");
});

t.test("MODEL_CACHE_DIR: a restart re-validates the cached copy instead of downloading it", async (t) => {
  const s = settings();
  const first = fetched(await fetchModel(s));
  const before = s3.requests.length;
  const restarted = fetched(await fetchModel(s)); // no `previous`: as a new primary would ask
  t.same(Buffer.from(restarted.bytes), MODEL_A);
  t.equal(restarted.origin.etag, first.origin.etag);
  t.same(
    s3.requests.slice(before).map((r) => [r.ifNoneMatch, r.status]),
    [[first.origin.etag, 304]],
    "one conditional GET, answered 304",
  );
});

t.test("a new object is seen by the poller's check and fetched", async (t) => {
  const s = settings({ model_path: "s3://models/change/model.json" });
  await s3.put("models", "change/model.json", MODEL_A);
  const first = fetched(await fetchModel(s));
  await s3.put("models", "change/model.json", MODEL_B);
  t.equal(await checkModel(s, first.origin), true, "HEAD sees a new ETag");
  const next = fetched(await fetchModel(s, first.origin));
  t.equal(next.sha256, sha256(MODEL_B));
  t.not(next.origin.etag, first.origin.etag);
  t.equal(loadModel(next.bytes).objective, "reg:squarederror");
});

t.test("MODEL_SHA256: a pin that matches passes; one that does not names both digests", async (t) => {
  const good = fetched(await fetchModel(settings({ model_sha256: sha256(MODEL_A).toUpperCase() })));
  t.equal(good.sha256, sha256(MODEL_A), "matches (case-insensitively)");
  const wrong = "0".repeat(64);
  const results: FetchResult[] = [];
  await t.rejects(
    fetchModel(settings({ model_sha256: wrong }), undefined, (r) => results.push(r)),
    {
      code: "FORESTD_ERR_MODEL_CHECKSUM",
      message: `s3://models/churn/model.json: SHA-256 is ${sha256(MODEL_A)}, but MODEL_SHA256 pins ${wrong}`,
    },
  );
  t.same(results, ["rejected"], "counted as rejected");
  // A truncated upload is caught by the pin before anything parses it.
  await s3.put("models", "truncated.json", MODEL_A.subarray(0, 100));
  await t.rejects(
    fetchModel(settings({ model_path: "s3://models/truncated.json", model_sha256: sha256(MODEL_A) })),
    { code: "FORESTD_ERR_MODEL_CHECKSUM" },
  );
  // Without a pin the bytes are what the bucket holds; the model reader refuses them.
  const truncated = fetched(await fetchModel(settings({ model_path: "s3://models/truncated.json" })));
  t.throws(() => loadModel(truncated.bytes), { code: "FORESTD_ERR_MODEL_SYNTAX" });
});

t.test("404: a missing key or bucket is a clear NOT_FOUND", async (t) => {
  await t.rejects(fetchModel(settings({ model_path: "s3://models/nope.json" })), {
    code: "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND",
    message: /^s3:\/\/models\/nope\.json: no such object/,
  });
  await t.rejects(fetchModel(settings({ model_path: "s3://no-such-bucket/m.json" })), {
    code: "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND",
    message: /no such bucket/,
  });
});

t.test("403: refused credentials are DENIED, and no credential appears in the error", async (t) => {
  const id = "AKIAFORESTDTESTKEY01";
  const secret = "forestd/test/secret/never+shown+anywhere";
  useCredentials(id, secret);
  t.teardown(() => useCredentials(S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY));
  const error = (await fetchModel(settings()).catch((e: unknown) => e)) as ModelSourceError;
  t.type(error, ModelSourceError);
  t.equal(error.code, "FORESTD_ERR_MODEL_SOURCE_DENIED");
  t.match(error.message, /^s3:\/\/models\/churn\/model\.json: access denied \(403 InvalidAccessKeyId\)/);
  const everything = `${error.message} ${error.stack} ${JSON.stringify(error)}`;
  t.notOk(everything.includes(id), "no access key id");
  t.notOk(everything.includes(secret), "no secret");
});

/** A plain HTTP server standing in for a broken S3 endpoint. */
async function brokenEndpoint(handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

async function withEndpoint<T>(endpoint: string, work: () => Promise<T>): Promise<T> {
  process.env.AWS_ENDPOINT_URL_S3 = endpoint;
  try {
    return await work();
  } finally {
    process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
  }
}

t.test("timeout: an endpoint that never answers fails within MODEL_FETCH_TIMEOUT", async (t) => {
  const silent = await brokenEndpoint(() => undefined);
  t.teardown(() => {
    silent.closeAllConnections();
    silent.close();
  });
  const { port } = silent.address() as { port: number };
  const started = Date.now();
  await withEndpoint(`http://127.0.0.1:${port}`, () =>
    t.rejects(fetchModel(settings({ model_fetch_timeout: 1 })), {
      code: "FORESTD_ERR_MODEL_SOURCE_TIMEOUT",
      message: "s3://models/churn/model.json: no complete answer in time",
    }),
  );
  t.ok(Date.now() - started < 4000, `gave up after ${Date.now() - started} ms`);
});

t.test("a body cut short is an error, not a shorter model", async (t) => {
  const cutting = await brokenEndpoint((_req, res) => {
    res.writeHead(200, { "content-length": "5000", etag: '"abc"', "content-type": "application/json" });
    res.write(MODEL_A.subarray(0, 100));
    setTimeout(() => res.socket?.destroy(), 20);
  });
  t.teardown(() => cutting.close());
  const { port } = cutting.address() as { port: number };
  await withEndpoint(`http://127.0.0.1:${port}`, () =>
    fetchModel(settings()).then(
      () => t.fail("a cut body must not load"),
      (error: ModelSourceError) => {
        t.match(error, {
          code: "FORESTD_ERR_MODEL_SOURCE_FAILED",
          message: /^s3:\/\/models\/churn\/model\.json: the download was cut short/,
        });
      },
    ),
  );
});

t.test("server gone: a refused connection is UNREACHABLE", async (t) => {
  const gone = await brokenEndpoint(() => undefined);
  const { port } = gone.address() as { port: number };
  await new Promise((r) => gone.close(r));
  await withEndpoint(`http://127.0.0.1:${port}`, () =>
    t.rejects(fetchModel(settings()), {
      code: "FORESTD_ERR_MODEL_SOURCE_UNREACHABLE",
      message: /^s3:\/\/models\/churn\/model\.json: cannot connect: .*ECONNREFUSED/,
    }),
  );
});

t.test("ModelPoller: a new object triggers one reload; failures back off", async (t) => {
  const s = settings({ model_path: "s3://models/polled.json", model_poll_interval: 0.1 });
  await s3.put("models", "polled.json", MODEL_A);
  let current: ModelOrigin = fetched(await fetchModel(s)).origin;
  const logs: string[] = [];
  const log = {
    info: (fields: object) => logs.push(JSON.stringify(fields)),
    warn: (fields: object) => logs.push(JSON.stringify(fields)),
  };
  let reloads = 0;
  let fail = false;
  const poller = new ModelPoller(
    s,
    () => current,
    async () => {
      reloads++;
      if (fail) return; // a reload that fails leaves the served origin as it was
      const result = await fetchModel(s, current);
      current = result.origin;
    },
    log,
  );
  poller.start();
  t.teardown(() => poller.stop());
  await new Promise((r) => setTimeout(r, 500));
  t.equal(reloads, 0, "an unchanged object reloads nothing");

  await s3.put("models", "polled.json", MODEL_B);
  await waitFor(() => current.sha256 === sha256(MODEL_B), 5000);
  t.equal(reloads, 1, "one reload for one change");

  fail = true;
  await s3.put("models", "polled.json", MODEL_A);
  await waitFor(() => reloads >= 3, 5000);
  t.ok(poller.nextDelaySeconds >= 0.4, `backing off: next look in ${poller.nextDelaySeconds} s`);
  t.match(logs.join("\n"), /model_poll_backoff/);

  fail = false;
  await waitFor(() => current.sha256 === sha256(MODEL_A), 10_000);
  await waitFor(() => poller.nextDelaySeconds === 0.1, 5000);
  t.pass("recovered: the next reload succeeds and the interval is back to normal");

  // The bucket goes away: looks fail and back off, nothing reloads.
  const before = reloads;
  await s3.remove("models", "polled.json");
  await waitFor(() => poller.nextDelaySeconds >= 0.4, 5000);
  t.equal(reloads, before, "no reload while the source is failing");
  t.match(logs.join("\n"), /model_poll_failed/);
});
