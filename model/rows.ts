/**
 * JSON rows → the typed array the engine scores, with errors that name the row and the field.
 *
 * A row is an array (positional, null = missing) or an object keyed by input name (absent or null
 * = missing). Values go into a Float32Array for models that compare in float32 (rounded on the way
 * in, as XGBoost's DMatrix does) and a Float64Array for those that compare or preprocess in double.
 * A string is read where the input has string categories (a pandas category, a OneHotEncoder's
 * string column): it becomes its category's index, and a string the model does not know becomes
 * missing. A number JSON cannot hold as a float64 (1e400 parses to Infinity) is refused rather
 * than scored.
 */
import { describeValue } from "./errors.js";
import type { Model, Rows } from "./model.js";

export class RowError extends Error {
  readonly code = "FORESTD_ERR_INVALID_ROW";
  constructor(
    message: string,
    readonly row: number,
    readonly field: string | null,
  ) {
    super(message);
    this.name = "RowError";
  }
}

/** XGBoost's name for a feature the model does not name. */
function defaultFeatureName(i: number): string {
  return `f${i}`;
}

/** A model's input names: its own, else XGBoost's defaults f0, f1, ... */
export function featureNames(model: {
  readonly featureNames: readonly string[];
  readonly numFeature: number;
}): readonly string[] {
  return model.featureNames.length > 0
    ? model.featureNames
    : Array.from({ length: model.numFeature }, (_, i) => defaultFeatureName(i));
}

/** Names a model's columns answer to (see featureNames), to their positions. */
export function columnLookup(model: Model): ReadonlyMap<string, number> {
  return new Map(featureNames(model).map((name, i) => [name, i]));
}

const vocabularyCache = new WeakMap<Model, readonly (ReadonlyMap<string, number> | null)[]>();

/** Per input column: its string categories to their indices, or null for numbers-only columns. */
export function vocabularies(model: Model): readonly (ReadonlyMap<string, number> | null)[] {
  let cached = vocabularyCache.get(model);
  if (!cached) {
    cached = model.inputs.map((c) => (c.vocabulary ? new Map(c.vocabulary.map((s, i) => [s, i])) : null));
    vocabularyCache.set(model, cached);
  }
  return cached;
}

/** Whether any input of the model takes strings. */
export function takesStrings(model: Model): boolean {
  return vocabularies(model).some((v) => v !== null);
}

function columnName(model: Model, i: number): string {
  return model.featureNames[i] ?? defaultFeatureName(i);
}

/** One value of a row, or throws naming the row and the field. */
function cellValue(model: Model, v: unknown, index: number, i: number, key: string | null): number {
  if (typeof v === "number") {
    if (Number.isFinite(v)) return v;
    const where = key === null ? `feature ${i} ("${columnName(model, i)}")` : `feature "${key}"`;
    throw new RowError(`row ${index}, ${where}: ${v} is out of range`, index, key ?? columnName(model, i));
  }
  if (v === null) return Number.NaN;
  if (typeof v === "string") {
    const vocabulary = vocabularies(model)[i];
    if (vocabulary) return vocabulary.get(v) ?? Number.NaN;
  }
  const where = key === null ? `feature ${i} ("${columnName(model, i)}")` : `feature "${key}"`;
  const expected = vocabularies(model)[i] ? "a number, a string or null" : "a number or null";
  throw new RowError(
    `row ${index}, ${where}: expected ${expected}, got ${describeValue(v)}`,
    index,
    key ?? columnName(model, i),
  );
}

/** Writes one row into `out` at `offset`; throws RowError naming the row and field. */
export function writeRow(
  model: Model,
  columns: ReadonlyMap<string, number>,
  row: unknown,
  index: number,
  out: Rows,
  offset: number,
): void {
  const nf = model.numFeature;
  if (Array.isArray(row)) {
    if (row.length !== nf) {
      throw new RowError(
        `row ${index} has ${row.length} values; the model takes ${nf} features`,
        index,
        null,
      );
    }
    for (let i = 0; i < nf; i++) out[offset + i] = cellValue(model, row[i], index, i, null);
    return;
  }
  if (typeof row !== "object" || row === null) {
    throw new RowError(
      `row ${index} must be an array or an object keyed by feature name, got ${describeValue(row)}`,
      index,
      null,
    );
  }
  out.fill(Number.NaN, offset, offset + nf);
  for (const key of Object.keys(row)) {
    const i = columns.get(key);
    if (i === undefined) {
      throw new RowError(`row ${index}: unknown feature "${key.slice(0, 80)}"`, index, key.slice(0, 80));
    }
    out[offset + i] = cellValue(model, (row as Record<string, unknown>)[key], index, i, key);
  }
}

/** A typed array for `length` values, of the type the model's rows are best given in. */
export function rowsArray(model: Model, length: number): Rows {
  return model.rowPrecision === "f64" ? new Float64Array(length) : new Float32Array(length);
}

/** All rows into one row-major typed array; pass `columns` to reuse a lookup across calls. */
export function rowsToArray(
  model: Model,
  rows: readonly unknown[],
  columns: ReadonlyMap<string, number> = columnLookup(model),
): Rows {
  const out = rowsArray(model, rows.length * model.numFeature);
  for (let r = 0; r < rows.length; r++) writeRow(model, columns, rows[r], r, out, r * model.numFeature);
  return out;
}

/** Row-major outputs → JSON: a number per row, or an array per row when there are several outputs. */
export function outputsToJson(outputs: Rows, width: number): (number | number[])[] {
  const rows = width === 0 ? 0 : outputs.length / width;
  const result: (number | number[])[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    result[r] = width === 1 ? outputs[r] : Array.from(outputs.subarray(r * width, (r + 1) * width));
  }
  return result;
}
