/** `forestd predict --output contribs|interactions|leaf|label`, run as a user runs it. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { CLI, forestd, forestdAsync } from "../helpers/cli.js";
import { compareShap, explainFixtures } from "../helpers/explain-fixtures.js";
import { FIXTURES } from "../helpers/fixtures.js";

const SAMPLE = ["binary_logistic", "dart_multi", "categorical_partition"];

for (const { name, file, expected } of explainFixtures().filter((f) => SAMPLE.includes(f.name))) {
  t.test(`${name}: explanations equal XGBoost's, in XGBoost's shapes`, async (t) => {
    const rows = JSON.stringify(expected.rows);
    const few = JSON.stringify(expected.rows.slice(0, expected.interaction_rows));
    // Three runs side by side: each is mostly Node's start-up and reading the model.
    const [leaf, contribs, inter] = await Promise.all([
      forestdAsync(["predict", "-m", file, "--output", "leaf"], rows),
      forestdAsync(["predict", "-m", file, "-o", "contribs"], rows),
      forestdAsync(["predict", "-m", file, "--output", "interactions"], few),
    ]);
    t.equal(leaf.code, 0, leaf.stderr);
    const leafJson = JSON.parse(leaf.stdout) as number[][];
    t.same(leafJson.length, expected.leaf_shape[0]);
    t.same(leafJson.flat(), expected.leaf, "leaf ids");

    t.equal(contribs.code, 0, contribs.stderr);
    const c = JSON.parse(contribs.stdout) as unknown[];
    t.same(shapeOf(c), expected.contribs_shape, "contribs shape is XGBoost's (N, [K,] F+1)");
    const width = expected.contribs_shape[expected.contribs_shape.length - 1];
    t.equal(compareShap(c.flat(3) as number[], expected.contribs, width).far, 0, "contribs values");

    t.equal(inter.code, 0, inter.stderr);
    const i = JSON.parse(inter.stdout) as unknown[];
    t.same(shapeOf(i), expected.interactions_shape, "interactions shape");
    t.equal(compareShap(i.flat(4) as number[], expected.interactions, width * width).far, 0);
  });
}

t.test("labels: class indices, names, threshold; bad names refused", async (t) => {
  const bin = join(FIXTURES, "binary_logistic.json");
  const rows = JSON.stringify([
    [0, 0, 0, 0, 0, 0],
    [5, 5, 5, 5, 5, 5],
  ]);
  const probs = JSON.parse(forestd(["predict", "-m", bin], rows).stdout) as number[];
  const labels = JSON.parse(forestd(["predict", "-m", bin, "-o", "label"], rows).stdout) as number[];
  t.same(
    labels,
    probs.map((p) => (p > 0.5 ? 1 : 0)),
    "binary: probability above 0.5 is class 1",
  );
  const named = forestd(
    ["predict", "-m", bin, "-o", "label", "--class-names", "no,yes", "--threshold", "0"],
    rows,
  );
  t.same(JSON.parse(named.stdout), ["yes", "yes"], "threshold 0: every row is class 1, by name");
  const bad = forestd(["predict", "-m", bin, "-o", "label", "--class-names", "a,b,c"], rows);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--class-names has 3 name\(s\).*2 classes/);
  const multi = forestd(["predict", "-m", join(FIXTURES, "multi_softprob.json"), "-o", "label"], rows);
  const probsMulti = JSON.parse(
    forestd(["predict", "-m", join(FIXTURES, "multi_softprob.json")], rows).stdout,
  ) as number[][];
  t.same(
    JSON.parse(multi.stdout),
    probsMulti.map((p) => p.indexOf(Math.max(...p))),
    "multi-class: the most probable class",
  );
  const reg = forestd(["predict", "-m", join(FIXTURES, "reg_squarederror.json"), "-o", "label"], rows);
  t.equal(reg.code, 2, "a usage error, refused before any row is read");
  t.match(reg.stderr, /output "label" needs a classifier/);
  const unknown = forestd(["predict", "-o", "shap"], rows);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /--output must be/);
});

t.test("forestd serve refuses CLASS_NAMES that do not fit the model, before starting", async (t) => {
  const bin = join(FIXTURES, "binary_logistic.json");
  const run = spawnSync(process.execPath, [CLI, "serve", "--model", bin, "--bind", "127.0.0.1:0"], {
    encoding: "utf8",
    env: { ...process.env, CLASS_NAMES: "low,mid,high" },
    timeout: 60_000,
  });
  t.equal(run.status, 2, "exit 2, as for any bad setting");
  t.match(
    run.stderr,
    /CLASS_NAMES has 3 name\(s\) \(low, mid, high\), but the model \(binary:logistic\) has 2 classes/,
  );
});

function shapeOf(v: unknown): number[] {
  const shape: number[] = [];
  let x = v;
  while (Array.isArray(x)) {
    shape.push(x.length);
    x = x[0];
  }
  return shape;
}
