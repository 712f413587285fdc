/**
 * The cases of test/app/repository.test.ts, for each kind of repository: a directory, an S3
 * prefix (s3rver on loopback) and an HTTPS index (a local server whose certificate the process
 * trusts through NODE_EXTRA_CA_CERTS). Each scan is the primary's (server/repository/) into a real
 * registry and store, without workers: what it serves, what it refuses and why, what it fetches.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import t from "tap";
import { loadSettings } from "../../config/load-settings.js";
import type { Settings } from "../../config/settings.js";
import { loadModel } from "../../model/index.js";
import { ModelRegistry } from "../../server/model-registry.js";
import { ModelStore } from "../../server/model-store.js";
import { Repository, RepositoryError } from "../../server/repository/repository.js";
import { FIXTURES, ROOT } from "./fixtures.js";
import { type ModelHttpsServer, startModelHttpsServer } from "./https-model-server.js";
import { type LocalS3, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, startS3 } from "./s3.js";
import { loadSelfSigned } from "./tls.js";

const bytesOf = (file: string) => new Uint8Array(readFileSync(file));
const A = bytesOf(join(FIXTURES, "binary_logistic.json"));
const B = bytesOf(join(FIXTURES, "binary_logistic.ubj"));
const C = bytesOf(join(FIXTURES, "reg_squarederror.json"));
const ONNX = bytesOf(join(ROOT, "test", "fixtures", "onnx", "rf_regressor.onnx"));
const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** A repository that a test writes into, of one kind. */
interface Place {
  kind: string;
  env: Record<string, string>;
  write(path: string, bytes: Uint8Array): Promise<void>;
  remove(path: string): Promise<void>;
  /** Files fetched (GET answered 200) since the last call. */
  fetches(): string[];
  close(): Promise<void>;
}

async function directory(): Promise<Place> {
  const root = mkdtempSync(join(tmpdir(), "forestd-repo-"));
  return {
    kind: "directory",
    env: { MODEL_REPOSITORY: root },
    async write(path, bytes) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), bytes);
    },
    async remove(path) {
      rmSync(join(root, path), { recursive: true, force: true });
    },
    fetches: () => [],
    async close() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

async function s3Prefix(): Promise<Place> {
  const s3: LocalS3 = await startS3(["models"]);
  Object.assign(process.env, {
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_CONFIG_FILE: "/nonexistent",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_ACCESS_KEY_ID: S3_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: S3_SECRET_ACCESS_KEY,
  });
  const keys = new Set<string>();
  let seen = 0;
  return {
    kind: "S3",
    env: { MODEL_REPOSITORY: "s3://models/repo/", S3_FORCE_PATH_STYLE: "true" },
    async write(path, bytes) {
      keys.add(path);
      await s3.put("models", `repo/${path}`, bytes);
    },
    async remove(path) {
      for (const key of [...keys].filter((k) => k === path || k.startsWith(`${path}/`))) {
        keys.delete(key);
        await s3.remove("models", `repo/${key}`);
      }
    },
    fetches() {
      const got = s3.requests
        .slice(seen)
        .filter((r) => r.method === "GET" && r.status === 200 && r.url.startsWith("/models/repo/"))
        .map((r) => decodeURIComponent(r.url.split("?")[0].slice("/models/repo/".length)));
      seen = s3.requests.length;
      return got;
    },
    close: () => s3.close(),
  };
}

async function httpsIndex(): Promise<Place> {
  const server: ModelHttpsServer = await startModelHttpsServer(
    loadSelfSigned(process.env.FORESTD_TEST_TLS_CERT as string),
  );
  const files = new Set<string>();
  const publish = () => server.put("repo/index.json", text({ files: [...files].sort() }));
  publish();
  let seen = 0;
  return {
    kind: "HTTPS",
    env: { MODEL_REPOSITORY: `${server.url}/repo/` },
    async write(path, bytes) {
      files.add(path);
      server.put(`repo/${path}`, bytes);
      publish();
    },
    async remove(path) {
      for (const f of [...files]) if (f === path || f.startsWith(`${path}/`)) files.delete(f);
      publish();
    },
    fetches() {
      const got = server.requests
        .slice(seen)
        .filter((r) => r.status === 200 && r.path.startsWith("/repo/") && r.path !== "/repo/index.json")
        .map((r) => decodeURIComponent(r.path.slice("/repo/".length)));
      seen = server.requests.length;
      return got;
    },
    close: () => server.close(),
  };
}

async function settingsFor(place: Place, extra: Record<string, string> = {}): Promise<Settings> {
  return (await loadSettings({ argv: [], env: { ...place.env, ...extra }, cwd: process.cwd() })).settings;
}

function quietLog() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const at = (level: string) => (fields: object, message: string) =>
    lines.push({ level, fields: fields as Record<string, unknown>, message });
  return { lines, info: at("info"), warn: at("warn"), error: at("error") };
}

const kinds: [string, () => Promise<Place>][] = [
  ["directory", directory],
  ["S3", s3Prefix],
  ...(process.env.FORESTD_TEST_TLS_CERT ? ([["HTTPS", httpsIndex]] as [string, () => Promise<Place>][]) : []),
];

for (const [kind, make] of kinds) {
  t.test(
    `a repository in ${kind === "directory" ? "a directory" : kind === "S3" ? "an S3 prefix" : "an HTTPS index"}`,
    async (t) => {
      const place = await make();
      t.teardown(() => place.close());
      await place.write(
        "churn/forestd.json",
        text({ class_names: ["stay", "churn"], version_policy: { latest: { num_versions: 2 } } }),
      );
      await place.write("churn/1/model.json", A);
      await place.write("churn/2/model.json", B);
      await place.write("churn/3/model.ubj", B);
      await place.write("fraud/fraud.onnx", ONNX);
      await place.write("price.model.json", C);
      await place.write("broken/model.json", A.subarray(0, 200));
      await place.write("notes/README.txt", text("not a model"));
      await place.write("versions/v2/model.json", A);
      const store = new ModelStore();
      t.teardown(() => store.close());
      const registry = new ModelRegistry(store);
      const log = quietLog();
      const repository = new Repository(await settingsFor(place), store, registry, log);
      await repository.scan();
      place.fetches();
      const served = () =>
        registry
          .set()
          .models.map((m) => `${m.name}@${m.version}${m.isDefault ? "*" : ""}`)
          .sort();
      const digest = (b: Uint8Array) => createHash("sha256").update(b).digest("hex").slice(0, 12);
      t.same(
        served(),
        ["churn@2", "churn@3*", `fraud@${digest(ONNX)}*`, `price@${digest(C)}*`],
        "the models the policy serves",
      );
      const index = registry.index([]);
      const reason = (name: string, version?: string) =>
        index.find((e) => e.name === name && (version === undefined || e.version === version))?.reason ?? "";
      t.match(reason("churn", "1"), /not among the latest 2/);
      t.match(
        reason("broken"),
        /FORESTD_ERR_MODEL|not valid|truncated|JSON/i,
        "a broken file: the reader's reason",
      );
      t.match(
        reason("notes"),
        /not in a format forestd reads/,
        "a file that is no model: refused, not served",
      );
      t.match(reason("versions"), /must be a version number/);
      t.same(
        registry.set().models.find((m) => m.name === "churn")?.config.class_names,
        ["stay", "churn"],
        "the model's own settings",
      );
      t.ok(
        log.lines.some((l) => l.fields.event === "model_refused" && l.fields.name === "broken"),
        "the refusal is logged",
      );

      // A new version, a changed file, a removed model, a new one: one scan, only what changed fetched.
      await place.write("churn/3/model.ubj", A);
      await place.remove("fraud");
      await place.write("extra/model.json", C);
      await repository.scan();
      t.same(served(), ["churn@2", "churn@3*", `extra@${digest(C)}*`, `price@${digest(C)}*`]);
      t.equal(
        registry
          .set()
          .models.find((m) => m.name === "churn" && m.version === "3")
          ?.sha256.slice(0, 12),
        digest(A),
      );
      if (kind !== "directory")
        t.same(
          place.fetches().sort(),
          ["churn/3/model.ubj", "extra/model.json"].sort(),
          "unchanged files not downloaded again",
        );

      // A bad replacement keeps the version it had; a name given twice keeps the one served.
      const before = registry.set().models.find((m) => m.name === "churn" && m.version === "3")?.sha256;
      await place.write("churn/3/model.ubj", B.subarray(0, 100));
      await place.write("price/model.json", A);
      await repository.scan();
      t.equal(
        registry.set().models.find((m) => m.name === "churn" && m.version === "3")?.sha256,
        before,
        "the old version 3 serves on",
      );
      t.ok(
        registry.index([]).some((e) => e.name === "churn" && e.state === "UNAVAILABLE"),
        "its failure is in the index",
      );
      t.equal(
        registry.get("price")?.source.endsWith("price.model.json"),
        true,
        "the price already served stays",
      );
      t.match(
        registry.index([]).find((e) => e.name === "price" && e.state === "UNAVAILABLE")?.reason,
        /already serves the name "price"/,
      );

      // The repository API's side: unload until loaded again; only names in the repository load.
      await repository.unload("extra");
      await repository.scan();
      t.notOk(
        served().some((m) => m.startsWith("extra@")),
        "an unloaded model stays unloaded through scans",
      );
      await repository.load("extra");
      t.ok(
        served().some((m) => m.startsWith("extra@")),
        "until it is loaded again",
      );
      for (const name of ["nope", "../churn", "churn/1", "a".repeat(1000)])
        await t.rejects(
          repository.load(name),
          { status: 404, code: "FORESTD_ERR_REPOSITORY_NOT_FOUND" },
          `load ${name.slice(0, 20)}`,
        );
      await t.rejects(
        repository.load("broken"),
        RepositoryError,
        "a model that cannot be read: the load fails, saying why",
      );
    },
  );
}

t.test("MODEL_MEMORY_LIMIT refuses the model that would pass it, by name", async (t) => {
  const place = await directory();
  t.teardown(() => place.close());
  const size = loadModel(join(FIXTURES, "binary_logistic.json")).compiledBytes;
  await place.write("a/model.json", A);
  await place.write("b/model.json", A);
  const store = new ModelStore();
  t.teardown(() => store.close());
  const registry = new ModelRegistry(store);
  const log = quietLog();
  const repository = new Repository(
    await settingsFor(place, { MODEL_MEMORY_LIMIT: String(Math.floor(size * 1.5)) }),
    store,
    registry,
    log,
  );
  await repository.scan();
  t.same(
    registry.set().models.map((m) => m.name),
    ["a"],
    "a fits, b would pass the limit",
  );
  t.match(
    registry.index([]).find((e) => e.name === "b")?.reason,
    /needs \d+ bytes compiled.*passes MODEL_MEMORY_LIMIT/,
  );
  t.ok(log.lines.some((l) => l.fields.event === "model_refused" && l.fields.name === "b"));
});
