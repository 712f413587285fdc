/**
 * Every scikit-learn fixture read by the sklearn format and scored by the reference evaluator and
 * the sklearn head, against scikit-learn 1.2.1's own predict / predict_proba / decision_function /
 * score_samples on the same float64 rows.
 *
 * Then the same through the API (loadModel: the compiled engine, rows as the server reads them,
 * by position and, for DataFrame-fitted models, by name): bit-identical to the reference evaluator.
 *
 * Bit-identical: tree and forest probabilities and values, GradientBoosting regressors' values,
 * HistGradientBoosting raw scores and identity-link values, every label. Within 2 ulp: what goes
 * through exp or log (GradientBoosting classifiers' init log(p / (1 - p)) and their expit /
 * softmax, HistGradientBoosting's expit / softmax / exp link, IsolationForest's c(n) and 2^x):
 * V8's Math.exp / Math.log against the libm numpy calls.
 */
import { readFileSync } from "node:fs";
import t from "tap";
import { checkForest } from "../../model/forest/check.js";
import { evaluateForest } from "../../model/forest/evaluate.js";
import { sklearnFormat } from "../../model/formats/sklearn/index.js";
import { sklearnHead } from "../../model/heads/sklearn.js";
import { loadModel, rowsToArray } from "../../model/index.js";
import { rowsToFloat64, sklearnFixtures, ulp64 } from "../helpers/sklearn-fixtures.js";

const all = sklearnFixtures();
t.ok(all.length >= 60, `found ${all.length} scikit-learn fixtures`);

/** Outputs that pass through exp / log in scikit-learn (≤ 2 ulp); everything else must be identical. */
function transcendental(estimator: string, loss: unknown, output: string): boolean {
  if (estimator === "IsolationForest") return output !== "predict";
  if (estimator === "GradientBoostingClassifier") return output !== "predict";
  if (estimator === "HistGradientBoostingClassifier") return output === "predict_proba";
  if (estimator === "HistGradientBoostingRegressor")
    return loss === "HalfPoissonLoss" && output === "predict";
  return false;
}

/**
 * Rows scikit-learn answers differently on purpose: HistGradientBoosting casts a category to uint8
 * (300 reads as 44); forestd reads categories >= 256 as unknown. No category >= 256 exists at fit.
 */
function skipped(name: string, row: (number | null)[]): boolean {
  return name.includes("categorical") && row[0] !== null && row[0] >= 256;
}

for (const { name, path, expected } of all) {
  t.test(name, async (t) => {
    const forest = sklearnFormat.read(new Uint8Array(readFileSync(path)));
    t.equal(forest.provenance.format, "sklearn");
    checkForest(forest);
    const head = sklearnHead(forest, forest.head);
    t.equal(head.objective, expected.estimator, "the estimator's class");
    const keep = expected.rows.map((row) => !skipped(name, row));
    const rows = expected.rows.filter((_, r) => keep[r]);
    const dropped = expected.rows.length - rows.length;
    if (dropped)
      t.comment(`${dropped} rows with a category >= 256 left out (scikit-learn wraps them modulo 256)`);
    const pick = <T>(v: T[] | undefined) => v?.filter((_, r) => keep[r]);
    const n = rows.length;
    const sums = evaluateForest(forest, rowsToFloat64(rows), n);
    const margins = head.finish(sums.slice(), n);
    const predictions = new Float64Array(n * head.numOutputs);
    head.predict(margins, n, predictions);
    const loss = forest.provenance.details.loss;

    const compare = (label: string, actual: ArrayLike<number>, want: number[]) => {
      t.equal(actual.length, want.length, `${label}: ${want.length} values`);
      let worst = 0;
      let differ = 0;
      for (let i = 0; i < want.length; i++) {
        const d = ulp64(actual[i], want[i]);
        if (d) differ++;
        worst = Math.max(worst, d);
      }
      if (transcendental(expected.estimator, loss, label)) {
        t.ok(
          worst <= 2,
          `${label}: within 2 ulp of scikit-learn's (worst ${worst}, ${differ} of ${want.length} not identical)`,
        );
      } else t.equal(worst, 0, `${label}: bit-identical to scikit-learn's (${want.length} values)`);
    };

    if (head.predictionIs === "labels") {
      const classes = head.classes(margins, n, "margins", 0.5);
      const labels = Array.from(classes, (c) => head.classLabels[c]);
      t.same(labels, pick(expected.predict), "labels as scikit-learn's predict");
    } else compare("predict", predictions, (pick(expected.predict) as (number | number[])[]).flat());
    if (expected.predict_proba) compare("predict_proba", predictions, pick(expected.predict_proba)!.flat());
    if (expected.classes) t.same(head.classLabels, expected.classes, "classes_");
    if (expected.decision_function) {
      const want = pick(expected.decision_function)!.flat();
      compare("decision_function", expected.estimator === "IsolationForest" ? predictions : margins, want);
    }
    if (expected.score_samples) compare("score_samples", margins, pick(expected.score_samples)!);
    // The API: loadModel compiles the forest; its answers must equal the reference evaluator's.
    const model = loadModel(path);
    t.equal(model.format, "sklearn");
    const apiRows = rowsToArray(model, rows);
    const apiMargins = model.predictBatch(apiRows, n, { margin: true });
    const same = (a: ArrayLike<number>, b: ArrayLike<number>) =>
      a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));
    t.ok(same(apiMargins, margins), "API margins bit-identical to the reference evaluator");
    t.ok(
      same(model.transform(apiMargins, n), predictions),
      "API predictions bit-identical to the reference evaluator",
    );
    if (head.predictionIs === "labels")
      t.same(model.labels(apiMargins, n), pick(expected.predict), "API labels as scikit-learn's predict");
    if (expected.feature_names) {
      const byName = rows.map((row) =>
        Object.fromEntries(expected.feature_names!.map((f, i) => [f, row[i]])),
      );
      const named = model.predictBatch(rowsToArray(model, byName), n, { margin: true });
      t.ok(same(named, margins), "rows by feature name answer as rows by position");
    }
    if (expected.feature_names) {
      const names = (forest.inputs ?? forest.features).map((f) => f.name);
      t.same(names, expected.feature_names, "feature names from feature_names_in_");
    }
  });
}
