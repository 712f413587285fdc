/** The ONNX fixtures written by scripts/make_onnx_fixtures.py, with onnxruntime-node's outputs. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./fixtures.js";

export const ONNX_FIXTURES = join(ROOT, "test", "fixtures", "onnx");

export interface OnnxTruth {
  dims: number[];
  data: (number | string)[];
}

export interface OnnxExpected {
  model: string;
  notes: string;
  rows: (number | null)[][];
  sklearn_predict?: (number | string | number[])[];
  sklearn_proba?: number[][];
  /** onnxruntime-node's outputs by graph output name (ZipMap outputs as the tensor ZipMap packages). */
  onnxruntime: Record<string, OnnxTruth>;
}

export interface OnnxFixture {
  name: string;
  path: string;
  expected: OnnxExpected;
  /** The graph output carrying probabilities / values, and the one carrying labels (if any). */
  scoresOutput: string;
  labelOutput: string | null;
}

export function onnxFixtures(): OnnxFixture[] {
  return readdirSync(ONNX_FIXTURES)
    .filter((f) => f.endsWith(".expected.json"))
    .sort()
    .map((f) => {
      const name = f.slice(0, -".expected.json".length);
      const expected = JSON.parse(readFileSync(join(ONNX_FIXTURES, f), "utf8")) as OnnxExpected;
      const outs = Object.keys(expected.onnxruntime);
      const labelOutput = outs.find((o) => o.includes("label")) ?? null;
      const scoresOutput = outs.find((o) => o !== labelOutput)!;
      return { name, path: join(ONNX_FIXTURES, `${name}.onnx`), expected, scoresOutput, labelOutput };
    });
}
