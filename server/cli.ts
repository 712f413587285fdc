#!/usr/bin/env node
/**
 * The `forestd` command.
 *
 *   forestd serve [options]                                  run the server (primary + workers)
 *   forestd reload [--pid-file FILE]                         zero-downtime reload (SIGHUP)
 *   forestd predict [--model FILE] [--output KIND] < rows.json   score or explain a JSON array of rows
 *   forestd inspect [FILE] [--json]                          describe a model
 *   forestd healthcheck [serve options]                      exit 0 if the local server is live
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadSettings, parseBind, SettingsError, settingsHelp } from "../config/load-settings.js";
import { parseModelLocation } from "../config/model-location.js";
import { tracingConfig } from "../config/tracing.js";
import { FORMATS } from "../model/formats/index.js";
import {
  answersFor,
  defaultModelPath,
  fromMargins,
  isOutputKind,
  loadModel,
  type Model,
  ModelError,
  OUTPUT_KINDS,
  outputUnavailable,
  RowError,
  rowsToArray,
  UnsupportedOutputError,
} from "../model/index.js";
import { classNamesProblem, explain, explainShape, isExplainKind, toNested } from "../model/outputs.js";
import { runPrimary } from "./arbiter.js";

const USAGE = `Usage:
  forestd predict [--model FILE] [--output KIND] [--class-names A,B,..] [--threshold T] < rows.json
      Reads a JSON array of rows (arrays, null = missing; or objects keyed by feature name) and
      prints a JSON array with one entry per row. --output (default prediction):
        prediction    a number per row, or an array per row for multi:softprob
        margin        raw margins (as --margin; an array per row for multi-class models)
        proba         every class's probability, an array per row
        contribs      SHAP values, XGBoost's pred_contribs: features + 1 (bias last), per class
        interactions  SHAP interaction values, XGBoost's pred_interactions: (F+1)×(F+1), per class
        leaf          the leaf each tree sends the row to, XGBoost's pred_leaf
        label         the class: a name from --class-names, else its index; binary models
                      answer class 1 when the probability is above --threshold (default 0.5);
                      an ONNX classifier answers with its own labels
      FILE is XGBoost JSON/UBJSON or an ONNX-ML tree ensemble (.onnx); explanations need XGBoost.
  forestd inspect [FILE] [--json]
      Prints the format, objective, classes, features, trees, depth and nodes, and what the file
      says of itself (XGBoost: booster, base_score, version; ONNX: producer, opsets, operator,
      graph outputs, post_transform).
  forestd serve [options]
      Starts the server (see forestd serve --help for every setting).
  forestd reload [--pid-file FILE]
      Asks a running server to reload its settings and model without downtime (SIGHUP).
  forestd healthcheck [serve options]
      Exits 0 if the server these settings describe answers GET /healthz on its first BIND
      address within 2 s, else 1 (for Docker's HEALTHCHECK; reads the same environment).

Without a model file, the bundled default model (model/default/model.json) is used.`;

class UsageError extends Error {}

function load(path: string | undefined): Model {
  return loadModel(path ?? defaultModelPath());
}

function predict(args: string[]): void {
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
    throw new UsageError(`--output must be one of ${OUTPUT_KINDS.join(", ")}, got "${output.slice(0, 40)}"`);
  const threshold = Number(values.threshold);
  if (!(threshold >= 0 && threshold <= 1)) throw new UsageError("--threshold must be between 0 and 1");
  const model = load(values.model);
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
}

function inspect(args: string[]): void {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: "boolean", default: false }, model: { type: "string", short: "m" } },
  });
  if (positionals.length > 1) throw new UsageError("inspect takes one model file");
  const path = positionals[0] ?? values.model ?? defaultModelPath();
  const info = load(path).info();
  if (values.json) {
    // The format's own facts under the format's name, as /model has them.
    const { details, ...common } = info;
    process.stdout.write(`${JSON.stringify({ file: path, ...common, [info.format]: details }, null, 2)}\n`);
    return;
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
    ...(format?.describe(info.details) ?? []),
  ];
  process.stdout.write(`${lines.map(([label, value]) => `${`${label}:`.padEnd(13)}${value}`).join("\n")}\n`);
}

/** The address a local client reaches a server bound to `host` at: wildcards mean loopback. */
function localHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

async function healthcheck(args: string[]): Promise<number> {
  const { settings } = await loadSettings({ argv: args, env: process.env, cwd: process.cwd() });
  const { host, port } = parseBind(settings.bind[0]);
  const url = `http://${localHost(host)}:${port}/healthz`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (response.ok) return 0;
    process.stderr.write(`forestd: ${url} answered ${response.status}\n`);
  } catch (error) {
    process.stderr.write(`forestd: ${url}: ${(error as Error).message}\n`);
  }
  return 1;
}

async function serve(args: string[]): Promise<number> {
  const sources = { argv: args, env: process.env, cwd: process.cwd() };
  const { settings, help } = await loadSettings(sources);
  if (help) {
    process.stdout.write(`${settingsHelp()}\n`);
    return 0;
  }
  // A local model that cannot load, or CLASS_NAMES that do not fit it, stop start-up here, with the
  // reason; a remote one is fetched once, by the primary, which stops start-up the same way if it
  // cannot fetch or load it or CLASS_NAMES do not fit.
  if (parseModelLocation(settings.model_path, "/").kind === "file") {
    const model = loadModel(settings.model_path);
    const problem = settings.class_names.length > 0 ? classNamesProblem(model, settings.class_names) : null;
    if (problem) throw new SettingsError(problem);
  }
  tracingConfig(process.env); // so do OTEL_* variables forestd cannot honour (SettingsError)
  return runPrimary(sources, settings);
}

function reload(args: string[]): void {
  const { values } = parseArgs({ args, options: { "pid-file": { type: "string", short: "p" } } });
  const file = values["pid-file"] ?? process.env.PID_FILE;
  if (!file) throw new UsageError("reload needs --pid-file FILE (or PID_FILE) naming the primary's pid file");
  let pid: number;
  try {
    pid = Number(readFileSync(file, "utf8").trim());
  } catch (error) {
    throw new UsageError(`cannot read pid file ${file}: ${(error as Error).message}`);
  }
  if (!Number.isInteger(pid) || pid <= 0) throw new UsageError(`pid file ${file} does not hold a process id`);
  try {
    process.kill(pid, "SIGHUP");
  } catch (error) {
    throw new UsageError(`cannot signal process ${pid}: ${(error as Error).message}`);
  }
  process.stdout.write(`sent SIGHUP to ${pid}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "serve":
        return await serve(rest);
      case "reload":
        reload(rest);
        return 0;
      case "predict":
        predict(rest);
        return 0;
      case "inspect":
        inspect(rest);
        return 0;
      case "healthcheck":
        return await healthcheck(rest);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof SettingsError) {
      process.stderr.write(`forestd: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ModelError || error instanceof RowError || error instanceof UnsupportedOutputError) {
      process.stderr.write(`forestd: ${error.code}: ${error.message}\n`);
      return 1;
    }
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`forestd: ${(error as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
