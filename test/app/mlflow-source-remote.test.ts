/**
 * MLflow model folders in S3 (s3rver on loopback, through the real AWS SDK) and behind HTTPS (a
 * self-signed server): MODEL_PATH naming the folder's prefix fetches MLmodel and the model file it
 * names as one bundle; either object changing is a new version; a model file MLmodel names but the
 * bucket lacks is refused naming the object. The HTTPS server's certificate is trusted as an
 * operator would trust a private CA (NODE_EXTRA_CA_CERTS, read by Node at start): this file starts
 * itself again with it set, as model-source-https.test.ts does.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { loadServable } from "../../model/index.js";
import { unpackMlflowBundle } from "../../model/mlflow/index.js";
import {
  checkModel,
  type FetchedModel,
  fetchModel,
  type SourceSettings,
} from "../../server/model-source/index.js";
import { type ModelHttpsServer, startModelHttpsServer } from "../helpers/https-model-server.js";
import { mlflowFolder } from "../helpers/mlflow-fixtures.js";
import { type LocalS3, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, startS3 } from "../helpers/s3.js";
import { loadSelfSigned, selfSignedCertificate } from "../helpers/tls.js";

const PREFIX = "1/0123456789abcdef/artifacts/model/";
let s3: LocalS3;
let https: ModelHttpsServer;

function settings(modelPath: string): SourceSettings {
  return {
    model_path: modelPath,
    model_sha256: "",
    model_cache_dir: mkdtempSync(join(tmpdir(), "forestd-cache-")),
    model_fetch_timeout: 5,
    s3_force_path_style: true,
  };
}

/** Every file of a fixture folder, uploaded under `prefix` (as `mlflow.log_model` uploads them). */
async function upload(folder: string, prefix: string): Promise<void> {
  for (const file of readdirSync(mlflowFolder(folder)))
    await s3.put("mlruns", prefix + file, readFileSync(join(mlflowFolder(folder), file)));
}

if (process.env.FORESTD_TEST_TLS_CERT === undefined) {
  const tls = selfSignedCertificate();
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: "inherit",
    env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.certFile, FORESTD_TEST_TLS_CERT: tls.certFile },
    timeout: 120_000,
  });
  process.exitCode = child.status ?? 1;
} else cases();

function cases(): void {
  t.before(async () => {
    s3 = await startS3(["mlruns"]);
    process.env.AWS_REGION = "us-east-1";
    process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
    process.env.AWS_CONFIG_FILE = "/nonexistent";
    process.env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent";
    process.env.AWS_EC2_METADATA_DISABLED = "true";
    process.env.AWS_ACCESS_KEY_ID = S3_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = S3_SECRET_ACCESS_KEY;
    https = await startModelHttpsServer(loadSelfSigned(process.env.FORESTD_TEST_TLS_CERT as string));
  });
  t.teardown(async () => {
    await s3.close();
    await https.close();
  });

  t.test("an S3 prefix holding an MLflow folder", async (t) => {
    await upload("sklearn-pipeline-cloudpickle", PREFIX);
    const path = `s3://mlruns/${PREFIX}`;
    const first = (await fetchModel(settings(path))) as FetchedModel;
    t.same(
      [...unpackMlflowBundle(first.bytes).keys()],
      ["MLmodel", "model.pkl"],
      "MLmodel and the model file only",
    );
    t.match(first.origin.etag, /^"[0-9a-f]{32}"\+"[0-9a-f]{32}"$/, "the two objects' ETags");
    t.equal(first.origin.source, path);
    const { mlflow } = loadServable(first.bytes);
    t.equal(mlflow?.flavor, "sklearn", "the bytes are the folder's model");
    t.notOk(await checkModel(settings(path), first.origin), "unchanged");
    const gets = () => s3.requests.filter((r) => r.method === "GET" && r.url.includes("model.pkl"));
    const before = gets().length;
    const again = await fetchModel(settings(path), first.origin);
    t.ok("unchanged" in again, "fetched again with the version held: unchanged");
    t.same(
      gets()
        .slice(before)
        .map((r) => [r.ifNoneMatch, r.status]),
      [[first.origin.etag?.split("+")[1], 304]],
      "the model file only asked for conditionally, answered 304",
    );

    // The run's model file replaced (another flavor's folder uploaded over it): a new version.
    await upload("sklearn-forest-proba", PREFIX);
    t.ok(await checkModel(settings(path), first.origin), "a new version when an object changes");
    const second = (await fetchModel(settings(path), first.origin)) as FetchedModel;
    t.not(second.sha256, first.sha256);
    t.equal(loadServable(second.bytes).mlflow?.answer, "probabilities");

    await s3.remove("mlruns", `${PREFIX}model.pkl`);
    await t.rejects(fetchModel(settings(path)), {
      code: "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND",
      message: new RegExp(`s3://mlruns/${PREFIX}model\\.pkl: no such object`),
    });
    await t.rejects(fetchModel(settings(`s3://mlruns/${PREFIX.slice(0, -1)}`)), {
      code: "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND",
      message: /no such object .*; if it is an MLflow model folder, end the path with "\/"/,
    });
    await t.rejects(fetchModel(settings("s3://mlruns/nothing/here/")), {
      code: "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND",
      message: /s3:\/\/mlruns\/nothing\/here\/MLmodel: no such object/,
    });
  });

  t.test("an HTTPS URL ending in / holding an MLflow folder", async (t) => {
    const folder = "xgboost-classifier-ubj";
    for (const file of readdirSync(mlflowFolder(folder)))
      https.put(`model/${file}`, readFileSync(join(mlflowFolder(folder), file)));
    const path = `${https.url}/model/`;
    const fetched = (await fetchModel(settings(path))) as FetchedModel;
    t.same([...unpackMlflowBundle(fetched.bytes).keys()], ["MLmodel", "model.ubj"]);
    t.equal(loadServable(fetched.bytes).mlflow?.answer, "class-indices");
    t.notOk(await checkModel(settings(path), fetched.origin), "unchanged");
  });
}
