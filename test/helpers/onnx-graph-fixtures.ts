/**
 * The ONNX graph fixtures written by scripts/make_onnx_graph_fixtures.py (test/fixtures/onnx/graphs):
 * LightGBM categorical conversions, opset-5 member sets, double ensembles, MIN/MAX, nodes after the
 * ensemble, Pipelines and ColumnTransformers; with onnxruntime-node's outputs.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ONNX_FIXTURES, type OnnxTruth } from "./onnx-fixtures.js";

export const ONNX_GRAPHS = join(ONNX_FIXTURES, "graphs");

export interface GraphInputSpec {
  name: string;
  type: "float" | "double" | "int64" | "string";
  width: number;
}

type Cell = number | string | null;
/** A fixture row: one numeric input's values, or values by input name (arrays for wide inputs). */
export type GraphRow = Cell[] | Record<string, Cell | Cell[]>;

export interface GraphExpected {
  model: string;
  notes: string;
  inputs: GraphInputSpec[];
  rows: GraphRow[];
  /** Rows onnxruntime refuses, and its message for each. */
  error_rows?: GraphRow[];
  onnxruntime_errors?: string[];
  onnxruntime: Record<string, OnnxTruth>;
  lightgbm_predict?: (number | number[])[];
  sklearn_predict?: (number | string | number[])[];
}

export interface GraphFixture {
  name: string;
  path: string;
  expected: GraphExpected;
  /** The graph output carrying probabilities / values, and the one carrying labels (if any). */
  scoresOutput: string;
  labelOutput: string | null;
}

export function graphFixtures(): GraphFixture[] {
  return readdirSync(ONNX_GRAPHS)
    .filter((f) => f.endsWith(".expected.json"))
    .sort()
    .map((f) => {
      const name = f.slice(0, -".expected.json".length);
      const expected = JSON.parse(readFileSync(join(ONNX_GRAPHS, f), "utf8")) as GraphExpected;
      const outs = Object.keys(expected.onnxruntime);
      const labelOutput = outs.find((o) => o.includes("label")) ?? null;
      const scoresOutput = outs.find((o) => o !== labelOutput)!;
      return { name, path: join(ONNX_GRAPHS, `${name}.onnx`), expected, scoresOutput, labelOutput };
    });
}

/**
 * A fixture row as forestd takes it by name: a wide input's values under `name[j]`, a width-1
 * input's under its name; one-input graphs keep their positional arrays.
 */
export function rowByName(row: GraphRow): unknown {
  if (Array.isArray(row)) return row;
  const out: Record<string, Cell> = {};
  for (const [key, value] of Object.entries(row)) {
    if (!Array.isArray(value)) out[key] = value;
    else
      value.forEach((v, j) => {
        out[`${key}[${j}]`] = v;
      });
  }
  return out;
}
