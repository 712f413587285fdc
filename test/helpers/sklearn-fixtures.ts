/** The scikit-learn fixtures written by scripts/make_sklearn_fixtures.py, and scikit-learn's answers. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./fixtures.js";

export const SKLEARN_FIXTURES = join(ROOT, "test", "fixtures", "sklearn");
export const SKLEARN_HOSTILE = join(SKLEARN_FIXTURES, "hostile");

export interface SklearnExpected {
  model: string;
  estimator: string;
  sklearn_version: string;
  rows: (number | null)[][];
  predict: (number | string | number[])[];
  predict_proba?: number[][];
  decision_function?: (number | number[])[];
  score_samples?: number[];
  classes?: (string | number)[];
  feature_names?: string[];
  notes?: string;
}

export interface SklearnFixture {
  name: string;
  path: string;
  expected: SklearnExpected;
}

export function sklearnFixtures(dir = SKLEARN_FIXTURES): SklearnFixture[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".expected.json"))
    .sort()
    .map((f) => {
      const expected = JSON.parse(readFileSync(join(dir, f), "utf8")) as SklearnExpected;
      return { name: f.slice(0, -".expected.json".length), path: join(dir, expected.model), expected };
    });
}

/** Rows as the reference evaluator takes them (null = NaN). */
export function rowsToFloat64(rows: (number | null)[][]): Float64Array {
  return Float64Array.from(rows.flat(), (v) => (v === null ? Number.NaN : v));
}

/** Distance in float64 units in the last place. */
export function ulp64(a: number, b: number): number {
  if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  const view = new DataView(new ArrayBuffer(8));
  const ordered = (x: number) => {
    view.setFloat64(0, x);
    const bits = view.getBigInt64(0);
    return bits < 0n ? -(bits & 0x7fffffffffffffffn) : bits;
  };
  const d = ordered(a) - ordered(b);
  return Number(d < 0n ? -d : d);
}
