/**
 * LightGBM's pred_contrib, recomputed by model/explain/lightgbm-tree-shap.ts (float64 TreeSHAP in
 * LightGBM's operation order) on every fixture, against LightGBM's own values: bit-identical.
 */
import t from "tap";
import { lightgbmContribs, lightgbmShapUnsupported } from "../../model/explain/lightgbm-tree-shap.js";
import { readForest } from "../../model/index.js";
import { lightgbmFixtures, rowsOf, ulps64 } from "../helpers/lightgbm-fixtures.js";

for (const fixture of lightgbmFixtures()) {
  const { name, expected } = fixture;
  const truth = expected.pred_contrib;
  if (truth === null) continue; // linear trees: LightGBM refuses pred_contrib too
  t.test(name, async (t) => {
    const forest = readForest(fixture.bytes());
    t.equal(lightgbmShapUnsupported(forest), null, "LightGBM's counts are there to weigh by");
    // The 500-tree model's first 40 rows: the reference walk is plain recursive JavaScript.
    const rows = name === "large_500x63" ? 40 : expected.rows.length;
    const contribs = lightgbmContribs(
      forest,
      rowsOf(expected).subarray(0, rows * expected.num_features),
      rows,
    );
    t.equal(contribs.length, (truth.length / expected.rows.length) * rows, "rows × classes × (features + 1)");
    const wrong: unknown[] = [];
    let worst = 0;
    contribs.forEach((v, i) => {
      const d = ulps64(v, truth[i]);
      worst = Math.max(worst, d);
      if (d !== 0 && wrong.length < 5) wrong.push([i, v, truth[i], `${d} ulp`]);
    });
    t.same(wrong, [], `${contribs.length} contributions bit-identical (worst ${worst} ulp)`);
  });
}
