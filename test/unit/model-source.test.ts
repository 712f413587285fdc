/**
 * What MODEL_PATH may name and how settings read it; local files through fetchModel and the
 * poller's check; the source error codes documented in docs/errors.md.
 */
import { copyFileSync, mkdtempSync, readFileSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import t from "tap";
import { loadSettings } from "../../config/load-settings.js";
import { describeLocation, parseModelLocation } from "../../config/model-location.js";
import {
  checkModel,
  type FetchedModel,
  fetchModel,
  ModelSourceErrorCodes,
  type SourceSettings,
} from "../../server/model-source/index.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "forestd-model-source-"));

t.test("locations: path, file://, s3://, https://; other schemes refused", async (t) => {
  t.same(parseModelLocation("models/m.json", "/srv"), { kind: "file", path: "/srv/models/m.json" });
  t.same(parseModelLocation("file:///srv/m%20x.json", "/"), { kind: "file", path: "/srv/m x.json" });
  t.same(parseModelLocation("s3://my-bucket/a/b c.json", "/"), {
    kind: "s3",
    bucket: "my-bucket",
    key: "a/b c.json",
  });
  const https = parseModelLocation("https://u:p@h.example/m.json?sig=1#x", "/");
  t.equal(describeLocation(https), "https://h.example/m.json", "no credentials, query or fragment");
  t.throws(() => parseModelLocation("s3://bucket", "/"), /names no object/);
  t.same(
    parseModelLocation("s3://bucket/runs/1/artifacts/model/", "/"),
    { kind: "s3", bucket: "bucket", key: "runs/1/artifacts/model/" },
    "a prefix: an MLflow model folder",
  );
  t.throws(() => parseModelLocation("s3://bucket/", "/"), /names no object/);
  t.throws(() => parseModelLocation("http://u:secret@h/m.json?sig=abc", "/"), {
    message: "http://h/m.json: plain http is refused (anyone on the path could swap the model); use https://",
  });
  t.throws(() => parseModelLocation("gs://bucket/m.json", "/"), /unsupported scheme "gs:"/);
});

t.test("settings: remote models kept as written, named after the object, MODEL_URI alias", async (t) => {
  const s3 = await loadSettings({ argv: [], env: { MODEL_PATH: " s3://models/churn/v3.json " }, cwd: dir });
  t.equal(s3.settings.model_path, "s3://models/churn/v3.json");
  t.equal(s3.settings.model_name, "v3");
  const alias = await loadSettings({
    argv: [],
    env: { MODEL_URI: "https://h.example/m/fraud.ubj?x=1" },
    cwd: dir,
  });
  t.equal(alias.settings.model_path, "https://h.example/m/fraud.ubj?x=1");
  t.equal(alias.settings.model_name, "fraud");
  const both = await loadSettings({
    argv: [],
    env: { MODEL_PATH: "s3://bkt/one.json", MODEL_URI: "s3://bkt/two.json" },
    cwd: dir,
  });
  t.equal(both.settings.model_path, "s3://bkt/one.json", "MODEL_PATH wins over its alias");
  const file = await loadSettings({
    argv: ["--model", pathToFileURL("/srv/x.json").href],
    env: {},
    cwd: dir,
  });
  t.equal(file.settings.model_path, "/srv/x.json", "file:// becomes a path");
  const cache = await loadSettings({ argv: [], env: { MODEL_CACHE_DIR: "cache" }, cwd: dir });
  t.equal(cache.settings.model_cache_dir, join(dir, "cache"), "MODEL_CACHE_DIR resolved against the cwd");
  await t.rejects(loadSettings({ argv: [], env: { MODEL_PATH: "ftp://h/m.json" }, cwd: dir }), {
    code: "FORESTD_ERR_SETTINGS",
    message: /MODEL_PATH \(--model, "model_path"\): ftp:\/\/h\/m\.json: unsupported scheme/,
  });
  await t.rejects(loadSettings({ argv: [], env: { MODEL_SHA256: "abc" }, cwd: dir }), {
    message: /MODEL_SHA256 .*must be a string matching/,
  });
  await t.rejects(loadSettings({ argv: [], env: { MODEL_POLL_INTERVAL: "-1" }, cwd: dir }), {
    message: /MODEL_POLL_INTERVAL/,
  });
});

function local(path: string, overrides: Partial<SourceSettings> = {}): SourceSettings {
  return {
    model_path: path,
    model_sha256: "",
    model_cache_dir: "",
    model_fetch_timeout: 5,
    s3_force_path_style: false,
    ...overrides,
  };
}

t.test("a local file: read, pinned, and watched by its modification time", async (t) => {
  const path = join(dir, "model.json");
  copyFileSync(join(FIXTURES, "binary_logistic.json"), path);
  const first = (await fetchModel(local(path))) as FetchedModel;
  t.same(Buffer.from(first.bytes), readFileSync(path));
  t.equal(first.origin.source, path);
  t.equal(await checkModel(local(path), first.origin), false, "untouched: no change");
  const touched = new Date(Date.now() + 5000);
  utimesSync(path, touched, touched);
  t.equal(await checkModel(local(path), first.origin), true, "a newer mtime is a change");
  const same = await fetchModel(local(path), first.origin);
  t.ok("unchanged" in same, "…but the same bytes are not a new model");
  copyFileSync(join(FIXTURES, "reg_squarederror.json"), path);
  const next = await fetchModel(local(path), first.origin);
  t.notOk("unchanged" in next, "new bytes are");
  await t.rejects(fetchModel(local(join(dir, "none.json"))), {
    code: "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND",
    message: `${join(dir, "none.json")}: no such file`,
  });
  await t.rejects(fetchModel(local(path, { model_sha256: "f".repeat(64) })), {
    code: "FORESTD_ERR_MODEL_CHECKSUM",
  });
});

t.test("every model source error code is documented", async (t) => {
  const doc = readFileSync(join(ROOT, "docs", "errors.md"), "utf8");
  for (const code of Object.keys(ModelSourceErrorCodes)) t.match(doc, code, code);
});
