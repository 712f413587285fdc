/**
 * LightGBM's own text model format (model.txt), versions v3 and v4, as Booster.save_model and the
 * CLI write it, read into the Forest: the header, every tree (tree.ts), the objective
 * (objective.ts), the features and the pandas trailer (features.ts).
 *
 * LightGBM predicts in float64 throughout: a row's values are doubles compared with double
 * thresholds (input f64), and the trees' outputs are added in double, tree after tree, each
 * iteration's trees into their own class (accumulate f64, treeGroup = t mod
 * num_tree_per_iteration). Leaves hold their final values: the learning rate (shrinkage) and
 * dart's re-weighting are already in them, so no tree weight. Nothing is added before the first
 * tree (boost_from_average is in the first tree's leaves).
 *
 * What is refused, by name: another version line, an objective LightGBM does not predict with,
 * linear trees (linear_tree=true), and any field that is missing, has the wrong count, or
 * points outside the model (see tree.ts).
 */
import {
  invalidModel as invalid,
  ModelError,
  modelSyntaxError as syntax,
  modelTooLarge as tooLarge,
  unsupportedModel as unsupported,
} from "../../errors.js";
import type { MutableTree } from "../../forest/build.js";
import { LIMITS } from "../../forest/check.js";
import type { Forest } from "../../forest/forest.js";
import type { LightGbmHeadSpec } from "../../heads/lightgbm.js";
import type { ModelFormat } from "../format.js";
import { readFeatures } from "./features.js";
import { parseInteger, tokens } from "./numbers.js";
import { readObjective } from "./objective.js";
import { type ModelText, splitModelText } from "./text.js";
import { readTree } from "./tree.js";

const VERSIONS = ["v3", "v4"];
const TREE_LINE = [0x74, 0x72, 0x65, 0x65]; // "tree"
const VERSION_LINE = [...new TextEncoder().encode("version=")];

/** "tree" then "version=" on the next line (\n or \r\n), as every LightGBM text model starts. */
export function looksLikeLightGbm(bytes: Uint8Array): boolean {
  let i = 0;
  for (const b of TREE_LINE) if (bytes[i++] !== b) return false;
  if (bytes[i] === 0x0d) i++;
  if (bytes[i++] !== 0x0a) return false;
  for (const b of VERSION_LINE) if (bytes[i++] !== b) return false;
  return true;
}

function headerInteger(text: ModelText, key: string, min: number, max: number, fallback?: number): number {
  const value = text.header.get(key);
  if (value === undefined) {
    if (fallback !== undefined) return fallback;
    invalid(`the header has no ${key} line`);
  }
  const v = parseInteger(value.trim(), min, max);
  if (v === undefined)
    invalid(`header ${key}=${JSON.stringify(value.slice(0, 20))} is not an integer in [${min}, ${max}]`);
  return v;
}

/** The parameters section as name → value (`[boosting: gbdt]`). */
function parameterMap(lines: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of lines) {
    const m = /^\[([^:\]]+): ?(.*)\]$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

export function readLightGbm(bytes: Uint8Array): Forest {
  let source: string;
  try {
    source = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", "the LightGBM model file is not UTF-8 text", {
      cause: error,
    });
  }
  const text = splitModelText(source);
  const version = text.header.get("version");
  if (version === undefined || !VERSIONS.includes(version))
    unsupported(
      `LightGBM model version ${JSON.stringify((version ?? "(none)").slice(0, 20))}: forestd reads versions v3 (LightGBM 2.3-3.3) and v4 (4.0 on)`,
    );
  const numClass = headerInteger(text, "num_class", 1, LIMITS.maxOutputs);
  const perIteration = headerInteger(text, "num_tree_per_iteration", 1, LIMITS.maxOutputs, numClass);
  const labelIndex = headerInteger(text, "label_index", -1, 2 ** 31 - 1);
  const numFeatures = headerInteger(text, "max_feature_idx", 0, LIMITS.maxFeatures - 1) + 1;
  const objectiveText = text.header.get("objective") ?? null;
  const objective = readObjective(objectiveText);
  const outputs =
    objective.objective === "multiclass" || objective.objective === "multiclassova"
      ? objective.numClass!
      : objective.objective === "custom"
        ? perIteration
        : 1;
  if (outputs !== perIteration || (objective.numClass !== null && objective.numClass !== numClass))
    invalid(
      `objective ${JSON.stringify(objectiveText)} makes ${outputs} outputs, but the header says num_class=${numClass} and num_tree_per_iteration=${perIteration}`,
    );
  for (const key of ["feature_names", "feature_infos"])
    if (!text.header.has(key)) invalid(`the header has no ${key} line`);
  const monotone = text.header.get("monotone_constraints");
  if (monotone !== undefined && tokens(monotone).length !== numFeatures)
    invalid(`monotone_constraints holds ${tokens(monotone).length} entries for ${numFeatures} features`);

  const numTrees = text.trees.length;
  const sizes = text.header.get("tree_sizes");
  if (sizes !== undefined) {
    const stated = tokens(sizes);
    if (stated.length !== numTrees)
      invalid(`tree_sizes has ${stated.length} entries, but the file holds ${numTrees} trees`);
    text.trees.forEach((block, t) => {
      if (stated[t] !== String(block.length))
        invalid(
          `tree_sizes[${t}] = ${JSON.stringify(stated[t].slice(0, 20))}, but tree ${t} (line ${block.line}) is ${block.length} bytes`,
        );
    });
  }
  if (numTrees % perIteration !== 0)
    invalid(`the file holds ${numTrees} trees, not a whole number of iterations of ${perIteration}`);
  const numIterations = numTrees / perIteration;
  const averageOutput = text.header.has("average_output");
  if (averageOutput && numIterations === 0) invalid("an average_output (random forest) model with no trees");

  const splitCategorical = new Uint8Array(numFeatures);
  const trees: MutableTree[] = [];
  let totalNodes = 0;
  let covered = true;
  for (const block of text.trees) {
    const { tree } = readTree(block, numFeatures, { categorical: splitCategorical });
    totalNodes += tree.numNodes;
    if (totalNodes > LIMITS.maxTotalNodes) tooLarge(`the model has more than ${LIMITS.maxTotalNodes} nodes`);
    covered &&= tree.cover !== null;
    trees.push(tree);
  }

  const parameters = parameterMap(text.parameters);
  const categoricalParameter = parameters.get("categorical_feature");
  const table = readFeatures({
    numFeatures,
    names: text.header.get("feature_names")!,
    infos: text.header.get("feature_infos")!,
    splitCategorical,
    categoricalParameter:
      categoricalParameter !== undefined && /^\d{1,9}(,\d{1,9})*$/.test(categoricalParameter)
        ? categoricalParameter.split(",").map(Number)
        : null,
    pandasCategorical: text.pandasCategorical,
  });

  const head: LightGbmHeadSpec = {
    family: "lightgbm",
    objective: objective.objective,
    objectiveText,
    sigmoid: objective.sigmoid,
    sqrt: objective.sqrt,
    numClass: outputs,
    averageOver: averageOutput ? numIterations : null,
    contribsUnavailable: covered
      ? null
      : "some tree has no leaf_count or internal_count, which LightGBM's TreeSHAP weighs by",
  };
  const pick = (key: string) => parameters.get(key) ?? null;
  return {
    provenance: {
      format: "lightgbm",
      producer: `LightGBM (model format ${version})`,
      details: {
        version,
        objective: objectiveText,
        numClass,
        numTreePerIteration: perIteration,
        numIterations,
        averageOutput,
        labelIndex,
        boosting: pick("boosting"),
        dataSampleStrategy: pick("data_sample_strategy"),
        featureInfos: tokens(text.header.get("feature_infos")!),
        categoricalFeatures: table.features.flatMap((f, i) =>
          f.kind === "categorical" ? [f.name ?? String(i)] : [],
        ),
        pandasCategorical: table.pandas,
        // The file's split counts per feature (LightGBM's importance_type="split"), as written.
        featureImportances: Object.fromEntries(
          [...text.featureImportances].map(([name, count]) => [name, Number(count)]),
        ),
      },
    },
    input: "f64",
    accumulate: "f64",
    features: table.features,
    inputs: table.inputs,
    preprocess: [],
    trees,
    treeGroup: Int32Array.from(trees, (_, t) => t % perIteration),
    treeWeight: null,
    numGroups: perIteration,
    aggregate: { reduce: "sum", init: new Float64Array(perIteration) },
    head,
  };
}

export const lightgbmFormat: ModelFormat = {
  name: "lightgbm",
  description: "LightGBM text model (model.txt, versions v3 and v4)",
  // model.bst, as KServe's lgbserver and MLServer name save_model's text. Not .txt, though save_model
  // and Triton's FIL backend use it: a MODEL_PATH directory finds its model by these endings, and a
  // README.txt beside the model would count. A model.txt is still read by content wherever it is named.
  extensions: [".bst"],
  sniff: looksLikeLightGbm,
  read(bytes: Uint8Array): Forest {
    if (!looksLikeLightGbm(bytes))
      syntax(
        'not a LightGBM text model: it does not start with "tree" and a "version=" line (a .bst file in XGBoost\'s old binary format is not read either: re-save it with save_model as .json or .ubj)',
      );
    return readLightGbm(bytes);
  },
  describe(d) {
    const pandas = d.pandasCategorical as { columns: number; mapped: boolean; note: string | null } | null;
    const lines: [string, string][] = [
      ["lightgbm", `model format ${d.version}, boosting ${d.boosting ?? "unknown"}`],
      [
        "iterations",
        `${d.numIterations} × ${d.numTreePerIteration} tree${d.numTreePerIteration === 1 ? "" : "s"}${d.averageOutput ? ", averaged (average_output)" : ""}`,
      ],
    ];
    const categorical = d.categoricalFeatures as string[];
    if (categorical.length > 0) lines.push(["categorical", categorical.join(", ")]);
    if (pandas)
      lines.push([
        "pandas",
        pandas.mapped
          ? `${pandas.columns} category columns: rows may give their strings`
          : String(pandas.note),
      ]);
    return lines;
  },
};
