/**
 * The XGBoost fixtures (scripts/make_fixtures.py, test/fixtures/models) as parity cases: every
 * model in each form XGBoost wrote it (.json and .ubj: one case each), scored on the fixture's
 * rows as JSON arrays (null = missing) against XGBoost 1.7's predict(output_margin=True) and
 * predict(). Margins bit-identical; class indices (multi:softmax, binary:hinge) equal; other
 * transformed predictions within 1 float32 ulp, or 1e-7 near zero.
 */
import { readFileSync } from "node:fs";
import { fixtures } from "./fixtures.js";
import { BIT_IDENTICAL, type ParityAdapter, type ParityCase, type Tolerance } from "./parity-harness.js";

/** XGBoost computes sigmoid / softmax / exp in float32 with expf; V8's Math.exp then rounds to float32. */
const TRANSFORMED: Tolerance = {
  ulps: 1,
  absolute: 1e-7,
  why: "the objective's transform calls expf in XGBoost, Math.exp rounded to float32 here",
};

const NOT_RECORDED = "scripts/make_fixtures.py records XGBoost's predict and margins only";

export const xgboostParity: ParityAdapter = {
  library: "XGBoost",
  minCases: 80,
  reference: {
    // Measured: +0.23 s of CPU for 88 cases, to repeat what margins bit-identical to XGBoost's already
    // show; test/unit/forest-compile.test.ts holds the compiler to evaluateForest on random forests.
    skipped:
      "margins are bit-identical to XGBoost's own (forest-compile.test.ts checks engine = evaluateForest)",
  },
  cases(): ParityCase[] {
    return fixtures().flatMap(({ name, expected, files }) =>
      files.map((path): ParityCase => {
        const classes = expected.objective === "multi:softmax" || expected.objective === "binary:hinge";
        return {
          name: `${name} (${path.endsWith(".ubj") ? "ubj" : "json"})`,
          path,
          bytes: () => new Uint8Array(readFileSync(path)),
          rows: expected.rows,
          facts: {
            format: "xgboost",
            objective: expected.objective,
            numMarginOutputs: expected.num_outputs,
            numOutputs: expected.prediction_width,
          },
          expected: {
            margin: { values: expected.margins, source: "XGBoost's predict(output_margin=True)" },
            prediction: {
              values: expected.predictions,
              source: "XGBoost's predict",
              tolerance: classes ? BIT_IDENTICAL : TRANSFORMED,
            },
          },
          unrecorded: { proba: NOT_RECORDED, label: NOT_RECORDED, leaf: NOT_RECORDED },
        };
      }),
    );
  },
};
