/**
 * MLflow model folders in MODEL_REPOSITORY (a directory, an S3 prefix, an HTTPS index): a model's
 * folder holding an MLmodel is one version of that model, a version folder holding one is that
 * version; everything else MLflow writes beside it (conda.yaml, requirements.txt, metadata/) is
 * not a second model. Each version is MLmodel and the model file it names, packed into one
 * snapshot; a folder forestd cannot serve is refused with its reason; a changed model file is a
 * new version. The HTTPS server's certificate is trusted the operator's way (NODE_EXTRA_CA_CERTS):
 * this file starts itself again with it set, as repository.test.ts does.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { loadSettings } from "../../config/load-settings.js";
import { loadServable } from "../../model/index.js";
import { ModelRegistry } from "../../server/model-registry.js";
import { ModelStore } from "../../server/model-store.js";
import { Repository } from "../../server/repository/repository.js";
import { type ModelHttpsServer, startModelHttpsServer } from "../helpers/https-model-server.js";
import { mlflowFolder } from "../helpers/mlflow-fixtures.js";
import { type LocalS3, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, startS3 } from "../helpers/s3.js";
import { loadSelfSigned, selfSignedCertificate } from "../helpers/tls.js";

if (process.env.FORESTD_TEST_TLS_CERT === undefined) {
  const tls = selfSignedCertificate();
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: "inherit",
    env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.certFile, FORESTD_TEST_TLS_CERT: tls.certFile },
    timeout: 240_000,
  });
  process.exitCode = child.status ?? 1;
} else cases();

interface Place {
  env: Record<string, string>;
  write(path: string, bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

async function directory(): Promise<Place> {
  const root = mkdtempSync(join(tmpdir(), "forestd-mlflow-repo-"));
  return {
    env: { MODEL_REPOSITORY: root },
    async write(path, bytes) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), bytes);
    },
    close: async () => rmSync(root, { recursive: true, force: true }),
  };
}

async function s3Prefix(): Promise<Place> {
  const s3: LocalS3 = await startS3(["mlruns"]);
  Object.assign(process.env, {
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_CONFIG_FILE: "/nonexistent",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_ACCESS_KEY_ID: S3_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: S3_SECRET_ACCESS_KEY,
  });
  return {
    env: { MODEL_REPOSITORY: "s3://mlruns/served/", S3_FORCE_PATH_STYLE: "true" },
    write: (path, bytes) => s3.put("mlruns", `served/${path}`, bytes),
    close: () => s3.close(),
  };
}

async function httpsIndex(): Promise<Place> {
  const server: ModelHttpsServer = await startModelHttpsServer(
    loadSelfSigned(process.env.FORESTD_TEST_TLS_CERT as string),
  );
  const files = new Set<string>();
  const publish = () =>
    server.put("repo/index.json", new TextEncoder().encode(JSON.stringify([...files].sort())));
  publish();
  return {
    env: { MODEL_REPOSITORY: `${server.url}/repo/` },
    async write(path, bytes) {
      files.add(path);
      server.put(`repo/${path}`, bytes);
      publish();
    },
    close: () => server.close(),
  };
}

/** A fixture folder's files under `at`, and a metadata/ copy of its MLmodel (MLflow 2.x's log_model). */
async function copyFolder(place: Place, folder: string, at: string): Promise<void> {
  const dir = mlflowFolder(folder);
  for (const file of readdirSync(dir)) {
    if (!statSync(join(dir, file)).isFile()) continue;
    await place.write(`${at}${file}`, readFileSync(join(dir, file)));
  }
  await place.write(`${at}metadata/MLmodel`, readFileSync(join(dir, "MLmodel")));
}

function cases(): void {
  const kinds: [string, () => Promise<Place>][] = [
    ["a directory", directory],
    ["an S3 prefix", s3Prefix],
    ["an HTTPS index", httpsIndex],
  ];
  for (const [kind, make] of kinds) {
    t.test(`MLflow folders in a repository in ${kind}`, async (t) => {
      const place = await make();
      t.teardown(() => place.close());
      await copyFolder(place, "sklearn-pipeline-cloudpickle", "risk/");
      await copyFolder(place, "xgboost-classifier-ubj", "churn/1/");
      await copyFolder(place, "xgboost-booster-binary", "churn/2/");
      await place.write("churn/forestd.json", new TextEncoder().encode('{"version_policy": {"all": {}}}'));
      await copyFolder(place, "refused-pyfunc-only", "custom/");
      const store = new ModelStore();
      t.teardown(() => store.close());
      const registry = new ModelRegistry(store);
      const quiet = () => undefined;
      const settings = (await loadSettings({ argv: [], env: place.env, cwd: process.cwd() })).settings;
      const repository = new Repository(settings, store, registry, {
        info: quiet,
        warn: quiet,
        error: quiet,
      });
      await repository.scan();
      const models = registry.set().models;
      const names = models.map((m) => `${m.name}@${m.version}${m.isDefault ? "*" : ""}`).sort();
      const risk = models.find((m) => m.name === "risk");
      t.same(
        names,
        ["churn@1", "churn@2*", `risk@${risk?.sha256.slice(0, 12)}*`],
        "one model per MLflow folder",
      );
      const flavors = models.map((m) => {
        const { mlflow } = loadServable(readFileSync(m.snapshot));
        return `${m.name}@${m.version}: ${mlflow?.flavor} ${mlflow?.answer}`;
      });
      t.same(
        flavors.sort(),
        [
          "churn@1: xgboost class-indices",
          "churn@2: xgboost predictions",
          `risk@${risk?.sha256.slice(0, 12)}: sklearn prediction`,
        ],
        "each snapshot is its folder's MLmodel and model file",
      );
      const custom = registry.index([]).find((e) => e.name === "custom");
      t.equal(custom?.state, "UNAVAILABLE");
      t.match(custom?.reason, /python_function flavor alone .*custom Python code/, "refused with the reason");

      // The model file replaced: a new version of the folder.
      await place.write(
        "risk/model.pkl",
        readFileSync(join(mlflowFolder("sklearn-forest-proba"), "model.pkl")),
      );
      await repository.scan();
      const after = registry.set().models.find((m) => m.name === "risk");
      t.not(after?.sha256, risk?.sha256, "a changed model file is a new version");
      t.equal(
        createHash("sha256")
          .update(readFileSync(after?.snapshot as string))
          .digest("hex"),
        after?.sha256,
        "the snapshot holds what was validated",
      );
    });
  }
}
