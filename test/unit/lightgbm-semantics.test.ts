/**
 * LightGBM rules the fixtures reach only in part: a file without an objective line (a custom
 * objective: raw scores out), objective aliases, LightGBM's Atof, the threshold rewrite for the C
 * API's zeroing of tiny inputs, and the head's classes and probabilities.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ZERO_THRESHOLD } from "../../model/forest/forest.js";
import { lightgbmAtof, lightgbmPow } from "../../model/formats/lightgbm/numbers.js";
import { readObjective } from "../../model/formats/lightgbm/objective.js";
import { zeroedThreshold } from "../../model/formats/lightgbm/tree.js";
import { loadModel } from "../../model/index.js";
import { LIGHTGBM_FIXTURES, lightgbmFixtures, rowsOf } from "../helpers/lightgbm-fixtures.js";

const text = (name: string) => readFileSync(join(LIGHTGBM_FIXTURES, `${name}.txt`), "utf8");

t.test("no objective line: LightGBM converts nothing (a custom objective)", async (t) => {
  const f = lightgbmFixtures().find((x) => x.name === "binary")!;
  const model = loadModel(new TextEncoder().encode(text("binary").replace(/^objective=.*\n/m, "")));
  t.equal(model.objective, "custom");
  t.equal(model.task, "regression", "no classes without an objective");
  const rows = f.expected.rows.length;
  const predictions = model.predictBatch(rowsOf(f.expected), rows);
  t.same([...predictions], f.expected.raw_score, "predictions are the raw scores");
  t.match(model.unavailable("proba"), /not a classifier/);
});

t.test("objective aliases, as ParseObjectiveAlias maps a whole line", async (t) => {
  t.equal(readObjective("xentropy").objective, "cross_entropy");
  t.equal(readObjective("mae").objective, "regression_l1");
  t.throws(
    () => readObjective("softmax"),
    /objective multiclass needs num_class/,
    "softmax is multiclass, which needs num_class",
  );
  t.throws(
    () => readObjective("ova num_class:3 sigmoid:1"),
    /objective "ova" .* is not one LightGBM predicts with/,
    "an alias with parameters is not an alias (LightGBM: Unknown objective type name)",
  );
  t.equal(readObjective("none").objective, "custom");
  t.equal(readObjective(null).objective, "custom");
  t.same(readObjective("regression sqrt"), {
    objective: "regression",
    sigmoid: 1,
    sqrt: true,
    numClass: null,
  });
  t.equal(readObjective("huber sqrt").sqrt, false, "huber's constructor turns sqrt off");
  t.equal(readObjective("multiclassova num_class:4 sigmoid:1.3").numClass, 4);
});

t.test("Common::Atof and Common::Pow, LightGBM's own arithmetic", async (t) => {
  t.equal(lightgbmAtof("0.7"), 0.7);
  t.equal(lightgbmAtof("2.619"), 2.6189999999999998, "2.619 is not the nearest double to LightGBM");
  t.not(2.6189999999999998, 2.619);
  t.equal(lightgbmAtof("-1.5e2"), -150);
  t.equal(lightgbmAtof("inf"), 1e308, "inf reads as 1e308");
  t.ok(Number.isNaN(lightgbmAtof("abc")), "a word LightGBM refuses: NaN, then refused by the objective");
  t.equal(lightgbmPow(10, 6), 1e6);
  t.equal(lightgbmPow(10, -2), 1 / 100);
});

t.test("thresholds near zero, for the C API's zeroing of |x| <= kZeroThreshold", async (t) => {
  t.equal(ZERO_THRESHOLD, 1.0000000180025095e-35, "kZeroThreshold is 1e-35f");
  const below = zeroedThreshold(-ZERO_THRESHOLD);
  t.ok(below < -ZERO_THRESHOLD, "-kZeroThreshold becomes the double below it");
  t.equal(zeroedThreshold(-1e-36), below, "every t in [-kZeroThreshold, 0)");
  t.equal(zeroedThreshold(0), ZERO_THRESHOLD, "t in [0, kZeroThreshold) becomes kZeroThreshold");
  t.equal(zeroedThreshold(1e-36), ZERO_THRESHOLD);
  for (const v of [ZERO_THRESHOLD, -1e-30, 1e-30, 1.5, -2, Infinity])
    t.equal(zeroedThreshold(v), v, `${v} is kept`);
});

t.test("classes and probabilities", async (t) => {
  const f = lightgbmFixtures().find((x) => x.name === "binary")!;
  const model = loadModel(f.bytes());
  const rows = 5;
  const margins = model.predictBatch(rowsOf(f.expected).subarray(0, rows * 6), rows, { margin: true });
  const p = model.transform(margins, rows);
  t.same(
    [...model.head.probabilities(p, rows)],
    [...p].flatMap((v) => [1 - v, v]),
    "binary probabilities are [1 - p, p]",
  );
  const lowThreshold = model.classes(margins, rows, "margins", 0);
  t.same([...lowThreshold], [1, 1, 1, 1, 1], "THRESHOLD 0: every row is positive");
  t.same([...model.classes(margins, rows, "margins", 1)], [0, 0, 0, 0, 0], "THRESHOLD 1: none is");
});
