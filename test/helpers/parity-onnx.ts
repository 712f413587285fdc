/**
 * The ONNX fixtures (scripts/make_onnx_fixtures.py, test/fixtures/onnx: skl2onnx conversions of
 * scikit-learn tree ensembles) as parity cases, against onnxruntime-node's recorded outputs on the
 * same file: the scores output (probabilities or values) bit-identical, as predictions and, for
 * classifiers, as probabilities; the label output identical. The reference evaluator runs too
 * (it costs nothing measurable on these small models).
 */
import { readFileSync } from "node:fs";
import { onnxFixtures } from "./onnx-fixtures.js";
import type { ParityAdapter, ParityCase } from "./parity-harness.js";

/** The margins and leaves onnxruntime does not answer: a graph's outputs are all it gives. */
export const ONNXRUNTIME_UNRECORDED = {
  margin: "onnxruntime answers only the graph's outputs, not the scores before post_transform",
  leaf: "onnxruntime has no leaf-index output",
};

export const onnxParity: ParityAdapter = {
  library: "onnxruntime",
  minCases: 12,
  reference: true,
  cases(): ParityCase[] {
    return onnxFixtures().map(({ name, path, expected, scoresOutput, labelOutput }): ParityCase => {
      const scores = expected.onnxruntime[scoresOutput];
      const source = `onnxruntime's ${scoresOutput}`;
      return {
        name,
        path,
        bytes: () => new Uint8Array(readFileSync(path)),
        rows: expected.rows,
        facts: { format: "onnx", numOutputs: scores.dims[1] ?? 1 },
        expected: {
          prediction: { values: scores.data, source },
          ...(labelOutput
            ? {
                proba: { values: scores.data, source },
                label: {
                  values: expected.onnxruntime[labelOutput].data,
                  source: `onnxruntime's ${labelOutput}`,
                },
              }
            : {}),
        },
        unrecorded: ONNXRUNTIME_UNRECORDED,
      };
    });
  },
};
