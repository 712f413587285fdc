/**
 * The scikit-learn fixtures (scripts/make_sklearn_fixtures.py, test/fixtures/sklearn) as parity
 * cases, against scikit-learn 1.2.1's own predict / predict_proba / decision_function /
 * score_samples on the same float64 rows (by position, and by name for DataFrame-fitted models).
 *
 * Bit-identical: tree and forest probabilities and values, GradientBoosting regressors' values,
 * HistGradientBoosting raw scores and identity-link values, every label. Within 2 float64 ulp:
 * what goes through exp or log (GradientBoosting classifiers' init log(p / (1 - p)) and their
 * expit / softmax, HistGradientBoosting's expit / softmax / exp link, IsolationForest's c(n) and
 * 2^x): V8's Math.exp / Math.log against the libm numpy calls. The reference evaluator runs too.
 */
import { readFileSync } from "node:fs";
import type { Expectation, ParityAdapter, ParityCase, ParityKind, Tolerance } from "./parity-harness.js";
import { type SklearnExpected, sklearnFixtures } from "./sklearn-fixtures.js";

type Method = "predict" | "predict_proba" | "decision_function" | "score_samples";

const LIBM: Tolerance = {
  ulps: 2,
  why: "scikit-learn calls numpy's libm exp / log, forestd V8's Math.exp / Math.log",
};

/** Outputs that pass through exp / log in scikit-learn (≤ 2 ulp); everything else must be identical. */
function transcendental(name: string, estimator: string, method: Method): boolean {
  if (estimator === "IsolationForest") return method !== "predict";
  if (estimator === "GradientBoostingClassifier") return method !== "predict";
  if (estimator === "HistGradientBoostingClassifier") return method === "predict_proba";
  // The fixtures' only HistGradientBoostingRegressor with a log link is the Poisson loss.
  if (estimator === "HistGradientBoostingRegressor") return name.includes("poisson") && method === "predict";
  return false;
}

/**
 * Rows scikit-learn answers differently on purpose: HistGradientBoosting casts a category to uint8
 * (300 reads as 44); forestd reads categories >= 256 as unknown. No category >= 256 exists at fit.
 */
function skipped(name: string, row: (number | null)[]): boolean {
  return name.includes("categorical") && row[0] !== null && row[0] >= 256;
}

export const sklearnParity: ParityAdapter = {
  library: "scikit-learn",
  minCases: 60,
  reference: true,
  cases(): ParityCase[] {
    return sklearnFixtures().map(({ name, path, expected }): ParityCase => {
      const keep = expected.rows.map((row) => !skipped(name, row));
      const pick = <T>(v: readonly T[]) => v.filter((_, r) => keep[r]);
      const rows = pick(expected.rows);
      const of = (method: Method, values: SklearnExpected[Method]): Expectation => ({
        values: pick(values as (number | string | number[])[]).flat(),
        source: `scikit-learn's ${method}`,
        ...(transcendental(name, expected.estimator, method) ? { tolerance: LIBM } : {}),
      });
      const e: Partial<Record<ParityKind, Expectation>> = {};
      const classifier = expected.classes !== undefined;
      if (classifier) {
        e.label = of("predict", expected.predict);
        e.prediction = of("predict_proba", expected.predict_proba);
        e.proba = of("predict_proba", expected.predict_proba);
        if (expected.decision_function) e.margin = of("decision_function", expected.decision_function);
      } else if (expected.estimator === "IsolationForest") {
        e.label = of("predict", expected.predict);
        e.prediction = of("decision_function", expected.decision_function);
        e.margin = of("score_samples", expected.score_samples);
      } else e.prediction = of("predict", expected.predict);
      const names = expected.feature_names;
      return {
        name,
        path,
        bytes: () => new Uint8Array(readFileSync(path)),
        rows,
        facts: {
          format: "sklearn",
          objective: expected.estimator,
          ...(expected.classes ? { classLabels: expected.classes } : {}),
          ...(names ? { featureNames: names } : {}),
        },
        expected: e,
        unrecorded: {
          margin: `${expected.estimator} has no decision_function; its margins are the summed trees`,
          leaf: "scripts/make_sklearn_fixtures.py does not record apply()",
        },
        sameRows: names
          ? [
              {
                why: "rows by feature name",
                rows: rows.map((row) => Object.fromEntries(names.map((f, i) => [f, row[i]]))),
              },
            ]
          : [],
        ...(rows.length < expected.rows.length
          ? { note: `${expected.rows.length - rows.length} rows with a category >= 256 left out` }
          : {}),
      };
    });
  },
};
