/**
 * An MLflow model folder → a Model and what serving it the MLflow way needs: which request columns
 * feed which model input (the signature's, else the model's own names, else positions), each
 * column's MLflow type (how a request value is converted, as MLflow's schema enforcement converts
 * it), what the flavor's pyfunc answers, and the facts /model reports.
 *
 * Everything MLflow would only find out on the first request (a signature that disagrees with the
 * model, a predict_fn the model cannot answer) is refused here, at load, naming what disagrees.
 */
import { ModelError, unsupportedModel as unsupported } from "../errors.js";
import type { Forest, InputColumn } from "../forest/forest.js";
import { readForest } from "../formats/index.js";
import { Model } from "../model.js";
import { packMlflowBundle, unpackMlflowBundle } from "./bundle.js";
import {
  checkRelativePath,
  type FlavorPlan,
  type PyfuncAnswer,
  planFlavor,
  type ServedFlavor,
} from "./flavor.js";
import { type MLmodel, parseMLmodel } from "./mlmodel.js";
import { type ColumnSpec, describeSchema, type Schema } from "./signature.js";

export const MLMODEL_FILE = "MLmodel";

/**
 * How a request value becomes a model input: MLflow's DataType conversions (pandas `astype` to the
 * signature's type), or "inferred" without a signature (the value as pandas reads it: numbers,
 * booleans as 1/0, null as missing).
 */
export type ValueType = "double" | "float" | "long" | "integer" | "boolean" | "string" | "inferred";

export interface MlflowColumn {
  /** The column's name in requests; null when columns are matched by position. */
  readonly name: string | null;
  readonly type: ValueType;
  /** A required column missing from a request is refused; an optional one is missing (NaN). */
  readonly required: boolean;
}

export interface MlflowInputs {
  /** "names": request columns are matched by name; "positions": the request's columns in order. */
  readonly match: "names" | "positions";
  /** One per model input, in the model's order. */
  readonly columns: readonly MlflowColumn[];
  /** Where the columns come from. */
  readonly from: "signature" | "tensor signature" | "model";
}

export interface MlflowModelInfo {
  readonly flavor: ServedFlavor;
  readonly dataFile: string;
  readonly answer: PyfuncAnswer;
  readonly inputs: MlflowInputs;
  readonly runId: string | null;
  readonly artifactPath: string | null;
  readonly modelUuid: string | null;
  readonly mlflowVersion: string | null;
  readonly utcTimeCreated: string | null;
  readonly metadata: Readonly<Record<string, unknown>> | null;
  /** The flavor's facts (model_class, versions, serialization format, predict_fn). */
  readonly details: Readonly<Record<string, string>>;
  /** The signature as MLflow prints it, for /model; null without one. */
  readonly signature: { readonly inputs: string | null; readonly outputs: string | null } | null;
  /** XGBoost's scikit-learn classes: the trees kept, up to the best iteration; null otherwise. */
  readonly bestIteration: number | null;
}

export interface MlflowServable {
  readonly model: Model;
  readonly mlflow: MlflowModelInfo;
}

/** The files to fetch for a folder, MLmodel first: MLmodel's text decides the model file. */
export function mlflowModelFile(mlmodel: Uint8Array | string): string {
  return planFlavor(parseMLmodel(mlmodel)).dataFile;
}

/**
 * Packs a folder into a bundle, reading MLmodel and then the one file its flavor names through
 * `read` (a directory, an S3 prefix, an HTTPS index: the caller's). Checks MLmodel on the way.
 */
export async function packMlflowFolder(read: (path: string) => Promise<Uint8Array>): Promise<Uint8Array> {
  const mlmodel = await read(MLMODEL_FILE);
  const dataFile = mlflowModelFile(mlmodel);
  return packMlflowBundle([
    [MLMODEL_FILE, mlmodel],
    [dataFile, await read(dataFile)],
  ]);
}

/** Reads a bundle (bundle.ts) into a Model and its MLflow facts. */
export function loadMlflowBundle(bytes: Uint8Array): MlflowServable {
  const files = unpackMlflowBundle(bytes);
  const text = files.get(MLMODEL_FILE);
  if (!text) throw new ModelError("FORESTD_ERR_MODEL_INVALID", "the MLflow model folder has no MLmodel file");
  const mlmodel = parseMLmodel(text);
  const plan = planFlavor(mlmodel);
  const data = files.get(checkRelativePath(plan.dataFile, "the model file"));
  if (!data)
    throw new ModelError(
      "FORESTD_ERR_MODEL_READ",
      `MLmodel's ${plan.flavor} flavor names ${plan.dataFile}, which the model folder does not hold`,
    );
  return servable(mlmodel, plan, data);
}

function servable(mlmodel: MLmodel, plan: FlavorPlan, data: Uint8Array): MlflowServable {
  let forest: Forest;
  try {
    forest = readForest(data, plan.dataFile);
  } catch (error) {
    if (error instanceof ModelError)
      throw new ModelError(
        error.code,
        `${plan.dataFile} (the ${plan.flavor} flavor's model): ${error.message}`,
        {
          cause: error,
        },
      );
    throw error;
  }
  if (forest.provenance.format !== plan.flavor)
    throw new ModelError(
      "FORESTD_ERR_MODEL_INVALID",
      `MLmodel names a ${plan.flavor} model, but ${plan.dataFile} holds a ${forest.provenance.format} model`,
    );
  let bestIteration: number | null = null;
  if (plan.bestIterationOnly) {
    const best = forest.provenance.details.bestIteration;
    if (typeof best === "number" && Number.isInteger(best) && best >= 0) {
      bestIteration = best;
      forest = upToRound(forest, best + 1);
    }
  }
  const inputs = mlflowInputs(mlmodel.signature?.inputs ?? null, forestInputs(forest));
  if (mlmodel.signature?.params && mlmodel.signature.params !== "null")
    unsupported(
      "the MLflow signature declares params, which the flavor's predict would receive; forestd passes no params to a model",
    );
  const sig = mlmodel.signature;
  const mlflow: MlflowModelInfo = {
    flavor: plan.flavor,
    dataFile: plan.dataFile,
    answer: plan.answer,
    inputs,
    runId: mlmodel.runId,
    artifactPath: mlmodel.artifactPath,
    modelUuid: mlmodel.modelUuid,
    mlflowVersion: mlmodel.mlflowVersion,
    utcTimeCreated: mlmodel.utcTimeCreated,
    metadata: mlmodel.metadata,
    details: plan.details,
    signature: sig
      ? {
          inputs: sig.inputs ? describeSchema(sig.inputs, 1000) : null,
          outputs: sig.outputs ? describeSchema(sig.outputs, 1000) : null,
        }
      : null,
    bestIteration,
  };
  // The facts ride in the Forest's provenance, so every copy of the model (a scoring thread's, one
  // rebuilt from shared memory) carries them: mlflowInfoOf(model) reads them back.
  const model = new Model({
    ...forest,
    provenance: { ...forest.provenance, packaging: { kind: "mlflow", facts: { ...mlflow } } },
  });
  checkAnswer(plan, model);
  return { model, mlflow };
}

/** The MLflow facts a model loaded from an MLflow folder carries; null for any other model. */
export function mlflowInfoOf(model: Model): MlflowModelInfo | null {
  const packaging = model.packaging;
  return packaging?.kind === "mlflow" ? (packaging.facts as unknown as MlflowModelInfo) : null;
}

/** What mlflowInputs needs of a model: its inputs (names, string vocabularies). */
interface ModelColumns {
  readonly numFeature: number;
  /** Every input's name, or empty when the model has none. */
  readonly featureNames: readonly string[];
  readonly inputs: readonly InputColumn[];
}

/** A Forest's inputs as its Model will have them (model.ts's constructor). */
function forestInputs(forest: Forest): ModelColumns {
  const inputs =
    forest.inputs ?? forest.features.map((f) => ({ name: f.name, kind: f.kind, vocabulary: null }));
  const named = inputs.every((c) => c.name !== null);
  return {
    numFeature: inputs.length,
    featureNames: named ? inputs.map((c) => c.name as string) : [],
    inputs,
  };
}

/**
 * XGBoost's `iteration_range=(0, rounds)`: the trees of the first `rounds` boosting rounds, each
 * round being numGroups × num_parallel_tree trees (gbtree.h LayerToTree).
 */
function upToRound(forest: Forest, rounds: number): Forest {
  const parallel = Number(forest.provenance.details.numParallelTree ?? 1) || 1;
  const keep = Math.min(forest.trees.length, rounds * forest.numGroups * parallel);
  if (keep === forest.trees.length) return forest;
  return {
    ...forest,
    trees: forest.trees.slice(0, keep),
    treeGroup: forest.treeGroup.slice(0, keep),
    treeWeight: forest.treeWeight ? forest.treeWeight.slice(0, keep) : null,
  };
}

const TENSOR_TYPES: Record<string, ValueType> = {
  float64: "double",
  float32: "float",
  int64: "long",
  int32: "integer",
  bool: "boolean",
};

/**
 * The model's inputs as MLflow requests name them, checked against the signature (null: none, as
 * for a model that is not from an MLflow folder: the model's own names, else positions).
 */
export function mlflowInputs(signature: Schema | null, model: ModelColumns): MlflowInputs {
  const names = model.featureNames;
  const n = model.numFeature;
  if (signature === null || signature.specs.length === 0) {
    return names.length === n && n > 0
      ? {
          match: "names",
          from: "model",
          columns: names.map((name) => ({ name, type: "inferred", required: true })),
        }
      : {
          match: "positions",
          from: "model",
          columns: Array.from({ length: n }, () => ({ name: null, type: "inferred", required: true })),
        };
  }
  if (signature.kind === "tensors") {
    const spec = signature.specs[0];
    const shape = spec.shape;
    const width = shape.length === 2 ? shape[1] : shape.length === 1 && n === 1 ? 1 : -2;
    if (signature.specs.length !== 1 || spec.name !== null || shape[0] !== -1 || width !== n)
      unsupported(
        `the MLflow signature's inputs are ${describeSchema(signature)}; forestd serves column signatures and one unnamed tensor of shape (-1, ${n}), the model's ${n} inputs`,
      );
    const type = TENSOR_TYPES[spec.dtype];
    if (!type)
      unsupported(
        `the MLflow signature's input tensor is of dtype ${spec.dtype.slice(0, 40)}; forestd reads ${Object.keys(TENSOR_TYPES).join(", ")}`,
      );
    return {
      match: "positions",
      from: "tensor signature",
      columns: Array.from({ length: n }, () => ({ name: null, type, required: true })),
    };
  }
  const specs = signature.specs;
  if (specs.length !== n)
    throw new ModelError(
      "FORESTD_ERR_MODEL_INVALID",
      `the MLflow signature has ${specs.length} input columns ${describeSchema(signature)}, but the model takes ${n}${names.length ? ` (${names.slice(0, 20).join(", ")}${names.length > 20 ? ", ..." : ""})` : ""}`,
    );
  const named = specs[0].name !== null;
  if (named && names.length === n) {
    // The flavor gets the frame in the signature's order; XGBoost and scikit-learn then check it
    // against the names they were trained with, so a different order fails every request.
    specs.forEach((spec, i) => {
      if (spec.name !== names[i])
        throw new ModelError(
          "FORESTD_ERR_MODEL_INVALID",
          `the MLflow signature disagrees with the model's features: input ${i} is "${String(spec.name).slice(0, 80)}" in the signature, "${names[i].slice(0, 80)}" in the model`,
        );
    });
  }
  const columns = specs.map((spec, i) => ({
    name: named ? spec.name : null,
    type: valueType(spec, model, i),
    required: spec.required,
  }));
  return { match: named ? "names" : "positions", from: "signature", columns };
}

function valueType(spec: ColumnSpec, model: ModelColumns, i: number): ValueType {
  switch (spec.type) {
    case "double":
    case "float":
    case "long":
    case "integer":
    case "boolean":
      return spec.type;
    case "string":
      if (model.inputs[i]?.vocabulary) return "string";
      return unsupported(
        `the MLflow signature declares input "${String(spec.name ?? i).slice(0, 80)}" as string, but the model reads numbers there`,
      );
    default:
      return unsupported(
        `the MLflow signature declares input "${String(spec.name ?? i).slice(0, 80)}" as ${spec.type}; forestd reads numbers, booleans and categories`,
      );
  }
}

function checkAnswer(plan: FlavorPlan, model: Model): void {
  if (plan.answer === "class-indices" && model.classLabels.length === 0)
    unsupported(
      `MLmodel's model_class ${plan.details.model_class} is a classifier, but the model (${model.objective}) is a ${model.task} model`,
    );
  if (plan.answer === "probabilities") {
    const reason = model.unavailable("proba");
    if (reason)
      unsupported(
        `the sklearn flavor's pyfunc calls predict_proba, which this model cannot answer: ${reason}`,
      );
  }
}
