/** XGBoost's own explanations of the fixture models, from scripts/make_explain_fixtures.py. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, ROOT } from "./fixtures.js";

export const EXPLAIN_FIXTURES = join(ROOT, "test", "fixtures", "explain");

export interface ExplainExpected {
  model: string;
  rows: (number | null)[][];
  leaf_shape: number[];
  leaf: number[];
  contribs_shape: number[];
  contribs: number[];
  interaction_rows: number;
  interactions_shape: number[];
  interactions: number[];
}

export function explainFixtures(): { name: string; file: string; expected: ExplainExpected }[] {
  return readdirSync(EXPLAIN_FIXTURES)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => ({
      name: f.slice(0, -".json".length),
      file: join(FIXTURES, f),
      expected: JSON.parse(readFileSync(join(EXPLAIN_FIXTURES, f), "utf8")) as ExplainExpected,
    }));
}

/**
 * The tolerance for SHAP values: within 1e-5 absolute, or relative, or 1e-6 of the row's
 * largest value (`scale`).
 */
export function shapClose(actual: number, expected: number, scale: number): boolean {
  if (Object.is(actual, expected)) return true;
  const diff = Math.abs(actual - expected);
  return diff <= 1e-5 || diff <= 1e-5 * Math.abs(expected) || diff <= 1e-6 * scale;
}

/** Compares `actual` to `expected` in blocks of `width` (one row's values per group); counts. */
export function compareShap(
  actual: ArrayLike<number>,
  expected: readonly number[],
  width: number,
): { far: number; identical: number; worst: string } {
  let far = 0;
  let identical = 0;
  let worst = "";
  for (let at = 0; at < expected.length; at += width) {
    let scale = 0;
    for (let k = 0; k < width; k++) scale = Math.max(scale, Math.abs(expected[at + k]));
    for (let k = 0; k < width; k++) {
      const a = actual[at + k];
      const e = expected[at + k];
      if (Object.is(a, e)) identical++;
      else if (!shapClose(a, e, scale)) {
        if (far === 0) worst = `value ${at + k}: ${a} vs XGBoost's ${e}`;
        far++;
      }
    }
  }
  return { far, identical, worst };
}
