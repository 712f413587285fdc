/**
 * A local MLflow model folder as MODEL_PATH: settings keep the directory (named after it), the
 * primary fetches MLmodel and the model file it names as one bundle (same folder, same bytes), the
 * poller sees either file change, and a folder whose MLmodel names a missing file is refused naming
 * it.
 */
import { cpSync, mkdtempSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { loadSettings } from "../../config/load-settings.js";
import { isMlflowBundle, unpackMlflowBundle } from "../../model/mlflow/index.js";
import {
  checkModel,
  type FetchedModel,
  fetchModel,
  type SourceSettings,
} from "../../server/model-source/index.js";
import { mlflowFolder } from "../helpers/mlflow-fixtures.js";

const base = mkdtempSync(join(tmpdir(), "forestd-mlflow-source-"));
t.teardown(() => rmSync(base, { recursive: true, force: true }));

function copy(name: string): string {
  const dir = join(base, name, "artifacts", "model");
  cpSync(mlflowFolder(name), dir, { recursive: true });
  return dir;
}

const settingsFor = (path: string): SourceSettings => ({
  model_path: path,
  model_sha256: "",
  model_cache_dir: "",
  model_fetch_timeout: 5,
  s3_force_path_style: false,
});

t.test("MODEL_PATH naming an MLflow folder", async (t) => {
  const dir = copy("xgboost-booster-binary");
  const { settings } = await loadSettings({ argv: ["--model", dir], env: {}, cwd: "/" });
  t.equal(settings.model_path, dir, "the folder itself, not a file in it");
  t.equal(settings.model_name, "model", "named after the folder, as MLflow names it");

  const first = (await fetchModel(settingsFor(dir))) as FetchedModel;
  t.ok(isMlflowBundle(first.bytes), "fetched as one bundle");
  t.same([...unpackMlflowBundle(first.bytes).keys()], ["MLmodel", "model.xgb"]);
  const again = (await fetchModel(settingsFor(dir))) as FetchedModel;
  t.equal(again.sha256, first.sha256, "the same folder, the same digest");
  t.notOk(await checkModel(settingsFor(dir), first.origin), "unchanged: no reload");

  const later = new Date(Date.now() + 60_000);
  utimesSync(join(dir, "model.xgb"), later, later);
  t.ok(await checkModel(settingsFor(dir), first.origin), "a newer model file is a new version");

  rmSync(join(dir, "model.xgb"));
  await t.rejects(fetchModel(settingsFor(dir)), {
    code: "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND",
    message: /the MLflow model folder has no model\.xgb/,
  });
});
