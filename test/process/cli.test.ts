/** The forestd command, run as a user runs it (the built dist/cli/forestd.js), on fixture models. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { freePort } from "../../scripts/loopback.js";
import { CLI, forestd, forestdAsync } from "../helpers/cli.js";
import { closeEnough, FIXTURES, fixtures, ROOT } from "../helpers/fixtures.js";

t.test("predict matches XGBoost on every fixture (a sample of formats)", async (t) => {
  const queue = fixtures();
  const results: Promise<void>[] = [];
  // A few commands at a time: each run is mostly Node's start-up.
  const next = async (): Promise<void> => {
    const fixture = queue.shift();
    if (!fixture) return;
    const { name, expected, files } = fixture;
    const file = files[files.length - 1];
    const rows = JSON.stringify(expected.rows);
    const [margin, plain] = await Promise.all([
      forestdAsync(["predict", "--model", file, "--margin"], rows),
      forestdAsync(["predict", "-m", file], rows),
    ]);
    t.equal(margin.code, 0, `${name}: exit 0 ${margin.stderr}`);
    const margins = (JSON.parse(margin.stdout) as (number | number[])[]).flat();
    t.same(margins, expected.margins, `${name}: margins exact`);
    t.equal(plain.code, 0, `${name}: exit 0 ${plain.stderr}`);
    const perRow = JSON.parse(plain.stdout) as (number | number[])[];
    t.equal(perRow.length, expected.rows.length, `${name}: one prediction per row`);
    const predictions = perRow.flat();
    t.equal(predictions.length, expected.predictions.length, `${name}: every output`);
    t.ok(
      predictions.every((p, i) => closeEnough(p, expected.predictions[i])),
      `${name}: predictions`,
    );
    return next();
  };
  for (let i = 0; i < 2; i++) results.push(next());
  await Promise.all(results);
});

t.test("predict shapes: a number per row, an array per row for softprob", async (t) => {
  const bin = forestd(
    ["predict"],
    JSON.stringify([{ height: 180, weight: 80, shoe_size: 44 }, [150, 45, 35]]),
  );
  t.equal(bin.code, 0);
  const out = JSON.parse(bin.stdout);
  t.equal(out.length, 2);
  t.ok(out[0] > 0.9 && out[1] < 0.1, "the default model: tall heavy large feet → likely male");
  const multiRun = forestd(["predict", "-m", join(FIXTURES, "multi_softprob.json")], "[[1,2,3,4,5,6]]");
  t.equal(multiRun.code, 0);
  const multi = JSON.parse(multiRun.stdout);
  t.equal(multi.length, 1, "one row in, one out");
  t.equal(multi[0].length, 3);
  t.ok(Math.abs(multi[0][0] + multi[0][1] + multi[0][2] - 1) < 1e-6, "probabilities sum to 1");
});

t.test("clear errors and exit codes", async (t) => {
  // Side by side: each run is mostly Node's start-up.
  const [badRow, badJson, badModel, unknown, notArray, unknownFlag, badSetting, unknownSetting] =
    await Promise.all([
      forestdAsync(["predict"], '[[1, "x", 3]]'),
      forestdAsync(["predict"], "[[1, 2,"),
      forestdAsync(["inspect", join(ROOT, "package.json")]),
      forestdAsync(["frobnicate"]),
      forestdAsync(["predict"], '{"height": 180}'),
      forestdAsync(["predict", "--frobnicate"], "[]"),
      forestdAsync(["serve", "--workers", "0"]),
      forestdAsync(["serve", "--frobnicate", "1"]),
    ]);
  t.equal(badRow.code, 1);
  t.match(badRow.stderr, /FORESTD_ERR_INVALID_ROW: row 0, feature 1 \("weight"\)/);
  t.equal(badJson.code, 2);
  t.match(badJson.stderr, /standard input is not valid JSON/);
  t.equal(badModel.code, 1);
  t.match(badModel.stderr, /FORESTD_ERR_MODEL_INVALID/);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command "frobnicate"/);
  t.equal(notArray.code, 2, "stdin that is not an array: exit 2");
  t.match(notArray.stderr, /standard input must be a JSON array of rows/);
  t.equal(notArray.stdout, "", "and nothing on stdout");
  t.equal(unknownFlag.code, 2, "an unknown flag: exit 2");
  t.match(unknownFlag.stderr, /frobnicate/);
  t.equal(badSetting.code, 2, "an invalid setting: exit 2");
  t.match(badSetting.stderr, /invalid settings:[\s\S]*workers/i);
  t.equal(unknownSetting.code, 2, "an unknown serve flag: exit 2");
});

t.test("reload: exit codes for a pid file that is missing, holds no pid, or names no process", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "forestd-cli-"));
  const missing = forestd(["reload", "--pid-file", join(dir, "none.pid")]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /cannot read pid file/);
  writeFileSync(join(dir, "junk.pid"), "not a pid\n");
  const junk = forestd(["reload", "--pid-file", join(dir, "junk.pid")]);
  t.equal(junk.code, 2);
  t.match(junk.stderr, /does not hold a process id/);
  // A process id that no process has (pid_max is at most 2^22).
  writeFileSync(join(dir, "gone.pid"), `${2 ** 22 + 1}\n`);
  const gone = forestd(["reload", "--pid-file", join(dir, "gone.pid")]);
  t.equal(gone.code, 2);
  t.match(gone.stderr, /cannot signal process/);
  const none = forestd(["reload"]);
  t.equal(none.code, 2, "no pid file named");
});

t.test("serve stops with exit 1 when METRICS_PORT is taken", async (t) => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  t.teardown(() => holder.close());
  const { port } = holder.address() as AddressInfo;
  const bind = `127.0.0.1:${await freePort()}`;
  const run = spawnSync(process.execPath, [CLI, "serve", "--bind", bind, "--metrics-port", String(port)], {
    encoding: "utf8",
    timeout: 20_000,
  });
  t.equal(run.status, 1);
  t.match(run.stdout + run.stderr, /"event":"arbiter_halt".*cannot serve metrics on METRICS_PORT/);
  t.notMatch(run.stdout, /"event":"worker_spawn"/, "no worker started");
});

t.test("inspect", async (t) => {
  const text = forestd(["inspect", join(FIXTURES, "dart_multi.ubj")]);
  t.equal(text.code, 0);
  t.equal(text.stdout.trimEnd().split("\n").length, 13, "thirteen lines, one per fact");
  t.match(text.stdout, /kernel:\s+SIMD, 8-bit bins/, "which kernel scores it");
  t.match(text.stdout, /format:\s+XGBoost JSON, UBJSON or legacy binary/);
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
