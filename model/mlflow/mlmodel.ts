/**
 * An MLflow model folder's `MLmodel` file, read as MLflow 2.x writes it (mlflow/models/model.py:
 * `Model.to_dict()` through `yaml.safe_dump`) and reads it (`yaml.safe_load`, so YAML 1.1): the
 * flavors, the signature, the saved input example, the metadata and the facts /model reports
 * (run id, MLflow version, creation time, model uuid).
 *
 * The file comes from outside (a bucket), so it is parsed with the `yaml` package's safe core (no
 * tags that construct objects; aliases bounded, so no "billion laughs"), bounded in size, and every
 * refusal names the field.
 */
import { parse, YAMLParseError } from "yaml";
import { describeValue, ModelError } from "../errors.js";
import { parseSchema, type Schema } from "./signature.js";

/** MLmodel files are a few KB; metadata may add some. A larger one is not an MLmodel file. */
export const MAX_MLMODEL_BYTES = 1 << 20;

export interface SavedInputExample {
  /** The example's file, relative to the folder (input_example.json). */
  readonly artifactPath: string;
  /** "dataframe", "ndarray", "sparse_matrix_csc", ... */
  readonly type: string;
  readonly pandasOrient: string | null;
}

export interface MLmodel {
  /** Flavor name → its configuration, as written. */
  readonly flavors: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly runId: string | null;
  readonly artifactPath: string | null;
  readonly modelUuid: string | null;
  readonly mlflowVersion: string | null;
  readonly utcTimeCreated: string | null;
  readonly modelSizeBytes: number | null;
  readonly signature: {
    readonly inputs: Schema | null;
    readonly outputs: Schema | null;
    /** The params schema's JSON as written; forestd passes no params to a model. */
    readonly params: string | null;
  } | null;
  readonly inputExample: SavedInputExample | null;
  readonly metadata: Readonly<Record<string, unknown>> | null;
}

function invalid(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_INVALID", `MLmodel: ${message}`);
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function optionalString(doc: Record<string, unknown>, key: string): string | null {
  const v = doc[key];
  if (v === undefined || v === null) return null;
  if (typeof v === "string") return v;
  // YAML 1.1 reads an unquoted version (2.11) or id as a number, a timestamp as a date.
  if (typeof v === "number") return String(v);
  if (v instanceof Date) return v.toISOString();
  return invalid(`${key} must be a string, got ${describeValue(v)}`);
}

/** Parses an MLmodel file's text (or bytes, UTF-8). Throws a ModelError naming what is wrong. */
export function parseMLmodel(source: string | Uint8Array): MLmodel {
  const size = typeof source === "string" ? source.length : source.length;
  if (size > MAX_MLMODEL_BYTES)
    throw new ModelError(
      "FORESTD_ERR_MODEL_TOO_LARGE",
      `MLmodel is ${size} bytes; an MLmodel file is at most ${MAX_MLMODEL_BYTES}`,
    );
  let text: string;
  try {
    text = typeof source === "string" ? source : new TextDecoder("utf-8", { fatal: true }).decode(source);
  } catch (error) {
    throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", "MLmodel is not UTF-8 text", { cause: error });
  }
  let doc: unknown;
  try {
    // MLflow reads it with PyYAML's safe_load: YAML 1.1, plain data only.
    doc = parse(text, { version: "1.1", maxAliasCount: 64, uniqueKeys: true, prettyErrors: true });
  } catch (error) {
    const where =
      error instanceof YAMLParseError && error.linePos
        ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}`
        : "";
    // The first line, without the "at line L, column C:" the pretty message ends it with.
    const reason = (error as Error).message
      .split("\n")[0]
      .replace(/ at line \d+, column \d+:?$/, "")
      .slice(0, 200);
    throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", `MLmodel is not YAML${where}: ${reason}`, {
      cause: error,
    });
  }
  if (!isMapping(doc)) invalid(`the file must be a YAML mapping, got ${describeValue(doc)}`);
  const flavorsRaw = doc.flavors;
  if (!isMapping(flavorsRaw))
    invalid(`flavors must be a mapping of flavor names, got ${describeValue(flavorsRaw)}`);
  const flavors: Record<string, Record<string, unknown>> = {};
  for (const [name, conf] of Object.entries(flavorsRaw)) {
    if (!isMapping(conf))
      invalid(`flavors.${name.slice(0, 60)} must be a mapping, got ${describeValue(conf)}`);
    flavors[name] = conf;
  }
  if (Object.keys(flavors).length === 0) invalid("flavors is empty: the folder names no model");

  let signature: MLmodel["signature"] = null;
  if (doc.signature !== undefined && doc.signature !== null) {
    const sig = doc.signature;
    if (!isMapping(sig)) invalid(`signature must be a mapping, got ${describeValue(sig)}`);
    const schema = (key: "inputs" | "outputs"): Schema | null => {
      const v = sig[key];
      if (v === undefined || v === null) return null;
      if (typeof v !== "string") invalid(`signature.${key} must be a JSON string, got ${describeValue(v)}`);
      return parseSchema(v, `signature.${key}`);
    };
    const params = sig.params;
    if (params !== undefined && params !== null && typeof params !== "string")
      invalid(`signature.params must be a JSON string or null, got ${describeValue(params)}`);
    signature = { inputs: schema("inputs"), outputs: schema("outputs"), params: params ?? null };
  }

  let inputExample: SavedInputExample | null = null;
  const info = doc.saved_input_example_info;
  if (info !== undefined && info !== null) {
    if (!isMapping(info)) invalid(`saved_input_example_info must be a mapping, got ${describeValue(info)}`);
    if (typeof info.artifact_path !== "string")
      invalid(
        `saved_input_example_info.artifact_path must be a string, got ${describeValue(info.artifact_path)}`,
      );
    inputExample = {
      artifactPath: info.artifact_path,
      type: typeof info.type === "string" ? info.type : "dataframe",
      pandasOrient: typeof info.pandas_orient === "string" ? info.pandas_orient : null,
    };
  }

  const metadata = doc.metadata;
  if (metadata !== undefined && metadata !== null && !isMapping(metadata))
    invalid(`metadata must be a mapping, got ${describeValue(metadata)}`);
  const size_ = doc.model_size_bytes;
  return {
    flavors,
    runId: optionalString(doc, "run_id"),
    artifactPath: optionalString(doc, "artifact_path"),
    modelUuid: optionalString(doc, "model_uuid"),
    mlflowVersion: optionalString(doc, "mlflow_version"),
    utcTimeCreated: optionalString(doc, "utc_time_created"),
    modelSizeBytes: typeof size_ === "number" && Number.isSafeInteger(size_) ? size_ : null,
    signature,
    inputExample,
    metadata: isMapping(metadata) ? metadata : null,
  };
}
