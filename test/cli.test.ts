/** The forestd command, run as a user runs it (the built dist/server/cli.js), on fixture models. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { closeEnough, FIXTURES, fixtures, ROOT } from "./helpers/fixtures.js";

const CLI = join(ROOT, "dist", "server", "cli.js");

function forestd(args: string[], input = "") {
  const run = spawnSync(process.execPath, [CLI, ...args], { input, encoding: "utf8" });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

t.test("predict matches XGBoost on every fixture (a sample of formats)", async (t) => {
  for (const { name, expected, files } of fixtures()) {
    const file = files[files.length - 1];
    const margin = forestd(["predict", "--model", file, "--margin"], JSON.stringify(expected.rows));
    t.equal(margin.code, 0, `${name}: exit 0 ${margin.stderr}`);
    const margins = (JSON.parse(margin.stdout) as (number | number[])[]).flat();
    t.same(margins, expected.margins, `${name}: margins exact`);
    const plain = forestd(["predict", "-m", file], JSON.stringify(expected.rows));
    const predictions = (JSON.parse(plain.stdout) as (number | number[])[]).flat();
    t.ok(
      predictions.every((p, i) => closeEnough(p, expected.predictions[i])),
      `${name}: predictions`,
    );
  }
});

t.test("predict shapes: a number per row, an array per row for softprob", async (t) => {
  const bin = forestd(
    ["predict"],
    JSON.stringify([{ height: 180, weight: 80, shoe_size: 44 }, [150, 45, 35]]),
  );
  const out = JSON.parse(bin.stdout);
  t.equal(out.length, 2);
  t.ok(out[0] > 0.9 && out[1] < 0.1, "the default model: tall heavy large feet → likely male");
  const multi = JSON.parse(
    forestd(["predict", "-m", join(FIXTURES, "multi_softprob.json")], "[[1,2,3,4,5,6]]").stdout,
  );
  t.equal(multi[0].length, 3);
  t.ok(Math.abs(multi[0][0] + multi[0][1] + multi[0][2] - 1) < 1e-6, "probabilities sum to 1");
});

t.test("clear errors and exit codes", async (t) => {
  const badRow = forestd(["predict"], '[[1, "x", 3]]');
  t.equal(badRow.code, 1);
  t.match(badRow.stderr, /FORESTD_ERR_INVALID_ROW: row 0, feature 1 \("weight"\)/);
  const badJson = forestd(["predict"], "[[1, 2,");
  t.equal(badJson.code, 2);
  t.match(badJson.stderr, /standard input is not valid JSON/);
  const badModel = forestd(["inspect", join(ROOT, "package.json")]);
  t.equal(badModel.code, 1);
  t.match(badModel.stderr, /FORESTD_ERR_MODEL_INVALID/);
  const unknown = forestd(["frobnicate"]);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command "frobnicate"/);
});

t.test("inspect", async (t) => {
  const text = forestd(["inspect", join(FIXTURES, "dart_multi.ubj")]);
  t.equal(text.code, 0);
  t.match(text.stdout, /objective:\s+multi:softprob/);
  t.match(text.stdout, /booster:\s+dart/);
  t.match(text.stdout, /classes:\s+3/);
  t.match(text.stdout, /xgboost:\s+1\.7\.4/);
  const json = JSON.parse(forestd(["inspect", "--json"]).stdout);
  t.match(json, {
    objective: "binary:logistic",
    numFeature: 3,
    featureNames: ["height", "weight", "shoe_size"],
    numTrees: 50,
  });
  t.ok(json.maxDepth >= 1 && json.numNodes > 0);
});
