/** The fixture models written by scripts/make_fixtures.py, and XGBoost's outputs for them. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../model/default-model.js";

/** The repository root, found by walking up: the suite runs compiled, from dist/test/. */
export const ROOT = packageRoot();
export const FIXTURES = join(ROOT, "test", "fixtures", "models");

export interface Expected {
  model: string;
  objective: string;
  rows: (number | null)[][];
  num_outputs: number;
  prediction_width: number;
  predictions: number[];
  margins: number[];
  synthetic?: { from: string; notes: string };
}

export interface Fixture {
  name: string;
  expected: Expected;
  /** The model file in each format XGBoost wrote (synthetic ones are JSON only). */
  files: string[];
}

export function fixtures(): Fixture[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith(".expected.json"))
    .sort()
    .map((f) => {
      const name = f.slice(0, -".expected.json".length);
      const files = [".json", ".ubj"].map((ext) => join(FIXTURES, name + ext)).filter((p) => existsSync(p));
      return { name, expected: JSON.parse(readFileSync(join(FIXTURES, f), "utf8")) as Expected, files };
    });
}

/** Distance in float32 units in the last place between two float32 values. */
export function ulpDistance(a: number, b: number): number {
  const buf = new DataView(new ArrayBuffer(8));
  const ordered = (x: number) => {
    buf.setFloat32(0, x);
    const bits = buf.getInt32(0);
    return bits < 0 ? -(bits & 0x7fffffff) : bits;
  };
  return Math.abs(ordered(a) - ordered(b));
}

/** The tolerance for transformed outputs: 1 float32 ulp, or 1e-7 absolute near zero. */
export function closeEnough(actual: number, expected: number): boolean {
  return (
    Object.is(actual, expected) || ulpDistance(actual, expected) <= 1 || Math.abs(actual - expected) <= 1e-7
  );
}
