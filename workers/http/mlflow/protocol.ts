/**
 * MLflow's scoring protocol, the words of it: the input formats, the messages its scoring server
 * answers with (mlflow/pyfunc/scoring_server/__init__.py, mlflow/utils/proto_json_utils.py,
 * mlflow/models/utils.py in MLflow 2.x; the same protocol 3.x serves), and Python's way of printing
 * the values those messages quote.
 */

export const DF_RECORDS = "dataframe_records";
export const DF_SPLIT = "dataframe_split";
export const INSTANCES = "instances";
export const INPUTS = "inputs";
export const SUPPORTED_FORMATS = [DF_SPLIT, DF_RECORDS, INSTANCES, INPUTS] as const;
export type InputFormat = (typeof SUPPORTED_FORMATS)[number];

export const CONTENT_TYPE_CSV = "text/csv";
export const CONTENT_TYPE_JSON = "application/json";

/** Python prints the set in hash order, which changes per process; forestd prints one order. */
export const REQUIRED_INPUT_FORMAT = `The input must be a JSON dictionary with exactly one of the input fields {${SUPPORTED_FORMATS.map((f) => `'${f}'`).join(", ")}}`;

export const SCORING_PROTOCOL_CHANGE_INFO =
  "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are" +
  " seeing this error, you are likely using an outdated scoring request format. To resolve the" +
  " error, either update your request format or adjust your MLflow Model's requirements file to" +
  " specify an older version of MLflow (for example, change the 'mlflow' requirement specifier" +
  " to 'mlflow==1.30.0'). If you are making a request using the MLflow client" +
  " (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 in" +
  " order to use the new request format. For more information about the updated MLflow" +
  " Model scoring protocol in MLflow 2.0, see" +
  " https://mlflow.org/docs/latest/models.html#deploy-mlflow-models.";

/** MLflow's error codes forestd answers with (mlflow/protos/databricks.proto), by meaning. */
export type MlflowErrorCode =
  | "BAD_REQUEST"
  | "INVALID_PARAMETER_VALUE"
  | "ENDPOINT_NOT_FOUND"
  | "RESOURCE_EXHAUSTED"
  | "TEMPORARILY_UNAVAILABLE"
  | "DEADLINE_EXCEEDED"
  | "INTERNAL_ERROR";

/**
 * A request /invocations refuses as MLflow's scoring server would: its error code (BAD_REQUEST for
 * a body it cannot read, INVALID_PARAMETER_VALUE for data the model's schema refuses) and message.
 */
export class MlflowInputError extends Error {
  constructor(
    readonly errorCode: "BAD_REQUEST" | "INVALID_PARAMETER_VALUE",
    message: string,
  ) {
    super(message);
    this.name = "MlflowInputError";
  }
}

/** A Content-Type the scoring server refuses: 415 with a text/plain message. */
export class MlflowContentTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MlflowContentTypeError";
  }
}

export function badRequest(message: string): MlflowInputError {
  return new MlflowInputError("BAD_REQUEST", message);
}

export function invalidParameter(message: string): MlflowInputError {
  return new MlflowInputError("INVALID_PARAMETER_VALUE", message);
}

/** A string as Python's repr writes it: single quotes unless the text holds one and no double. */
export function pyStr(text: string, max = 200): string {
  const s = text.length > max ? `${text.slice(0, max)}...` : text;
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  const escaped = s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
  return quote + (quote === "'" ? escaped.replace(/'/g, "\\'") : escaped) + quote;
}

/** A list as Python prints it (['a', 'b', 3]), at most `max` items then "..." and how many more. */
export function pyList(items: readonly (string | number | null)[], max = 20): string {
  const shown = items
    .slice(0, max)
    .map((x) => (typeof x === "string" ? pyStr(x, 80) : x === null ? "None" : String(x)));
  if (items.length > max) shown.push(`... ${items.length - max} more`);
  return `[${shown.join(", ")}]`;
}

/** A JSON value's Python type as `type(x)` prints it. */
export function pyType(v: unknown): string {
  if (v === null) return "<class 'NoneType'>";
  if (Array.isArray(v)) return "<class 'list'>";
  switch (typeof v) {
    case "string":
      return "<class 'str'>";
    case "boolean":
      return "<class 'bool'>";
    case "number":
      return Number.isInteger(v) ? "<class 'int'>" : "<class 'float'>";
    default:
      return "<class 'dict'>";
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
