/**
 * A model repository made of the test fixtures (XGBoost JSON/UBJSON, ONNX, scikit-learn joblib /
 * pickle / skops, LightGBM text), for the multi-model test and bench: one folder per model, the fixture's file in
 * it, and rows to score it with (the fixture's own). Deterministic: the same models in the same
 * order every time, formats interleaved.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { packageRoot } from "../../model/index.js";

const root = packageRoot();

export interface RepositoryModel {
  /** The folder's name, which is the model's. */
  readonly name: string;
  /** The fixture file copied into the folder. */
  readonly file: string;
  readonly format: "xgboost" | "onnx" | "sklearn" | "lightgbm";
  /** The file's name in its folder, when not the fixture's own (LightGBM's text is model.bst there). */
  readonly as?: string;
  /** The fixture's rows (null = missing; strings for string columns). */
  readonly rows: (number | string | null)[][];
}

function candidates(): RepositoryModel[][] {
  const read = (dir: string) =>
    readdirSync(dir)
      .filter((f) => f.endsWith(".expected.json"))
      .sort()
      .map((f) => ({ f, expected: JSON.parse(readFileSync(join(dir, f), "utf8")) }));
  const xgboost = read(join(root, "test", "fixtures", "models")).flatMap(({ f, expected }, i) => {
    const stem = f.slice(0, -".expected.json".length);
    const file = join(root, "test", "fixtures", "models", `${stem}${i % 2 ? ".ubj" : ".json"}`);
    const any = existsSync(file) ? file : join(root, "test", "fixtures", "models", `${stem}.json`);
    return existsSync(any)
      ? [{ name: `xgb-${stem}`, file: any, format: "xgboost" as const, rows: expected.rows }]
      : [];
  });
  const onnx = read(join(root, "test", "fixtures", "onnx")).map(({ f, expected }) => ({
    name: `onnx-${f.slice(0, -".expected.json".length)}`,
    file: join(root, "test", "fixtures", "onnx", `${f.slice(0, -".expected.json".length)}.onnx`),
    format: "onnx" as const,
    rows: expected.rows,
  }));
  const sklearnDir = join(root, "test", "fixtures", "sklearn");
  const sklearn = existsSync(sklearnDir)
    ? read(sklearnDir).map(({ f, expected }) => ({
        name: `sk-${f.slice(0, -".expected.json".length)}`,
        file: join(sklearnDir, expected.model),
        format: "sklearn" as const,
        rows: expected.rows,
      }))
    : [];
  // LightGBM's text files go in as model.bst (in a folder, .txt would be any text file); the
  // linear-tree fixture is one forestd refuses.
  const lightgbmDir = join(root, "test", "fixtures", "lightgbm");
  const lightgbm = existsSync(lightgbmDir)
    ? readdirSync(lightgbmDir)
        .filter((f) => f.endsWith(".expected.json.gz") && !f.startsWith("linear_tree"))
        .sort()
        .map((f) => {
          const stem = f.slice(0, -".expected.json.gz".length);
          const expected = JSON.parse(gunzipSync(readFileSync(join(lightgbmDir, f))).toString("utf8"));
          return {
            name: `lgb-${stem}`,
            file: join(lightgbmDir, `${stem}.txt`),
            as: "model.bst",
            format: "lightgbm" as const,
            rows: expected.rows,
          };
        })
    : [];
  return [xgboost, onnx, sklearn, lightgbm].map((list) => list.filter((m) => existsSync(m.file)));
}

/** `count` fixture models, formats taken in turn while each lasts. */
export function pickModels(count: number): RepositoryModel[] {
  const lists = candidates();
  const out: RepositoryModel[] = [];
  for (let i = 0; out.length < count && lists.some((l) => i < l.length); i++)
    for (const list of lists) if (i < list.length && out.length < count) out.push(list[i]);
  if (out.length < count) throw new Error(`only ${out.length} fixture models exist; asked for ${count}`);
  return out;
}

/** Writes the models into `dir` (a folder each, the fixture's file name kept unless `as` says). */
export function writeRepository(dir: string, models: readonly RepositoryModel[]): void {
  for (const m of models) {
    mkdirSync(join(dir, m.name), { recursive: true });
    copyFileSync(m.file, join(dir, m.name, m.as ?? basename(m.file)));
  }
}
