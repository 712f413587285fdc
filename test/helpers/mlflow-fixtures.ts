/** The MLflow model folders written by scripts/make_mlflow_fixtures.py, and what each flavor answered. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./fixtures.js";

export const MLFLOW_FIXTURES = join(ROOT, "test", "fixtures", "mlflow");

/** The flavors whose model files the engine reads: every served fixture folder. */
export const FLAVORS = ["xgboost", "sklearn", "lightgbm"] as const;

export interface MlflowExpected {
  folder: string;
  flavor: "xgboost" | "sklearn" | "lightgbm";
  notes: string;
  /** The rows' columns, in the signature's (or the model's) order. */
  columns: string[];
  /** null = NaN. */
  rows: (number | null)[][];
  /** What the flavor's pyfunc answered per row: a number, a label, or a row of probabilities. */
  predictions: (number | string | number[])[];
  /** `json.dumps({"dataframe_split": df.to_dict(orient="split")})`, as a Python client sends it. */
  request_split: string;
  /** `df.to_csv(index=False)` and `df.to_csv()`. */
  request_csv: string;
  request_csv_with_index: string;
  best_iteration?: number;
}

export interface MlflowRefused {
  folder: string;
  /** Words the refusal must name. */
  refused: string[];
  notes: string;
}

export function mlflowFolder(name: string): string {
  return join(MLFLOW_FIXTURES, name);
}

function expectedFiles(): [string, MlflowExpected | MlflowRefused][] {
  return readdirSync(MLFLOW_FIXTURES)
    .filter((f) => f.endsWith(".expected.json") && statSync(join(MLFLOW_FIXTURES, f)).isFile())
    .sort()
    .map((f) => [
      f.slice(0, -".expected.json".length),
      JSON.parse(readFileSync(join(MLFLOW_FIXTURES, f), "utf8")),
    ]);
}

/** Folders forestd serves, with what their flavor answered. */
export function servedFolders(flavors?: readonly string[]): MlflowExpected[] {
  return expectedFiles()
    .map(([, e]) => e)
    .filter((e): e is MlflowExpected => !("refused" in e))
    .filter((e) => !flavors || flavors.includes(e.flavor));
}

/** Folders forestd must refuse, with what the refusal must name. */
export function refusedFolders(): MlflowRefused[] {
  return expectedFiles()
    .map(([, e]) => e)
    .filter((e): e is MlflowRefused => "refused" in e);
}
