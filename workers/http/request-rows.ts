/**
 * JSON bodies that the fast readers (fast-rows.ts) declined, parsed the usual way: a /predict
 * body's rows (model/rows.ts reads each one) and an OIP tensor's values, with errors that name
 * what is wrong and where.
 */

import { type Numbers, numbers } from "../scoring/protocol.js";
import { InvalidInputError, TooManyRowsError } from "./errors.js";

const SHAPE = 'the body must be {"instances": [row, ...]} or a single row object keyed by feature name';

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The rows of a JSON.parse'd body, and whether it was a bare row; throws on any other shape. */
export function batchOf(body: unknown): { instances: unknown[]; single: boolean } {
  if (isPlainObject(body) && Object.hasOwn(body, "instances")) {
    if (!Array.isArray(body.instances))
      throw new InvalidInputError(`"instances" must be an array of rows; ${SHAPE}`);
    if (body.instances.length === 0)
      throw new InvalidInputError('"instances" is empty: send at least one row');
    return { instances: body.instances, single: false };
  }
  if (isPlainObject(body)) return { instances: [body], single: true };
  throw new InvalidInputError(SHAPE);
}

export type InferRequest = {
  id?: string;
  outputs?: { name: string }[];
  parameters?: Record<string, unknown>;
  inputs: {
    name: string;
    shape: number[];
    datatype: string;
    data: unknown[];
    parameters?: Record<string, unknown>;
  }[];
};

/**
 * Flat or nested tensor data → rows of the model's row type (an FP32 tensor's values rounded to
 * float32 first: they are float32s, whatever digits spell them), with the offending index named
 * on error.
 */
export function tensorToRows(
  input: InferRequest["inputs"][number],
  numFeature: number,
  maxRows: number,
  rowType: "f32" | "f64" = "f32",
): { values: Numbers; rows: number } {
  const shape = input.shape;
  const rows = shape.length === 2 ? shape[0] : 1;
  const cols = shape.length === 2 ? shape[1] : shape[0];
  if (cols !== numFeature) {
    throw new InvalidInputError(
      `input "${input.name}" has shape [${shape.join(", ")}]; the model takes [N, ${numFeature}]`,
    );
  }
  if (rows === 0) throw new InvalidInputError(`input "${input.name}" has no rows`);
  if (rows > maxRows) throw new TooManyRowsError(String(rows), String(maxRows));
  const values = numbers(rowType, rows * cols);
  const round = input.datatype === "FP32" && rowType === "f64";
  let at = 0;
  const take = (v: unknown, where: string) => {
    if (at >= values.length)
      throw new InvalidInputError(`input "${input.name}" has more data than its shape [${shape.join(", ")}]`);
    if (typeof v === "number") {
      if (!Number.isFinite(v))
        throw new InvalidInputError(`input "${input.name}" data${where}: ${v} is out of range`);
      values[at++] = round ? Math.fround(v) : v;
    } else if (v === null) values[at++] = Number.NaN;
    else
      throw new InvalidInputError(`input "${input.name}" data${where}: expected a number, got ${typeof v}`);
  };
  const data = input.data;
  for (let i = 0; i < data.length; i++) {
    const item = data[i];
    if (Array.isArray(item)) {
      for (let j = 0; j < item.length; j++) {
        if (Array.isArray(item[j]))
          throw new InvalidInputError(`input "${input.name}" data[${i}][${j}]: nested deeper than [N, F]`);
        take(item[j], `[${i}][${j}]`);
      }
    } else take(item, `[${i}]`);
  }
  if (at !== values.length) {
    throw new InvalidInputError(
      `input "${input.name}" has ${at} values; shape [${shape.join(", ")}] needs ${values.length}`,
    );
  }
  return { values, rows };
}
