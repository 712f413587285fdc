/**
 * Every fixture model, in every format XGBoost wrote it, scored against XGBoost's own outputs:
 * margins bit-identical, transformed outputs within 1 float32 ulp (1e-7 near zero), classes equal.
 */
import t from "tap";
import { loadModel, rowsToArray } from "../../model/index.js";
import { closeEnough, fixtures } from "../helpers/fixtures.js";

const all = fixtures();

t.ok(all.length >= 40, `found ${all.length} fixtures`);

for (const { name, expected, files } of all) {
  t.test(name, async (t) => {
    t.ok(files.length > 0, "has a model file");
    if (!expected.synthetic) t.equal(files.length, 2, "XGBoost wrote it as .json and .ubj");
    for (const file of files) {
      const format = file.endsWith(".ubj") ? "ubj" : "json";
      const model = loadModel(file);
      const rows = expected.rows.length;
      const values = rowsToArray(model, expected.rows);
      t.equal(model.objective, expected.objective, `${format}: objective`);
      t.equal(model.numMarginOutputs, expected.num_outputs, `${format}: margin width`);
      t.equal(model.numOutputs, expected.prediction_width, `${format}: prediction width`);

      const margins = model.predictBatch(values, rows, { margin: true });
      const marginMismatches = [...margins].filter((m, i) => !Object.is(m, expected.margins[i])).length;
      t.equal(marginMismatches, 0, `${format}: ${margins.length} margins bit-identical to XGBoost's`);

      const predictions = model.predictBatch(values, rows);
      const classes = expected.objective === "multi:softmax" || expected.objective === "binary:hinge";
      const far = [...predictions].filter((p, i) =>
        classes ? p !== expected.predictions[i] : !closeEnough(p, expected.predictions[i]),
      ).length;
      t.equal(far, 0, `${format}: ${predictions.length} predictions ${classes ? "equal" : "within 1 ulp"}`);

      // One row at a time takes the latency path (scoreRow / scoreRowDense4): it must agree too.
      const width = model.numMarginOutputs;
      let singleMismatches = 0;
      for (let r = 0; r < rows; r++) {
        const one = model.predictBatch(values.subarray(r * model.numFeature, (r + 1) * model.numFeature), 1, {
          margin: true,
        });
        for (let g = 0; g < width; g++) if (!Object.is(one[g], margins[r * width + g])) singleMismatches++;
      }
      t.equal(singleMismatches, 0, `${format}: rows scored one by one equal the batch`);
    }
  });
}
