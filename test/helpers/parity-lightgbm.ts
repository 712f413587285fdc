/**
 * The LightGBM fixtures (scripts/make_lightgbm_fixtures.py, test/fixtures/lightgbm) as parity
 * cases, against LightGBM's own outputs for the same file: raw scores, predictions and leaf
 * indices bit-identical (the head's exp is glibc's own, as LightGBM calls it:
 * model/heads/glibc-exp.ts); classes as LGBMClassifier.predict decides them and probabilities as
 * its predict_proba arranges them; rows as float64; the pandas fixture's rows also by name, with
 * category strings. The reader's Forest and the reference evaluator are held to the same.
 */

import { type LightGbmExpected, lightgbmFixtures, rowsOf } from "./lightgbm-fixtures.js";
import type { Expectation, ParityAdapter, ParityCase } from "./parity-harness.js";

/** LGBMClassifier.predict's class per row from LightGBM's own predictions (argmax, first largest). */
export function lightgbmClasses(expected: LightGbmExpected): number[] {
  const w = expected.predict_width;
  return Array.from({ length: expected.rows.length }, (_, r) => {
    if (w === 1) return expected.predict[r] > 0.5 ? 1 : 0;
    let best = 0;
    for (let k = 1; k < w; k++) if (expected.predict[r * w + k] > expected.predict[r * w + best]) best = k;
    return best;
  });
}

/** LGBMClassifier.predict_proba: a binary model's [1 - p, p] per row, else the predictions. */
function lightgbmProba(expected: LightGbmExpected): number[] {
  if (expected.predict_width > 1) return expected.predict;
  return expected.predict.flatMap((p) => [1 - p, p]);
}

const CLASSIFIERS = new Set(["binary", "multiclass", "multiclassova"]);

export const lightgbmParity: ParityAdapter = {
  library: "LightGBM",
  minCases: 33,
  reference: true,
  cases(): ParityCase[] {
    return lightgbmFixtures()
      .filter(({ name }) => name !== "linear_tree") // refused by name: test/unit/lightgbm-errors.test.ts
      .map(({ name, path, expected, bytes }): ParityCase => {
        const objective = expected.objective?.split(" ")[0] ?? "";
        const classes: Record<string, Expectation> = CLASSIFIERS.has(objective)
          ? {
              label: { values: lightgbmClasses(expected), source: "LGBMClassifier.predict" },
              proba: { values: lightgbmProba(expected), source: "LGBMClassifier.predict_proba" },
            }
          : {};
        return {
          name,
          path,
          bytes,
          rows: rowsOf(expected),
          facts: {
            format: "lightgbm",
            numTrees: expected.num_trees,
            numFeature: expected.num_features,
            numOutputs: expected.predict_width,
            rowPrecision: "f64",
            outputPrecision: "f64",
          },
          expected: {
            margin: { values: expected.raw_score, source: "LightGBM's predict(raw_score=True)" },
            prediction: { values: expected.predict, source: "LightGBM's predict" },
            leaf: { values: expected.pred_leaf, source: "LightGBM's predict(pred_leaf=True)" },
            ...classes,
          },
          sameRows: expected.rows_by_name
            ? [{ why: "rows by name, categories as strings (a DataFrame's)", rows: expected.rows_by_name }]
            : [],
        };
      });
  },
};
