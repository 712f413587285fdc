/**
 * Every LightGBM fixture read by forestd's reader and scored by the Forest's reference semantics
 * (checkForest + evaluateForest) and LightGBM's head, against LightGBM's own outputs for the same
 * file: raw scores, leaf indices and predictions bit-identical (the head's exp is glibc's own, as
 * LightGBM calls it; see model/heads/glibc-exp.ts).
 */
import t from "tap";
import { checkForest } from "../model/forest/check.js";
import { evaluateForest, featuresOf, leafOf } from "../model/forest/evaluate.js";
import { lightgbmFormat } from "../model/formats/lightgbm/index.js";
import { lightgbmHead } from "../model/heads/lightgbm.js";
import { lightgbmFixtures, rowsOf, ulps64 } from "./helpers/lightgbm-fixtures.js";

const all = lightgbmFixtures();
t.ok(all.length >= 30, `found ${all.length} LightGBM fixtures`);

for (const fixture of all) {
  const { name, expected } = fixture;
  if (name === "linear_tree") continue; // refused by name: test/lightgbm-errors.test.ts
  t.test(name, async (t) => {
    const forest = lightgbmFormat.read(fixture.bytes());
    checkForest(forest);
    t.equal(forest.trees.length, expected.num_trees, "trees as LightGBM counts them");
    t.equal(forest.features.length, expected.num_features, "features as LightGBM counts them");
    const head = lightgbmHead(forest, forest.head);
    const rows = expected.rows.length;
    const inputs = rowsOf(expected);

    const sums = evaluateForest(forest, inputs, rows);
    const margins = head.finish(sums, rows);
    t.equal(margins.length, expected.raw_score.length, "raw scores per row as LightGBM's");
    const rawMismatch = [...margins].flatMap((v, i) =>
      Object.is(v, expected.raw_score[i]) ? [] : [[i, v, expected.raw_score[i]]],
    );
    t.same(
      rawMismatch.slice(0, 5),
      [],
      `${margins.length} raw scores bit-identical (${rawMismatch.length} differ)`,
    );

    const predictions = new Float64Array(rows * head.numOutputs);
    head.predict(margins, rows, predictions);
    t.equal(head.numOutputs, expected.predict_width, "prediction width as LightGBM's");
    // Bit-identical, not just within an ulp: the head's exp is glibc's own (glibc-exp.ts).
    const predictMismatch = [...predictions].flatMap((v, i) =>
      Object.is(v, expected.predict[i]) ? [] : [[i, v, expected.predict[i], ulps64(v, expected.predict[i])]],
    );
    t.same(
      predictMismatch.slice(0, 5),
      [],
      `${predictions.length} predictions bit-identical (${predictMismatch.length} differ)`,
    );

    const leaves: number[] = [];
    for (let r = 0; r < rows; r++) {
      const row = featuresOf(
        forest,
        inputs.subarray(r * expected.num_features, (r + 1) * expected.num_features),
      );
      for (const tree of forest.trees) leaves.push(tree.leafId![leafOf(tree, row)]);
    }
    const leafMismatch = leaves.flatMap((v, i) =>
      v === expected.pred_leaf[i] ? [] : [[i, v, expected.pred_leaf[i]]],
    );
    t.same(
      leafMismatch.slice(0, 5),
      [],
      `${leaves.length} leaf indices identical (${leafMismatch.length} differ)`,
    );
  });
}
