/**
 * Explanations against XGBoost 1.7's own, on every fixture model XGBoost can load: leaf indices
 * identical; SHAP contributions and interactions within 1e-5 (and, in practice, bit-identical:
 * the share is printed). Contributions must also add up to the margin.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { loadModel, rowsToArray } from "../../model/index.js";
import { compareShap, explainFixtures } from "../helpers/explain-fixtures.js";
import { FIXTURES } from "../helpers/fixtures.js";

const all = explainFixtures();
t.ok(all.length >= 30, `found ${all.length} explanation fixtures`);

let values = 0;
let identical = 0;

for (const { name, file, expected } of all) {
  t.test(name, async (t) => {
    const model = loadModel(file);
    const rows = expected.rows.length;
    const x = rowsToArray(model, expected.rows);

    const leaf = model.predictLeaf(x, rows);
    t.same([...leaf], expected.leaf, "leaf ids equal XGBoost's pred_leaf");

    const width = model.numFeature + 1;
    const contribs = model.predictContribs(x, rows);
    t.equal(contribs.length, expected.contribs.length, "contribs shape");
    const c = compareShap(contribs, expected.contribs, width);
    t.equal(c.far, 0, `contribs within 1e-5 of XGBoost's ${c.worst}`);

    // Efficiency: a row's contributions sum to its margin (relatively: XGBoost sums in float32).
    const margins = model.predictBatch(x, rows, { margin: true });
    let off = 0;
    for (let i = 0; i < margins.length; i++) {
      let sum = 0;
      for (let k = 0; k < width; k++) sum += contribs[i * width + k];
      if (Math.abs(sum - margins[i]) > 1e-4 * Math.max(1, Math.abs(margins[i]))) off++;
    }
    t.equal(off, 0, "contributions add up to the margin");

    const n = expected.interaction_rows;
    const interactions = model.predictInteractions(x.subarray(0, n * model.numFeature), n);
    t.equal(interactions.length, expected.interactions.length, "interactions shape");
    const i = compareShap(interactions, expected.interactions, width * width);
    t.equal(i.far, 0, `interactions within 1e-5 of XGBoost's ${i.worst}`);

    values += expected.contribs.length + expected.interactions.length;
    identical += c.identical + i.identical;
  });
}

t.teardown(() => {
  const share = ((100 * identical) / Math.max(1, values)).toFixed(2);
  t.comment(`bit-identical to XGBoost: ${identical} of ${values} SHAP values (${share}%)`);
});

t.test("a model saved without node covers scores and gives leaves, but refuses SHAP by name", async (t) => {
  const doc = JSON.parse(readFileSync(join(FIXTURES, "binary_logistic.json"), "utf8"));
  delete doc.learner.gradient_booster.model.trees[3].sum_hessian;
  const model = loadModel(new TextEncoder().encode(JSON.stringify(doc)));
  const x = new Float32Array(model.numFeature);
  t.equal(model.predictBatch(x, 1).length, 1, "still scores");
  t.equal(model.predictLeaf(x, 1).length, model.numTrees, "still gives leaf ids");
  t.match(model.unavailable("contribs"), /tree 3 has no sum_hessian/);
  t.throws(() => model.predictContribs(x, 1), { code: "FORESTD_ERR_OUTPUT_UNSUPPORTED" });
  t.throws(() => model.predictInteractions(x, 1), /tree 3 has no sum_hessian/);
});
