/**
 * The ONNX fixtures' recorded onnxruntime answers against scikit-learn's own for the models they
 * were converted from. forestd's answers are held bit for bit to onnxruntime's by the parity
 * harness (test/unit/format-parity.test.ts, test/helpers/parity-onnx.ts), so these bounds hold for
 * forestd too: probabilities within 1e-5 of predict_proba (scikit-learn adds in float64 on the
 * same float32 rows), labels as predict except where two classes tie within that rounding, values
 * within float32 rounding of predict.
 */
import t from "tap";
import { onnxFixtures } from "../helpers/onnx-fixtures.js";

const all = onnxFixtures();
t.ok(all.length >= 12, `found ${all.length} ONNX fixtures`);

for (const { name, expected, scoresOutput, labelOutput } of all) {
  t.test(name, async (t) => {
    const rows = expected.rows.length;
    const outputs = expected.onnxruntime[scoresOutput].data as number[];

    if (expected.sklearn_proba) {
      const far = expected.sklearn_proba.flat().filter((p, i) => Math.abs(p - outputs[i]) > 1e-5).length;
      t.equal(far, 0, "onnxruntime's probabilities within 1e-5 of scikit-learn's predict_proba");
    }
    if (expected.sklearn_predict && labelOutput) {
      const labels = expected.onnxruntime[labelOutput].data;
      const unexplained = labels.filter((label, r) => {
        if (label === expected.sklearn_predict?.[r]) return false;
        const p = [...(expected.sklearn_proba?.[r] ?? [])].sort((a, b) => b - a);
        return !(p.length >= 2 && p[0] - p[1] < 1e-5);
      });
      t.same(unexplained, [], "onnxruntime's labels equal scikit-learn's predict (except float32 ties)");
      const ties = labels.filter((label, r) => label !== expected.sklearn_predict?.[r]).length;
      t.comment(
        `${ties} of ${rows} labels differ from scikit-learn's predict (allowed only at float32 ties)`,
      );
    } else if (expected.sklearn_predict) {
      const values = expected.sklearn_predict.flat() as number[];
      const far = values.filter((v, i) => Math.abs(v - outputs[i]) > 1e-4 * Math.max(1, Math.abs(v))).length;
      t.equal(far, 0, "onnxruntime's values within float32 rounding of scikit-learn's predict");
    }
  });
}
