/**
 * JSON rows → the Float32Array the engine scores, with errors that name the row and the field.
 *
 * A row is an array (positional, null = missing) or an object keyed by feature name (absent or
 * null = missing). Values are rounded to float32 on the way in, as XGBoost's DMatrix does. A number
 * JSON cannot hold as a float64 (1e400 parses to Infinity) is refused rather than scored.
 */
import { describeValue } from "./errors.js";
import type { Model } from "./model.js";

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

/** A model's feature names: its own, else XGBoost's defaults f0, f1, ... */
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

function columnName(model: Model, i: number): string {
  return model.featureNames[i] ?? defaultFeatureName(i);
}

/** Writes one row into `out` at `offset`; throws RowError naming the row and field. */
export function writeRow(
  model: Model,
  columns: ReadonlyMap<string, number>,
  row: unknown,
  index: number,
  out: Float32Array,
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
    for (let i = 0; i < nf; i++) {
      const v = row[i];
      if (typeof v === "number" && Number.isFinite(v)) out[offset + i] = v;
      else if (v === null) out[offset + i] = Number.NaN;
      else if (typeof v === "number") {
        throw new RowError(
          `row ${index}, feature ${i} ("${columnName(model, i)}"): ${v} is out of range`,
          index,
          columnName(model, i),
        );
      } else {
        throw new RowError(
          `row ${index}, feature ${i} ("${columnName(model, i)}"): expected a number or null, got ${describeValue(v)}`,
          index,
          columnName(model, i),
        );
      }
    }
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
    const v = (row as Record<string, unknown>)[key];
    if (typeof v === "number" && Number.isFinite(v)) out[offset + i] = v;
    else if (typeof v === "number") {
      throw new RowError(`row ${index}, feature "${key}": ${v} is out of range`, index, key);
    } else if (v !== null) {
      throw new RowError(
        `row ${index}, feature "${key}": expected a number or null, got ${describeValue(v)}`,
        index,
        key,
      );
    }
  }
}

/** All rows into one row-major Float32Array; pass `columns` to reuse a lookup across calls. */
export function rowsToFloat32(
  model: Model,
  rows: readonly unknown[],
  columns: ReadonlyMap<string, number> = columnLookup(model),
): Float32Array {
  const out = new Float32Array(rows.length * model.numFeature);
  for (let r = 0; r < rows.length; r++) writeRow(model, columns, rows[r], r, out, r * model.numFeature);
  return out;
}

/** Row-major outputs → JSON: a number per row, or an array per row when there are several outputs. */
export function outputsToJson(outputs: Float32Array, width: number): (number | number[])[] {
  const rows = width === 0 ? 0 : outputs.length / width;
  const result: (number | number[])[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    result[r] = width === 1 ? outputs[r] : Array.from(outputs.subarray(r * width, (r + 1) * width));
  }
  return result;
}
