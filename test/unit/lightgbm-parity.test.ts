/**
 * Every LightGBM fixture against LightGBM's own outputs for the same file, twice: read by forestd's
 * reader and scored by the Forest's reference semantics (checkForest + evaluateForest) with
 * LightGBM's head, and loaded and scored by the compiled engine (loadModel, the API). Raw scores,
 * leaf indices and predictions bit-identical (the head's exp is glibc's own, as LightGBM calls it:
 * model/heads/glibc-exp.ts); classes as LGBMClassifier.predict decides them; rows scored one at a
 * time equal the batch; the pandas fixture's rows given by name, with category strings, equal
 * LightGBM's DataFrame predictions.
 */
import t, { type Test } from "tap";
import { checkForest } from "../../model/forest/check.js";
import { evaluateForest, featuresOf, leafOf } from "../../model/forest/evaluate.js";
import type { Values } from "../../model/heads/head.js";
import { lightgbmHead } from "../../model/heads/lightgbm.js";
import { loadModel, readForest, rowsToArray } from "../../model/index.js";
import { type LightGbmExpected, lightgbmFixtures, rowsOf, ulps64 } from "../helpers/lightgbm-fixtures.js";

const all = lightgbmFixtures();
t.ok(all.length >= 34, `found ${all.length} LightGBM fixtures`);

/** Indices where `actual` is not bit for bit `expected`, with both values (the first few). */
function mismatches(actual: ArrayLike<number>, expected: readonly number[]): unknown[] {
  const out: unknown[] = [];
  if (actual.length !== expected.length) return [["length", actual.length, expected.length]];
  for (let i = 0; i < actual.length && out.length < 5; i++)
    if (!Object.is(actual[i], expected[i]))
      out.push([i, actual[i], expected[i], `${ulps64(actual[i], expected[i])} ulp`]);
  return out;
}

function compare(
  t: Test,
  expected: LightGbmExpected,
  raw: Values,
  predictions: Values,
  leaves: ArrayLike<number>,
): void {
  t.same(mismatches(raw, expected.raw_score), [], `${raw.length} raw scores bit-identical`);
  t.same(mismatches(predictions, expected.predict), [], `${predictions.length} predictions bit-identical`);
  t.same(mismatches(leaves, expected.pred_leaf), [], `${leaves.length} leaf indices identical`);
}

/** LGBMClassifier.predict's class per row from LightGBM's own predictions (argmax, first largest). */
function lightgbmClasses(expected: LightGbmExpected): number[] {
  const w = expected.predict_width;
  const rows = expected.rows.length;
  return Array.from({ length: rows }, (_, r) => {
    if (w === 1) return expected.predict[r] > 0.5 ? 1 : 0;
    let best = 0;
    for (let k = 1; k < w; k++) if (expected.predict[r * w + k] > expected.predict[r * w + best]) best = k;
    return best;
  });
}

for (const fixture of all) {
  const { name, expected } = fixture;
  if (name === "linear_tree") continue; // refused by name: test/unit/lightgbm-errors.test.ts
  const rows = expected.rows.length;
  const inputs = rowsOf(expected);

  t.test(`${name}: reader + reference evaluator + head`, async (t) => {
    const forest = readForest(fixture.bytes(), fixture.path);
    t.equal(forest.provenance.format, "lightgbm", "found by content as LightGBM");
    checkForest(forest);
    t.equal(forest.trees.length, expected.num_trees, "trees as LightGBM counts them");
    t.equal(forest.features.length, expected.num_features, "features as LightGBM counts them");
    const head = lightgbmHead(forest, forest.head);
    t.equal(head.numOutputs, expected.predict_width, "prediction width as LightGBM's");
    const margins = head.finish(evaluateForest(forest, inputs, rows), rows);
    const predictions = new Float64Array(rows * head.numOutputs);
    head.predict(margins, rows, predictions);
    const leaves: number[] = [];
    for (let r = 0; r < rows; r++) {
      const row = featuresOf(
        forest,
        inputs.subarray(r * expected.num_features, (r + 1) * expected.num_features),
      );
      for (const tree of forest.trees) leaves.push(tree.leafId![leafOf(tree, row)]);
    }
    compare(t, expected, margins, predictions, leaves);
  });

  t.test(`${name}: loadModel (the compiled engine)`, async (t) => {
    const model = loadModel(fixture.bytes());
    t.equal(model.format, "lightgbm");
    t.equal(model.rowPrecision, "f64", "rows are given as float64");
    t.equal(model.numTrees, expected.num_trees);
    const raw = model.predictBatch(inputs, rows, { margin: true });
    t.ok(raw instanceof Float64Array, "margins are float64");
    const predictions = model.predictBatch(inputs, rows);
    compare(t, expected, raw, predictions, model.predictLeaf(inputs, rows));

    if (model.numClass > 0) {
      const truth = lightgbmClasses(expected);
      t.same([...model.classes(raw, rows, "margins")], truth, "classes from margins as LGBMClassifier's");
      t.same([...model.classes(predictions, rows, "predictions")], truth, "classes from predictions too");
    }

    let single = 0;
    const nf = model.numFeature;
    for (let r = 0; r < rows; r++) {
      const one = model.predictBatch(inputs.subarray(r * nf, (r + 1) * nf), 1, { margin: true });
      for (let k = 0; k < one.length; k++) if (!Object.is(one[k], raw[r * one.length + k])) single++;
    }
    t.equal(single, 0, "rows scored one by one equal the batch");

    if (expected.rows_by_name) {
      const named = rowsToArray(model, expected.rows_by_name);
      const byName = model.predictBatch(named, rows);
      t.same(
        mismatches(byName, expected.predict),
        [],
        "rows by name, categories as strings, as LightGBM's DataFrame predict",
      );
      t.same(
        [...named].map((v) => (Number.isNaN(v) ? null : v)),
        expected.rows.flat(),
        "strings become pandas' codes",
      );
    }
  });
}
