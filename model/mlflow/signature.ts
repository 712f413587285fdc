/**
 * MLflow's schemas (mlflow/types/schema.py), as `signature.inputs` / `.outputs` hold them in an
 * MLmodel file: a JSON string listing column specs (`{"type": "double", "name": "age",
 * "required": true}`; before MLflow 2.8 `"optional": false` instead, before 2.5 neither) or tensor
 * specs (`{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}`). A schema is
 * all columns or all tensors, all named or all unnamed (Schema.__init__'s rules).
 */
import { describeValue, ModelError } from "../errors.js";

/** MLflow's DataType names (mlflow/types/schema.py DataType). */
export const DATA_TYPES = [
  "boolean",
  "integer",
  "long",
  "float",
  "double",
  "string",
  "binary",
  "datetime",
] as const;
export type DataType = (typeof DATA_TYPES)[number];

export interface ColumnSpec {
  readonly kind: "column";
  readonly name: string | null;
  /** A DataType name, or the kind of a composite type (MLflow 2.10+: "array", "object", "map", "any"). */
  readonly type: DataType | "array" | "object" | "map" | "any";
  readonly required: boolean;
}

export interface TensorSpec {
  readonly kind: "tensor";
  readonly name: string | null;
  /** A numpy dtype name: float64, float32, int64, ... */
  readonly dtype: string;
  /** -1 for a variable dimension. */
  readonly shape: readonly number[];
}

export type Schema =
  | { readonly kind: "columns"; readonly specs: readonly ColumnSpec[] }
  | { readonly kind: "tensors"; readonly specs: readonly TensorSpec[] };

const MAX_SPECS = 1 << 20;

function invalid(where: string, message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_INVALID", `MLmodel ${where}: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses one schema's JSON text; `where` names it in errors ("signature.inputs"). */
export function parseSchema(json: string, where: string): Schema {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_SYNTAX",
      `MLmodel ${where} is not JSON: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (!Array.isArray(raw)) invalid(where, `must be a JSON list of specs, got ${describeValue(raw)}`);
  if (raw.length > MAX_SPECS) invalid(where, `has ${raw.length} specs; at most ${MAX_SPECS}`);
  const specs = raw.map((x, i) => readSpec(x, `${where}[${i}]`));
  if (specs.length === 0) return { kind: "columns", specs: [] };
  const tensors = specs.filter((s) => s.kind === "tensor").length;
  if (tensors !== 0 && tensors !== specs.length)
    invalid(where, "mixes column and tensor specs, which MLflow does not allow");
  const named = specs.filter((s) => s.name !== null).length;
  if (named !== 0 && named !== specs.length)
    invalid(where, "mixes named and unnamed specs, which MLflow does not allow");
  const seen = new Set<string>();
  for (const s of specs) {
    if (s.name === null) continue;
    if (seen.has(s.name)) invalid(where, `names "${s.name.slice(0, 80)}" twice`);
    seen.add(s.name);
  }
  return tensors > 0
    ? { kind: "tensors", specs: specs as TensorSpec[] }
    : { kind: "columns", specs: specs as ColumnSpec[] };
}

function readSpec(x: unknown, where: string): ColumnSpec | TensorSpec {
  if (!isObject(x)) invalid(where, `must be an object, got ${describeValue(x)}`);
  const name = x.name === undefined || x.name === null ? null : x.name;
  if (name !== null && typeof name !== "string")
    invalid(where, `name must be a string, got ${describeValue(name)}`);
  if (x.type === "tensor") {
    const info = x["tensor-spec"];
    if (!isObject(info)) invalid(where, `tensor-spec must be an object, got ${describeValue(info)}`);
    if (typeof info.dtype !== "string")
      invalid(where, `tensor-spec.dtype must be a string, got ${describeValue(info.dtype)}`);
    const shape = info.shape;
    if (!Array.isArray(shape) || shape.length > 32 || !shape.every((d) => Number.isSafeInteger(d) && d >= -1))
      invalid(
        where,
        `tensor-spec.shape must be a list of sizes (-1 = any), got ${JSON.stringify(shape)?.slice(0, 80)}`,
      );
    return { kind: "tensor", name, dtype: info.dtype, shape: shape as number[] };
  }
  // MLflow 2.10+ writes composite types as objects ({"type": "array", "items": ...}).
  const type = isObject(x.type) ? x.type.type : x.type;
  const known = [...DATA_TYPES, "array", "object", "map", "any"] as string[];
  if (typeof type !== "string" || !known.includes(type))
    invalid(where, `type must be one of ${DATA_TYPES.join(", ")} or tensor, got ${describeValue(type)}`);
  const required =
    typeof x.required === "boolean" ? x.required : typeof x.optional === "boolean" ? !x.optional : true;
  return { kind: "column", name, type: type as ColumnSpec["type"], required };
}

/** A schema as MLflow prints it in messages: ['age': long (required), ...]. */
export function describeSchema(schema: Schema, limit = 20): string {
  const parts = schema.specs.slice(0, limit).map((s) => {
    const type =
      s.kind === "tensor"
        ? `Tensor('${s.dtype}', (${s.shape.join(", ")}${s.shape.length === 1 ? "," : ""}))`
        : s.type;
    const name = s.name === null ? "" : `'${s.name}': `;
    return s.kind === "column"
      ? `${name}${type} (${s.required ? "required" : "optional"})`
      : `${name}${type}`;
  });
  const more = schema.specs.length > limit ? `, ... ${schema.specs.length - limit} more` : "";
  return `[${parts.join(", ")}${more}]`;
}
