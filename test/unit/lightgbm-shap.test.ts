/**
 * LightGBM's pred_contrib, recomputed by model/explain/lightgbm-tree-shap.ts (float64 TreeSHAP in
 * LightGBM's operation order) on every fixture, against LightGBM's own values: bit-identical —
 * through the walk itself, and through a loaded Model (outputs.ts `explain`, what the CLI and the
 * scoring threads call), also rebuilt from shared memory as a scoring thread holds it.
 */
import t from "tap";
import { lightgbmContribs, lightgbmShapUnsupported } from "../../model/explain/lightgbm-tree-shap.js";
import { loadModel, Model, readForest } from "../../model/index.js";
import { explain, explainPrecision, explainShape, outputUnavailable } from "../../model/outputs.js";
import { lightgbmFixtures, rowsOf, ulps64 } from "../helpers/lightgbm-fixtures.js";

/** The first few values that differ from LightGBM's, and the worst distance in float64 steps. */
function compare(got: ArrayLike<number>, truth: readonly number[]): { wrong: unknown[]; worst: number } {
  const wrong: unknown[] = [];
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const d = ulps64(got[i], truth[i]);
    worst = Math.max(worst, d);
    if (d !== 0 && wrong.length < 5) wrong.push([i, got[i], truth[i], `${d} ulp`]);
  }
  return { wrong, worst };
}

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
    const { wrong, worst } = compare(contribs, truth);
    t.same(wrong, [], `${contribs.length} contributions bit-identical (worst ${worst} ulp)`);
  });
}

for (const fixture of lightgbmFixtures()) {
  const { name, expected } = fixture;
  const truth = expected.pred_contrib;
  if (truth === null) continue;
  t.test(`${name}: a loaded model explains as LightGBM (float64, served)`, async (t) => {
    const model = loadModel(fixture.bytes());
    t.equal(outputUnavailable(model, "contribs"), null, "contribs are served");
    t.equal(explainPrecision(model, "contribs"), "f64", "in float64, LightGBM's own type");
    t.equal(explainPrecision(model, "leaf"), "f32", "leaf ids stay float32");
    t.match(outputUnavailable(model, "interactions"), /no SHAP interaction values/);
    const rows = name === "large_500x63" ? 40 : expected.rows.length;
    const width = truth.length / expected.rows.length;
    const shape = explainShape(model, "contribs");
    t.equal(
      shape.reduce((a, b) => a * b, 1),
      width,
      `shape [${shape.join(", ")}]: classes × (features + 1)`,
    );
    const x = rowsOf(expected).subarray(0, rows * expected.num_features);
    const want = truth.slice(0, rows * width);
    for (const [how, m] of [
      ["loadModel", model],
      ["rebuilt from shared memory", Model.fromShared(model.share())],
    ] as const) {
      const contribs = explain(m, "contribs", Float64Array.from(x), rows);
      t.ok(contribs instanceof Float64Array, `${how}: a Float64Array`);
      t.equal(contribs.length, want.length, `${how}: rows × classes × (features + 1)`);
      const { wrong, worst } = compare(contribs, want);
      t.same(wrong, [], `${how}: ${contribs.length} contributions bit-identical (worst ${worst} ulp)`);
    }
  });
}
