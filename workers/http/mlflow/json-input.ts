/**
 * /invocations' JSON bodies → a Frame (a table of JSON values), as MLflow's scoring server and
 * pandas read them:
 *
 * - the body is a JSON object (Python's json.loads: NaN, Infinity and -Infinity are numbers, as
 *   Python clients write a DataFrame's missing values) holding exactly one of dataframe_split,
 *   dataframe_records, instances and inputs; other keys (`params`, anything else) are ignored,
 *   as `_split_data_and_params` ignores them;
 * - dataframe_split: {"columns": [...], "data": [[...], ...], "index": [...]} (only those keys;
 *   data required); `pd.DataFrame(index=, columns=, data=)`;
 * - dataframe_records: [{"col": v, ...}, ...] (columns in first-seen order; a key a record lacks
 *   is missing) or [[...], ...];
 * - instances (TF Serving's row format): [{"col": v}, ...] → columns, or [[...], ...] rows;
 * - inputs (TF Serving's columnar format): {"col": [v, ...], ...}, {"col": v} (one row), a list of
 *   records, or [[...], ...] rows.
 *
 * Rows without column names are matched to the model's inputs by position (MLflow itself refuses
 * them where the signature names columns; forestd takes them in the signature's order). Rows of
 * unequal length are refused, where pandas would pad them with NaN.
 */
import {
  badRequest,
  DF_RECORDS,
  DF_SPLIT,
  INPUTS,
  INSTANCES,
  type InputFormat,
  isPlainObject,
  pyList,
  pyStr,
  pyType,
  REQUIRED_INPUT_FORMAT,
  SCORING_PROTOCOL_CHANGE_INFO,
  SUPPORTED_FORMATS,
} from "./protocol.js";

export type Label = string | number;

/** A table as MLflow hands it to the model: column labels (or none) and cells. */
export interface Frame {
  /** Column labels, or null when the body gave none (columns by position). */
  readonly labels: readonly Label[] | null;
  readonly width: number;
  readonly height: number;
  /** JSON cells (numbers, strings, booleans, null); CSV cells are strings, null for an NA. */
  readonly source: "json" | "csv";
  /** The cell at (row, column); undefined when a record lacks the column (missing). */
  cell(row: number, column: number): unknown;
  /** The cells row by row, when the frame holds them so (the common case, read without cell()). */
  readonly rows?: readonly (readonly unknown[])[];
  /** How MLflow's messages name the data ('<N rows x M columns>' where pandas prints the frame). */
  readonly format: InputFormat | "csv";
}

/** Most columns a request may have: a bound on labels and lookups, far above any model's inputs. */
export const MAX_COLUMNS = 1 << 16;

export function rowsFrame(
  labels: readonly Label[] | null,
  rows: readonly (readonly unknown[])[],
  width: number,
  format: Frame["format"],
  source: Frame["source"] = "json",
): Frame {
  return { labels, width, height: rows.length, source, format, rows, cell: (r, c) => rows[r][c] };
}

function columnsFrame(
  labels: readonly Label[],
  columns: readonly (readonly unknown[])[],
  height: number,
  format: InputFormat,
): Frame {
  return { labels, width: labels.length, height, source: "json", format, cell: (r, c) => columns[c][r] };
}

/**
 * Python's json.loads reads NaN, Infinity and -Infinity (pandas writes them for missing and
 * infinite values): outside strings they are rewritten as null and 1e999 (JSON for an infinity),
 * then parsed by `parse`. Returns null when the text holds none of them.
 */
export function rewritePythonNumbers(text: string): string | null {
  let out = "";
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c /* \ */) i++;
      else if (ch === 0x22 /* " */) inString = false;
      continue;
    }
    if (ch === 0x22) inString = true;
    else if (ch === 0x4e /* N */ && text.startsWith("NaN", i)) {
      out += `${text.slice(from, i)}null`;
      from = i + 3;
      i += 2;
    } else if (ch === 0x49 /* I */ && text.startsWith("Infinity", i)) {
      out += `${text.slice(from, i)}1e999`;
      from = i + 8;
      i += 7;
    }
  }
  return from === 0 ? null : out + text.slice(from);
}

/** Parses a body as Python's json.loads would; `parse` is the app's JSON parser (prototype-safe). */
export function parseInvocationsJson(text: string, parse: (text: string) => unknown): unknown {
  try {
    return parse(text);
  } catch (error) {
    const rewritten = rewritePythonNumbers(text);
    if (rewritten !== null) {
      try {
        return parse(rewritten);
      } catch {
        // the first error names the problem in the body as sent
      }
    }
    throw badRequest(
      `Failed to parse input from JSON. Ensure that input is a valid JSON formatted string. Error: '${String((error as Error).message).slice(0, 300)}'`,
    );
  }
}

/** A parsed JSON body → its Frame, or an MlflowInputError with MLflow's message. */
export function frameFromJson(body: unknown): Frame {
  if (!isPlainObject(body)) {
    const received = Array.isArray(body)
      ? "Received a list"
      : `Received unexpected input type '${pyType(body)}'`;
    throw badRequest(
      `${REQUIRED_INPUT_FORMAT}. ${received}. ${Array.isArray(body) ? SCORING_PROTOCOL_CHANGE_INFO : ""}`.trim(),
    );
  }
  const formats = SUPPORTED_FORMATS.filter((f) => Object.hasOwn(body, f));
  if (formats.length !== 1)
    throw badRequest(
      `${REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: ${pyList(formats)}. ${SCORING_PROTOCOL_CHANGE_INFO}`,
    );
  const format = formats[0];
  const data = body[format];
  switch (format) {
    case DF_SPLIT:
      return splitFrame(data);
    case DF_RECORDS:
      return recordsFrame(data);
    case INSTANCES:
      return instancesFrame(data);
    case INPUTS:
      return inputsFrame(data);
  }
}

function notValid(format: string, orient: string, reason: string): never {
  throw badRequest(
    `Provided ${format} field is not a valid dataframe representation in '${orient}' format. Error: '${reason}'`,
  );
}

function splitFrame(data: unknown): Frame {
  if (!isPlainObject(data))
    throw badRequest(
      `Dataframe split format must be a dictionary. Got ${Array.isArray(data) ? "list" : `type ${pyType(data)}`}.`,
    );
  const keys = Object.keys(data);
  if (!keys.includes("data") || keys.some((k) => k !== "columns" && k !== "data" && k !== "index"))
    throw badRequest(
      `Dataframe split format must have 'data' field and optionally 'columns' and 'index' fields. Got {${keys.map((k) => pyStr(k, 60)).join(", ")}}.'`,
    );
  const rows = data.data;
  if (!Array.isArray(rows)) notValid(DF_SPLIT, "split", "data must be a list of rows");
  const height = rows.length;
  let labels: Label[] | null = null;
  if (data.columns !== undefined && data.columns !== null) {
    labels = columnLabels(data.columns, DF_SPLIT, "split");
  }
  // A list of scalars is one column (pandas), a list of lists is rows.
  const scalars = rows.length > 0 && rows.every((r) => !Array.isArray(r) && !isPlainObject(r));
  const table = scalars ? rows.map((v) => [v]) : rows;
  const width = labels?.length ?? (table.length > 0 && Array.isArray(table[0]) ? table[0].length : 0);
  checkRows(table, width, DF_SPLIT, "split", labels !== null);
  if (data.index !== undefined && data.index !== null) {
    if (!Array.isArray(data.index)) notValid(DF_SPLIT, "split", "index must be a list");
    if (data.index.length !== height)
      notValid(
        DF_SPLIT,
        "split",
        `Shape of passed values is (${height}, ${width}), indices imply (${data.index.length}, ${width})`,
      );
  }
  return rowsFrame(labels, table as unknown[][], width, DF_SPLIT);
}

function columnLabels(columns: unknown, format: string, orient: string): Label[] {
  if (!Array.isArray(columns)) notValid(format, orient, "columns must be a list of column names");
  if (columns.length > MAX_COLUMNS)
    notValid(format, orient, `${columns.length} columns; at most ${MAX_COLUMNS}`);
  const seen = new Set<Label>();
  for (const c of columns) {
    if (typeof c !== "string" && typeof c !== "number")
      notValid(format, orient, `a column name must be a string or a number, got ${pyType(c)}`);
    if (seen.has(c))
      notValid(format, orient, `the column ${typeof c === "string" ? pyStr(c, 80) : c} appears twice`);
    seen.add(c);
  }
  return columns as Label[];
}

/** Every row a list of `width` values (none nested). */
function checkRows(
  rows: readonly unknown[],
  width: number,
  format: string,
  orient: string,
  named: boolean,
): void {
  if (width > MAX_COLUMNS) notValid(format, orient, `${width} columns; at most ${MAX_COLUMNS}`);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    if (!Array.isArray(row)) notValid(format, orient, `row ${r} is ${pyType(row)}, not a list of values`);
    if (row.length !== width)
      notValid(
        format,
        orient,
        named
          ? `${width} columns passed, passed data had ${row.length} columns (row ${r})`
          : `row ${r} has ${row.length} values; row 0 has ${width}`,
      );
  }
}

/** A list of records → columns in first-seen key order; a key a record lacks is missing. */
function recordsToFrame(records: readonly Record<string, unknown>[], format: InputFormat): Frame {
  const index = new Map<string, number>();
  for (const record of records) {
    for (const key of Object.keys(record)) {
      if (!index.has(key)) {
        if (index.size === MAX_COLUMNS) notValid(format, "records", `more than ${MAX_COLUMNS} columns`);
        index.set(key, index.size);
      }
    }
  }
  const labels = [...index.keys()];
  return {
    labels,
    width: labels.length,
    height: records.length,
    source: "json",
    format,
    cell: (r, c) => {
      const record = records[r];
      const key = labels[c];
      return Object.hasOwn(record, key) ? record[key] : undefined;
    },
  };
}

function recordsFrame(data: unknown): Frame {
  if (!Array.isArray(data))
    throw badRequest(
      `Dataframe records format must be a list of records. Got ${isPlainObject(data) ? "dictionary" : `type ${pyType(data)}`}.`,
    );
  if (data.every(isPlainObject)) return recordsToFrame(data, DF_RECORDS);
  if (data.every(Array.isArray)) {
    const width = data.length > 0 ? data[0].length : 0;
    checkRows(data, width, DF_RECORDS, "records", false);
    return rowsFrame(null, data, width, DF_RECORDS);
  }
  return notValid(
    DF_RECORDS,
    "records",
    "every record must be a dictionary of column values (or every one a list)",
  );
}

function tfFailed(reason: string): never {
  throw badRequest(
    `Failed to parse data as TF serving input. Ensure that the input is a valid JSON-formatted string that conforms to the request body for TF serving's Predict API as documented at https://www.tensorflow.org/tfx/serving/api_rest#request_format_2 (${reason})`,
  );
}

function instancesFrame(data: unknown): Frame {
  if (!Array.isArray(data)) tfFailed(`instances must be a list, got ${pyType(data)}`);
  if (data.length > 0 && isPlainObject(data[0])) {
    if (!data.every(isPlainObject)) tfFailed("every instance must be a dictionary when the first one is");
    // MLflow turns the records into columns and requires every column as long as the others.
    const frame = recordsToFrame(data, INSTANCES);
    for (let c = 0; c < frame.width; c++)
      for (let r = 0; r < frame.height; r++)
        if (frame.cell(r, c) === undefined)
          throw badRequest(
            "Failed to parse data as TF serving input. The length of values for each input/column name are not the same",
          );
    return frame;
  }
  return tensorRows(data, INSTANCES);
}

/** [[...], ...] rows; a flat list of scalars is one column. */
function tensorRows(data: readonly unknown[], format: InputFormat): Frame {
  if (data.length > 0 && data.every((v) => !Array.isArray(v) && !isPlainObject(v)))
    return rowsFrame(
      null,
      data.map((v) => [v]),
      1,
      format,
    );
  const width = data.length > 0 && Array.isArray(data[0]) ? data[0].length : 0;
  if (width > MAX_COLUMNS) tfFailed(`${width} values per row; at most ${MAX_COLUMNS}`);
  for (let r = 0; r < data.length; r++) {
    const row = data[r];
    if (!Array.isArray(row)) tfFailed(`${format}[${r}] is ${pyType(row)}, not a list of values`);
    if (row.length !== width) tfFailed(`${format}[${r}] has ${row.length} values; ${format}[0] has ${width}`);
    for (let c = 0; c < row.length; c++)
      if (Array.isArray(row[c]) || isPlainObject(row[c]))
        tfFailed(`${format}[${r}][${c}] is nested deeper than rows of values`);
  }
  return rowsFrame(null, data as unknown[][], width, format);
}

function inputsFrame(data: unknown): Frame {
  if (Array.isArray(data)) {
    if (data.length > 0 && data.every(isPlainObject)) return recordsToFrame(data, INPUTS);
    return tensorRows(data, INPUTS);
  }
  if (!isPlainObject(data))
    tfFailed(`inputs must be a dictionary of columns or a list of rows, got ${pyType(data)}`);
  const labels = Object.keys(data);
  if (labels.length > MAX_COLUMNS) tfFailed(`${labels.length} columns; at most ${MAX_COLUMNS}`);
  const values = labels.map((k) => data[k]);
  // {"a": 1, "b": 2} is one row (MLflow's _enforce_schema: a dict of scalars); else columns.
  if (values.every((v) => !Array.isArray(v))) return rowsFrame(labels, [values], labels.length, INPUTS);
  if (!values.every(Array.isArray))
    throw badRequest(
      "This model contains a column-based signature, which suggests a DataFrame input. There was an error casting the input data to a DataFrame: If using all scalar values, you must pass an index",
    );
  const height = (values[0] as unknown[]).length;
  const ragged = values.findIndex((v) => (v as unknown[]).length !== height);
  if (ragged >= 0)
    throw badRequest(
      `This model contains a column-based signature, which suggests a DataFrame input. There was an error casting the input data to a DataFrame: All arrays must be of the same length (${pyStr(labels[0], 60)} has ${height}, ${pyStr(labels[ragged], 60)} has ${(values[ragged] as unknown[]).length})`,
    );
  return columnsFrame(labels, values as unknown[][], height, INPUTS);
}
