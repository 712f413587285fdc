/**
 * The ONNX graph fixtures (scripts/make_onnx_graph_fixtures.py, test/fixtures/onnx/graphs:
 * onnxmltools' LightGBM categorical conversions, opset-5 member sets, double ensembles, MIN/MAX
 * aggregates, Normalizer / Softmax after the ensemble, skl2onnx Pipelines and ColumnTransformers
 * with string inputs) as parity cases: rows by name as a client sends them, the scores output
 * bit-identical, labels identical, rows onnxruntime refuses refused; the reader's Forest and the
 * reference evaluator checked too (preprocessing and float64 splits are where lowering can slip).
 */
import { readFileSync } from "node:fs";
import { graphFixtures, rowByName } from "./onnx-graph-fixtures.js";
import type { ParityAdapter, ParityCase } from "./parity-harness.js";
import { ONNXRUNTIME_UNRECORDED } from "./parity-onnx.js";

export const onnxGraphParity: ParityAdapter = {
  library: "onnxruntime",
  minCases: 25,
  reference: true,
  cases(): ParityCase[] {
    return graphFixtures().map(({ name, path, expected, scoresOutput, labelOutput }): ParityCase => {
      const scores = expected.onnxruntime[scoresOutput];
      const source = `onnxruntime's ${scoresOutput}`;
      return {
        name,
        path,
        bytes: () => new Uint8Array(readFileSync(path)),
        rows: expected.rows.map(rowByName),
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
        refused: (expected.error_rows ?? []).map((row, i) => ({
          row: rowByName(row),
          libraryMessage: expected.onnxruntime_errors?.[i] ?? "",
        })),
      };
    });
  },
};
