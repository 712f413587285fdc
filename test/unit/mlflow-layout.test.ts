/**
 * A repository's layout with MLflow model folders (server/repository/layout.ts): a model's folder
 * holding MLmodel is one version, a version folder holding MLmodel is that version, and nothing
 * else MLflow writes beside it (conda.yaml, metadata/, code/) is refused as a second model.
 */
import t from "tap";
import { layoutOf } from "../../server/repository/layout.js";

const files = (...paths: string[]) => paths.map((path) => ({ path }));

t.test("MLflow folders as models and as versions", async (t) => {
  const { models, refused } = layoutOf(
    files(
      "risk/MLmodel",
      "risk/model.pkl",
      "risk/conda.yaml",
      "risk/requirements.txt",
      "risk/metadata/MLmodel",
      "risk/forestd.json",
      "churn/1/MLmodel",
      "churn/1/model.xgb",
      "churn/1/python_env.yaml",
      "churn/1/metadata/…",
      "churn/2/model.json",
      "plain/model.json",
    ),
  );
  t.same(refused, [], "nothing refused");
  const byName = Object.fromEntries(models.map((m) => [m.name, m]));
  t.same(
    byName.risk.versions.map((v) => [v.version, v.file.path, v.mlflowFolder]),
    [[null, "risk/MLmodel", "risk/"]],
    "a model's folder with MLmodel: one version, the folder",
  );
  t.equal(byName.risk.config?.path, "risk/forestd.json", "its forestd.json still applies");
  t.same(
    byName.churn.versions.map((v) => [v.version, v.file.path, v.mlflowFolder]),
    [
      ["1", "churn/1/MLmodel", "churn/1/"],
      ["2", "churn/2/model.json", undefined],
    ],
    "a version folder with MLmodel beside a plain one",
  );
  t.same(
    byName.plain.versions.map((v) => v.mlflowFolder),
    [undefined],
  );
});
