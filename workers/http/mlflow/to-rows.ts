/**
 * A request's Frame → the model's rows, as MLflow's schema enforcement prepares a DataFrame for
 * the flavor (mlflow/models/utils.py `_enforce_schema`, proto_json_utils
 * `cast_df_types_according_to_schema`, and `pd.read_csv(dtype=...)` for CSV):
 *
 * - columns: with a named signature, by name, in the signature's order; extra columns are dropped;
 *   required ones missing are refused with INVALID_PARAMETER_VALUE naming them ("Model is missing
 *   inputs [...]"); an optional one missing is missing (NaN). With an unnamed column signature the
 *   first columns are taken by position (too few: INVALID_PARAMETER_VALUE); with a tensor
 *   signature the frame must be exactly (-1, F). Without a signature the flavor's library decides:
 *   the model's own feature names (every one, nothing else), else positions;
 * - values: converted to the column's MLflow type as pandas `astype` does — double and float from
 *   numbers, booleans (1/0), numeric strings (Python's float()) and null (NaN); long and integer
 *   truncated toward zero, null refused; boolean as Python's truth; a value that will not convert
 *   is BAD_REQUEST naming the column and type. CSV cells are read as read_csv reads them with the
 *   signature's dtype. Without a signature a value is taken as pandas infers it (numbers,
 *   booleans, null), and text only where the model has categories.
 *
 * Infinities are refused where MLflow would pass them on (XGBoost and scikit-learn then refuse
 * them too).
 */
import type { MlflowColumn, MlflowInputs, Model, Rows, ValueType } from "../../../model/index.js";
import { rowsArray, vocabularies } from "../../../model/rows.js";
import { headerHint } from "./csv-input.js";
import type { Frame, Label } from "./json-input.js";
import { badRequest, invalidParameter, type MlflowInputError, pyList, pyStr } from "./protocol.js";

const NUMPY_TYPE: Record<ValueType, string> = {
  double: "float64",
  float: "float32",
  long: "int64",
  integer: "int32",
  boolean: "bool",
  string: "object",
  inferred: "float64",
};

/** The request's rows for the model (rows × numFeature), or an MlflowInputError. */
export function frameToRows(frame: Frame, inputs: MlflowInputs, model: Model, schema: string | null): Rows {
  const sources = columnSources(frame, inputs, schema);
  const n = inputs.columns.length;
  const out = rowsArray(model, frame.height * n);
  const vocab = vocabularies(model);
  for (let i = 0; i < n; i++) {
    const column = inputs.columns[i];
    const from = sources[i];
    const name = column.name ?? (frame.labels && from >= 0 ? String(frame.labels[from]) : String(i));
    const read = reader(column, frame.source, vocab[i] ?? null, name);
    if (from < 0) {
      for (let r = 0; r < frame.height; r++) out[r * n + i] = Number.NaN;
      continue;
    }
    // The common cell, a finite JSON number, converted in place; anything else through read().
    const rows = frame.rows;
    if (rows && frame.source === "json") {
      const keep =
        column.type === "double" ||
        column.type === "inferred" ||
        column.type === "long" ||
        column.type === "integer";
      const bound =
        column.type === "integer" ? 2 ** 31 : column.type === "long" ? 2 ** 53 : Number.POSITIVE_INFINITY;
      const whole = column.type === "long" || column.type === "integer";
      for (let r = 0, o = i; r < rows.length; r++, o += n) {
        const v = rows[r][from];
        out[o] =
          typeof v === "number" && v < bound && v > -bound && (whole ? Number.isInteger(v) : keep)
            ? v
            : read(v);
      }
    } else for (let r = 0, o = i; r < frame.height; r++, o += n) out[o] = read(frame.cell(r, from));
  }
  return out;
}

function describeFrame(frame: Frame): string {
  return `${frame.height} rows x ${frame.width} columns`;
}

/** For each model input, the frame column it reads (-1: an optional column the request lacks). */
function columnSources(frame: Frame, inputs: MlflowInputs, schema: string | null): number[] {
  const n = inputs.columns.length;
  if (inputs.match === "positions" || frame.labels === null) {
    if (inputs.match === "names" && frame.width !== n)
      throw missing(
        inputs,
        inputs.columns.map((c) => c.name as string),
        Array.from({ length: frame.width }, (_, i) => i),
        frame,
        schema,
      );
    if (inputs.from === "signature" && frame.width < n)
      throw enforceFailed(
        frame,
        schema,
        `Model inference is missing inputs. The model signature declares ${n} inputs  but the provided value only has ${frame.width} inputs. Note: the inputs were not named in the signature so we can only verify their count.`,
      );
    if (inputs.from === "tensor signature" && frame.width !== n)
      throw enforceFailed(
        frame,
        schema,
        `This model contains a model signature with an unnamed input. Since the input data is a pandas DataFrame containing multiple columns, the input shape must be of the structure (-1, number_of_dataframe_columns). Instead, the input DataFrame passed had ${frame.width} columns and an input shape of (-1, ${n}) with all values within the DataFrame of scalar type. Please adjust the passed in DataFrame to match the expected structure`,
      );
    if (inputs.from === "model" && frame.width !== n)
      throw libraryFailed(`the model takes ${n} columns; the request has ${frame.width}`);
    return Array.from({ length: n }, (_, i) => i);
  }
  const index = new Map<string, number>();
  frame.labels.forEach((label, c) => {
    if (typeof label === "string") index.set(label, c);
  });
  const sources = inputs.columns.map((c) => index.get(c.name as string) ?? -1);
  const absent = inputs.columns.filter((c, i) => sources[i] < 0 && (c.required || inputs.from === "model"));
  const known = new Set(inputs.columns.map((c) => c.name));
  const extra = frame.labels.filter((l) => !known.has(l as string));
  if (absent.length > 0) {
    throw missing(
      inputs,
      absent.map((c) => c.name as string),
      extra,
      frame,
      schema,
    );
  }
  // Without a signature nothing drops extra columns: the library refuses names it was not trained on.
  if (inputs.from === "model" && extra.length > 0)
    throw libraryFailed(`the model has no input named ${pyList(extra, 10)}`);
  return sources;
}

function missing(
  inputs: MlflowInputs,
  names: string[],
  extra: readonly Label[],
  frame: Frame,
  schema: string | null,
): MlflowInputError {
  if (inputs.from === "model")
    return libraryFailed(
      `the request lacks the model's inputs ${pyList(names)}${extra.length ? `, and the model has none named ${pyList(extra, 10)}` : ""}`,
    );
  let message = `Model is missing inputs ${pyList(names)}.`;
  if (extra.length > 0) message += ` Note that there were extra inputs: ${pyList(extra)}`;
  if (frame.source === "csv") message += headerHint(frame);
  return enforceFailed(frame, schema, message);
}

/** PyFuncModel.predict's wrapping, then the scoring server's (MLflow prints the data with pandas). */
function enforceFailed(frame: Frame, schema: string | null, message: string): MlflowInputError {
  const data = describeFrame(frame);
  return invalidParameter(
    `Failed to predict data '${data}'. \nError: Failed to enforce schema of data '${data}' with schema '${schema ?? "[]"}'. Error: ${message}`,
  );
}

/** What the scoring server answers when the flavor's library itself refuses the data. */
function libraryFailed(detail: string): MlflowInputError {
  return badRequest(
    `Encountered an unexpected error while evaluating the model. Verify that the serialized input Dataframe is compatible with the model for inference. (${detail})`,
  );
}

const PY_FLOAT = /^[+-]?(?:(?:\d(?:_?\d)*)(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const PY_SPECIAL = /^[+-]?(nan|inf|infinity)$/i;
const PY_INT = /^[+-]?\d(?:_?\d)*$/;
const CSV_FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const CSV_INT = /^[+-]?\d+$/;
const CSV_TRUE = new Set(["True", "TRUE", "true"]);
const CSV_FALSE = new Set(["False", "FALSE", "false"]);

type Read = (v: unknown) => number;

/** A reader of one column's cells into numbers, as that column's type converts them. */
function reader(
  column: MlflowColumn,
  source: Frame["source"],
  vocabulary: ReadonlyMap<string, number> | null,
  name: string,
): Read {
  const type = column.type;
  const fail = (v: unknown, reason: string): never => {
    const shown = typeof v === "string" ? pyStr(v, 40) : String(v);
    if (source === "csv")
      throw badRequest(
        `Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas DataFrame produced using the \`pandas.DataFrame.to_csv()\` method. Error: 'column ${pyStr(name, 80)} (${NUMPY_TYPE[type]}): ${reason} ${shown}'`,
      );
    if (type === "inferred") throw libraryFailed(`column ${pyStr(name, 80)}: ${reason} ${shown}`);
    throw badRequest(
      `Data is not compatible with model signature. Failed to convert column ${name.slice(0, 80)} to type '${NUMPY_TYPE[type]}'. Error: '${reason} ${shown}'`,
    );
  };
  const finite = (x: number, v: unknown): number =>
    Number.isFinite(x) ? x : fail(v, "infinity is not a value the model takes:");
  const category = (v: unknown): number => {
    if (vocabulary === null) return fail(v, "text where the model takes numbers:");
    const key = typeof v === "string" ? v : String(v);
    return vocabulary.get(key) ?? Number.NaN; // a category the model does not know is missing
  };

  if (source === "csv") {
    // read_csv(dtype=...) of the cell's text; null is an NA cell.
    return (v) => {
      const cell = v as string | null;
      switch (type) {
        case "double":
        case "float":
        case "inferred": {
          if (cell === null) return Number.NaN;
          const t = cell.trim();
          if (CSV_FLOAT.test(t)) return type === "float" ? Math.fround(Number(t)) : Number(t);
          if (PY_SPECIAL.test(t))
            return /nan/i.test(t) ? Number.NaN : fail(cell, "infinity is not a value the model takes:");
          if (type === "inferred" && CSV_TRUE.has(t)) return 1;
          if (type === "inferred" && CSV_FALSE.has(t)) return 0;
          if (type === "inferred" && vocabulary) return category(cell);
          return fail(cell, "could not convert string to float:");
        }
        case "long":
        case "integer": {
          if (cell === null) return fail("NA", "Integer column has NA values:");
          const t = cell.trim();
          if (!CSV_INT.test(t)) return fail(cell, "invalid literal for an integer:");
          return integer(Number(t), type, cell, fail);
        }
        case "boolean":
          if (cell !== null && CSV_TRUE.has(cell.trim())) return 1;
          if (cell !== null && CSV_FALSE.has(cell.trim())) return 0;
          return fail(cell ?? "NA", "not a boolean:");
        case "string":
          return cell === null ? Number.NaN : category(cell);
      }
    };
  }

  // JSON: pandas astype(type) of the column's Python values.
  return (v) => {
    switch (type) {
      case "inferred":
        if (typeof v === "number") return finite(v, v);
        if (v === null || v === undefined) return Number.NaN;
        if (typeof v === "boolean") return v ? 1 : 0;
        return category(v);
      case "double":
      case "float": {
        let x: number;
        if (typeof v === "number") x = v;
        else if (v === null || v === undefined) return Number.NaN;
        else if (typeof v === "boolean") x = v ? 1 : 0;
        else if (typeof v === "string") x = pythonFloat(v, fail);
        else return fail(v, "not a number:");
        if (Number.isNaN(x)) return x;
        x = finite(x, v);
        return type === "float" ? Math.fround(x) : x;
      }
      case "long":
      case "integer": {
        if (typeof v === "boolean") return v ? 1 : 0;
        if (v === null || v === undefined)
          return fail(v ?? null, "Cannot convert non-finite values (NA or inf) to integer:");
        if (typeof v === "number") return integer(Math.trunc(finite(v, v)), type, v, fail);
        if (typeof v === "string" && PY_INT.test(v.trim()))
          return integer(Number(v.trim().replace(/_/g, "")), type, v, fail);
        return fail(v, "invalid literal for int():");
      }
      case "boolean":
        // Python's truth: nonzero numbers (NaN too), non-empty strings, true; null is False.
        if (typeof v === "boolean") return v ? 1 : 0;
        if (typeof v === "number") return v !== 0 ? 1 : 0;
        if (typeof v === "string") return v.length > 0 ? 1 : 0;
        if (v === null || v === undefined) return 0;
        return fail(v, "not a boolean:");
      case "string":
        if (v === null || v === undefined) return Number.NaN;
        if (typeof v === "string" || typeof v === "number") return category(v);
        if (typeof v === "boolean") return category(v ? "True" : "False");
        return fail(v, "not a string:");
    }
  };
}

/** Python's float() of a string: decimal (underscores between digits), nan, inf; spaces around. */
function pythonFloat(text: string, fail: (v: unknown, reason: string) => never): number {
  const t = text.trim();
  if (PY_FLOAT.test(t)) return Number(t.replace(/_/g, ""));
  if (PY_SPECIAL.test(t)) return /nan/i.test(t) ? Number.NaN : t.startsWith("-") ? -Infinity : Infinity;
  return fail(text, "could not convert string to float:");
}

const INT64 = 2 ** 63;
const INT32 = 2 ** 31;

function integer(
  x: number,
  type: "long" | "integer",
  v: unknown,
  fail: (v: unknown, reason: string) => never,
): number {
  const bound = type === "long" ? INT64 : INT32;
  if (!(x >= -bound && x < bound)) return fail(v, `out of range for ${type === "long" ? "int64" : "int32"}:`);
  // Past 2^53 a JSON number is already rounded; the model reads float32 or float64 anyway.
  return x;
}
