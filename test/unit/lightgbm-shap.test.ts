/**
 * LightGBM's pred_contrib, recomputed by model/explain/lightgbm-tree-shap.ts (float64 TreeSHAP in
 * LightGBM's operation order) on every fixture, against LightGBM's own values: bit-identical —
 * through the walk itself, and through a loaded Model (outputs.ts `explain`, what the CLI and the
 * scoring threads call), also rebuilt from shared memory as a scoring thread holds it.
 */
import t from "tap";
import { lightgbmContribs, lightgbmShapUnsupported } from "../../model/explain/lightgbm-tree-shap.js";
import { MAX_SHAP_DEPTH } from "../../model/explain/tree-shap.js";
import { allocateTree } from "../../model/forest/build.js";
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

t.test("a tree deeper than TreeSHAP's limit: contribs refused by name, not walked", async (t) => {
  const fixture = lightgbmFixtures().find((f) => f.name === "binary")!;
  const forest = readForest(fixture.bytes());
  // A chain: each split's right child is a leaf, its left the next split (depth MAX_SHAP_DEPTH + 1).
  const splits = MAX_SHAP_DEPTH + 1;
  const chain = allocateTree(2 * splits + 1, { cover: true, leafId: true });
  const cover = chain.cover as Float64Array;
  const leafId = chain.leafId as Int32Array;
  // Node ids: split n is node 2n (n < splits), its right leaf 2n + 1, the last left leaf 2·splits.
  let leaf = 0;
  for (let n = 0; n < splits; n++) {
    chain.left[2 * n] = 2 * n + 2;
    chain.right[2 * n] = 2 * n + 1;
    chain.threshold[2 * n] = n;
    cover[2 * n] = splits + 1 - n;
    cover[2 * n + 1] = 1;
    leafId[2 * n + 1] = leaf++;
  }
  cover[2 * splits] = 1;
  leafId[2 * splits] = leaf;
  const deep = { ...forest, trees: [chain, ...forest.trees.slice(1)] };
  t.match(lightgbmShapUnsupported(deep), new RegExp(`deepest tree has ${splits} levels`));
  t.equal(lightgbmShapUnsupported(forest), null, "the fixture itself is explained");
  const model = new Model(deep);
  t.match(outputUnavailable(model, "contribs"), /deepest tree has 1001 levels/, "the API says why");
  t.throws(() => model.predictContribs(new Float64Array(model.numFeature), 1), {
    code: "FORESTD_ERR_OUTPUT_UNSUPPORTED",
  });
});
