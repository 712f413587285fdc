/**
 * `forestd predict`: scores or explains a JSON array of rows read from standard input, with the
 * engine alone (no server, no primary).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  answersFor,
  defaultModelPath,
  fromMargins,
  isOutputKind,
  loadModel,
  OUTPUT_KINDS,
  outputUnavailable,
  rowsToArray,
} from "../model/index.js";
import { classNamesProblem, explain, explainShape, isExplainKind, toNested } from "../model/outputs.js";
import { type Command, UsageError } from "./usage.js";

export const predictCommand: Command = {
  usage: `  forestd predict [--model FILE] [--output KIND] [--class-names A,B,..] [--threshold T] < rows.json
      Reads a JSON array of rows (arrays, null = missing; or objects keyed by feature name) and
      prints a JSON array with one entry per row. --output (default prediction):
        prediction    what the model's own library's predict gives: a number per row (an array
                      for multi-class probabilities); a scikit-learn classifier's label
        margin        raw margins (as --margin; an array per row for multi-class models)
        proba         every class's probability, an array per row
        contribs      SHAP values, XGBoost's pred_contribs (LightGBM's pred_contrib, in float64):
                      features + 1 (bias last), per class
        interactions  SHAP interaction values, XGBoost's pred_interactions: (F+1)×(F+1), per class
        leaf          the leaf each tree sends the row to, as the format's pred_leaf
        label         the class: a name from --class-names, else the model's own label; binary
                      models whose head allows it answer class 1 above --threshold (default 0.5)
      FILE is any model forestd reads (forestd inspect names the format); explanations need an
      XGBoost model (contribs and leaf: LightGBM too; leaf: scikit-learn too).`,
  run(args) {
    const { values } = parseArgs({
      args,
      options: {
        model: { type: "string", short: "m" },
        margin: { type: "boolean", default: false },
        output: { type: "string", short: "o", default: "prediction" },
        "class-names": { type: "string" },
        threshold: { type: "string", default: "0.5" },
      },
    });
    const output = values.margin ? "margin" : values.output;
    if (!isOutputKind(output))
      throw new UsageError(
        `--output must be one of ${OUTPUT_KINDS.join(", ")}, got "${output.slice(0, 40)}"`,
      );
    const threshold = Number(values.threshold);
    if (!(threshold >= 0 && threshold <= 1)) throw new UsageError("--threshold must be between 0 and 1");
    const model = loadModel(values.model ?? defaultModelPath());
    const unavailable = outputUnavailable(model, output);
    if (unavailable) throw new UsageError(unavailable);
    const classNames = values["class-names"]?.split(",").map((n) => n.trim()) ?? null;
    if (classNames) {
      const problem = classNamesProblem(model, classNames);
      if (problem) throw new UsageError(problem.replace("CLASS_NAMES", "--class-names"));
    }
    const input = readFileSync(0, "utf8");
    let rows: unknown;
    try {
      rows = JSON.parse(input);
    } catch (error) {
      throw new UsageError(`standard input is not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(rows)) throw new UsageError("standard input must be a JSON array of rows");
    const x = rowsToArray(model, rows);
    let json: unknown;
    if (isExplainKind(output)) {
      json = toNested(explain(model, output, x, rows.length), rows.length, explainShape(model, output));
    } else {
      const raw = model.predictBatch(x, rows.length, { margin: fromMargins(output) });
      json = answersFor(model, output, raw, rows.length, { classNames, threshold });
    }
    process.stdout.write(`${JSON.stringify(json)}\n`);
    return 0;
  },
};
