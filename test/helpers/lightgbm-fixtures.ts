/**
 * The LightGBM fixtures written by scripts/make_lightgbm_fixtures.py: each model file and
 * LightGBM's own outputs for its rows (gzipped JSON, float64 values written with repr).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { ROOT } from "./fixtures.js";

export const LIGHTGBM_FIXTURES = join(ROOT, "test", "fixtures", "lightgbm");

export interface LightGbmExpected {
  model: string;
  file: string;
  lightgbm: string;
  objective: string | null;
  notes: string;
  num_trees: number;
  num_features: number;
  /** null = NaN */
  rows: (number | null)[][];
  /** pandas_categorical only: the rows as a JSON client gives them, categories as strings. */
  rows_by_name?: Record<string, string | number | null>[];
  predict_width: number;
  predict: number[];
  raw_score: number[];
  pred_leaf: number[];
  /** null where LightGBM refuses pred_contrib (linear trees). */
  pred_contrib: number[] | null;
}

export interface LightGbmFixture {
  name: string;
  /** The model file (gzipped for the large one). */
  path: string;
  expected: LightGbmExpected;
  /** The model file's bytes, gunzipped. */
  bytes(): Uint8Array;
}

export function lightgbmFixtures(): LightGbmFixture[] {
  return readdirSync(LIGHTGBM_FIXTURES)
    .filter((f) => f.endsWith(".expected.json.gz"))
    .sort()
    .map((f) => {
      const name = f.slice(0, -".expected.json.gz".length);
      const expected = JSON.parse(
        gunzipSync(readFileSync(join(LIGHTGBM_FIXTURES, f))).toString("utf8"),
      ) as LightGbmExpected;
      // The large model is committed gzipped (model.txt.gz).
      const plain = join(LIGHTGBM_FIXTURES, expected.file);
      const path = existsSync(plain) ? plain : `${plain}.gz`;
      return {
        name,
        path,
        expected,
        bytes: () => {
          const raw = readFileSync(path);
          return path.endsWith(".gz") ? new Uint8Array(gunzipSync(raw)) : new Uint8Array(raw);
        },
      };
    });
}

/** The rows as float64, NaN for null. */
export function rowsOf(expected: LightGbmExpected): Float64Array {
  return Float64Array.from(expected.rows.flat(), (v) => (v === null ? NaN : v));
}

/** How many float64 steps apart two doubles are (0 when equal, Infinity across NaN). */
export function ulps64(a: number, b: number): number {
  if (Object.is(a, b)) return 0;
  if (Number.isNaN(a) || Number.isNaN(b)) return Infinity;
  const view = new DataView(new ArrayBuffer(8));
  const ordered = (x: number) => {
    view.setFloat64(0, x);
    const bits = view.getBigInt64(0);
    return bits < 0n ? -(bits & 0x7fffffffffffffffn) : bits;
  };
  const d = ordered(a) - ordered(b);
  return Number(d < 0n ? -d : d);
}
