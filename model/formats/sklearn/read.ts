/**
 * A scikit-learn model file → a Forest: decompress (container.ts), read the pickle as data
 * (pickle/unpickler.ts), then interpret the estimator it holds (estimators/). Nothing in the file
 * is ever executed.
 */

import { ModelError } from "../../errors.js";
import type { FeatureKind, Forest, InputColumn } from "../../forest/forest.js";
import { releaseInput } from "../../forest/release.js";
import { DEFAULT_DECOMPRESS_LIMITS, type DecompressLimits, decompress, outputBound } from "./container.js";
import { Attrs, invalid, unsupported } from "./estimators/attrs.js";
import { readTreeEstimator } from "./estimators/forests.js";
import { readGradientBoosting } from "./estimators/gradient-boosting.js";
import { readHistGradientBoosting } from "./estimators/hist-gradient-boosting.js";
import { readIsolationForest } from "./estimators/isolation-forest.js";
import type { EstimatorModel } from "./estimators/model.js";
import { readPipeline, type Steps } from "./estimators/pipeline.js";
import { SUPPORTED_ESTIMATORS, supportedNames } from "./pickle/allow-list.js";
import { DEFAULT_PICKLE_LIMITS, type PickleLimits, unpickle } from "./pickle/unpickler.js";
import { PyObject, type PyValue, pyTypeName } from "./pickle/values.js";
import { SchemaReader } from "./skops/schema.js";
import { unzip } from "./skops/zip.js";

export interface SklearnReadOptions {
  readonly decompress?: DecompressLimits;
  readonly pickle?: Partial<PickleLimits>;
}

/** "1.2.1" → [1, 2]; the releases forestd reads are 1.0 and later. */
export function parseVersion(v: unknown, path: string): [number, number] {
  if (typeof v !== "string")
    invalid(`${path}._sklearn_version is missing: not a scikit-learn estimator pickle?`);
  const m = /^(\d+)\.(\d+)/.exec(v);
  if (!m) invalid(`${path}._sklearn_version "${v.slice(0, 30)}" is not a version`);
  const version: [number, number] = [Number(m[1]), Number(m[2])];
  if (version[0] < 1)
    unsupported(
      `the model was saved by scikit-learn ${v}; forestd reads models saved by scikit-learn 1.0 and later`,
    );
  return version;
}

function readEstimator(obj: PyObject, path: string, version: [number, number]): EstimatorModel {
  const name = obj.cls.name;
  if (!(SUPPORTED_ESTIMATORS as readonly string[]).includes(obj.cls.qualified))
    unsupported(
      `${path} is scikit-learn's ${name}, which forestd does not score; it reads ${supportedNames()}`,
    );
  const attrs = new Attrs(obj, path);
  if (name.startsWith("GradientBoosting")) return readGradientBoosting(attrs, name, version);
  if (name.startsWith("HistGradientBoosting")) return readHistGradientBoosting(attrs, name);
  if (name === "IsolationForest") return readIsolationForest(attrs, name);
  return readTreeEstimator(attrs, name);
}

/** A zip archive's first bytes: skops files are zips holding schema.json and .npy files. */
export function isZip(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04
  );
}

/** skops: the schema's root node, read into the pickle reader's inert values. */
function readSkops(
  bytes: Uint8Array,
  options: SklearnReadOptions,
): { value: PyValue; container: string; protocol: number } {
  const limits = { ...DEFAULT_PICKLE_LIMITS, ...options.pickle };
  // the same bound as joblib's compressions: a size, and a ratio past 64 MiB
  const bound = outputBound(bytes.length, options.decompress ?? DEFAULT_DECOMPRESS_LIMITS);
  const files = unzip(bytes, { maxEntries: 1 << 20, maxTotal: bound });
  const schemaBytes = files.get("schema.json");
  if (!schemaBytes) invalid("the zip archive has no schema.json: not a skops file");
  let schema: unknown;
  try {
    schema = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(schemaBytes));
  } catch (e) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_SYNTAX",
      `skops schema.json is not valid JSON: ${(e as Error).message}`,
    );
  }
  const root = schema as Record<string, unknown>;
  const protocol = typeof root?.protocol === "number" ? root.protocol : -1;
  const value = new SchemaReader(files, {
    maxDepth: limits.maxDepth,
    maxArrayElements: limits.maxArrayElements,
  }).read(schema as never);
  return {
    value,
    container: `skops (protocol ${protocol}, skops ${String(root?._skops_version ?? "?")})`,
    protocol,
  };
}

export function readSklearn(input: Uint8Array, options: SklearnReadOptions = {}): Forest {
  let value: PyValue;
  let container: string;
  let protocol: number;
  /** The decompressed pickle, a copy of our own: freed once the Forest is read. */
  let decompressed: Uint8Array | null = null;
  if (isZip(input)) ({ value, container, protocol } = readSkops(input, options));
  else {
    const { bytes, compression } = decompress(input, options.decompress);
    if (bytes !== input) decompressed = bytes;
    if (bytes.length >= 2 && bytes[0] === 0x5a && bytes[1] === 0x46)
      unsupported(
        "the file is a joblib 'ZF' file (joblib < 0.9.3); save the model again with a current joblib",
      );
    const read = unpickle(bytes, { joblib: true, limits: options.pickle });
    value = read.value;
    protocol = read.protocol;
    container = `${read.joblibArrays > 0 ? "joblib" : "pickle"}${compression === "none" ? "" : `, ${compression}-compressed`}, pickle protocol ${protocol}`;
  }
  if (!(value instanceof PyObject))
    invalid(`the file holds ${pyTypeName(value)}, not a scikit-learn estimator`);
  const top = new Attrs(value, value.cls.name);
  const versionText = top.optional("_sklearn_version");
  const version = parseVersion(versionText, value.cls.name);

  let steps: Steps | null = null;
  let estimator = value;
  let path = value.cls.name;
  if (value.cls.qualified === "sklearn.pipeline.Pipeline") {
    const split = readPipeline(top);
    estimator = split.estimator;
    path = `${split.estimatorPath}.${estimator.cls.name}`;
    if (split.steps.numInputs >= 0) steps = split.steps;
  }
  const model = readEstimator(estimator, path, version);
  const forest = assemble(model, steps, {
    container,
    protocol,
    sklearnVersion: versionText as string,
    pipeline: steps ? [...steps.names, model.head.estimator] : null,
  });
  if (decompressed) releaseInput(decompressed, forest);
  return forest;
}

function assemble(model: EstimatorModel, steps: Steps | null, facts: Record<string, unknown>): Forest {
  const kinds: FeatureKind[] = Array.from({ length: model.numFeatures }, (_, f) =>
    model.categorical?.[f] ? "categorical" : "numeric",
  );
  let inputs: InputColumn[] | null = null;
  let featureNames = model.featureNames;
  if (steps) {
    const names = steps.inputNames;
    inputs = Array.from({ length: steps.numInputs }, (_, i) => ({
      name: names?.[i] ?? null,
      kind: "numeric" as const,
      vocabulary: null,
    }));
    const widthKept = !steps.steps.some((s) => s.kind === "select");
    if (!featureNames && widthKept && names && names.length === model.numFeatures) featureNames = names;
  }
  const forest: Forest = {
    provenance: {
      format: "sklearn",
      producer: `scikit-learn ${facts.sklearnVersion}`,
      details: { ...model.details, ...facts },
    },
    input: model.input,
    accumulate: "f64",
    features: kinds.map((kind, f) => ({ name: featureNames?.[f] ?? null, kind, formatType: null })),
    inputs,
    preprocess: steps?.steps ?? [],
    trees: model.trees,
    treeGroup: model.treeGroup,
    treeWeight: model.treeWeight,
    numGroups: model.numGroups,
    aggregate: { reduce: "sum", init: model.init },
    head: model.head,
  };
  return forest;
}
