/**
 * `forestd inspect`: what a model file holds, as the engine reads it — the same facts for every
 * format, then what the format says of itself (each format describes its own details).
 */
import { parseArgs } from "node:util";
import { FORMATS } from "../model/formats/index.js";
import { defaultModelPath, loadServable, type MlflowModelInfo } from "../model/index.js";
import { type Command, UsageError } from "./usage.js";

export const inspectCommand: Command = {
  usage: `  forestd inspect [FILE] [--json]
      Prints the format, objective, classes, features, trees, depth and nodes, and what the file
      says of itself (XGBoost: booster, base_score, version; ONNX: producer, opsets, operator,
      graph outputs, post_transform). FILE may be an MLflow model folder: then also its flavor,
      run id, MLflow version, signature and what its pyfunc answers.`,
  run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { json: { type: "boolean", default: false }, model: { type: "string", short: "m" } },
    });
    if (positionals.length > 1) throw new UsageError("inspect takes one model file");
    const path = positionals[0] ?? values.model ?? defaultModelPath();
    const { model, mlflow } = loadServable(path);
    const info = model.info();
    if (values.json) {
      // The format's own facts under the format's name, as /model has them.
      const { details, ...common } = info;
      process.stdout.write(
        `${JSON.stringify({ file: path, ...common, [info.format]: details, mlflow }, null, 2)}\n`,
      );
      return 0;
    }
    const features = info.featureNames.length > 0 ? info.featureNames.join(", ") : "(unnamed)";
    const format = FORMATS.find((f) => f.name === info.format);
    const classes =
      info.classLabels.length === 0
        ? "-"
        : info.classLabels.every((label, i) => label === i)
          ? String(info.classLabels.length)
          : info.classLabels.join(", ");
    const lines: [string, string][] = [
      ["file", path],
      [
        "format",
        `${format?.description ?? info.format}${info.producer ? `, written by ${info.producer}` : ""}`,
      ],
      ["objective", `${info.objective} (${info.task})`],
      ["classes", classes],
      ["outputs", `${info.numOutputs} per row (${info.numMarginOutputs} margins)`],
      ["features", `${info.numFeature}: ${features}`],
      ...(info.preprocess.length > 0
        ? [["preprocessing", info.preprocess.join(" → ")] as [string, string]]
        : []),
      ["trees", String(info.numTrees)],
      ["max depth", String(info.maxDepth)],
      ["nodes", `${info.numNodes} (${info.numLeaves} leaves)`],
      ["kernel", info.kernel],
      ...(format?.describe(info.details) ?? []),
      ...(mlflow ? mlflowLines(mlflow) : []),
    ];
    process.stdout.write(
      `${lines.map(([label, value]) => `${`${label}:`.padEnd(13)}${value}`).join("\n")}\n`,
    );
    return 0;
  },
};

/** An MLflow folder's facts, as `mlflow models serve` would serve it. */
function mlflowLines(m: MlflowModelInfo): [string, string][] {
  const columns =
    m.inputs.from === "model"
      ? "no signature: the model's own inputs"
      : m.inputs.columns
          .map((c) => `${c.name ?? "?"}: ${c.type}${c.required ? "" : " (optional)"}`)
          .join(", ");
  return [
    ["mlflow", `${m.flavor} flavor, ${m.dataFile}, saved by MLflow ${m.mlflowVersion ?? "unknown"}`],
    ["run id", m.runId ?? "-"],
    ["created", m.utcTimeCreated ?? "-"],
    [
      "signature",
      m.inputs.from === "tensor signature"
        ? `a (-1, ${m.inputs.columns.length}) tensor of ${m.inputs.columns[0]?.type}`
        : columns,
    ],
    [
      "pyfunc",
      `answers ${m.answer}${m.bestIteration !== null ? ` (trees up to best_iteration ${m.bestIteration})` : ""}`,
    ],
  ];
}
