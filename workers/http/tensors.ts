/**
 * Open Inference Protocol input tensors → the rows a model scores, for the requests the fast reader
 * (fast-rows.ts) declines: every datatype the protocol defines, read exactly; one tensor of shape
 * [N, F] (or [F] for one row), or one tensor per input column, by name, in any order, each of
 * shape [N] or [N, 1] (how MLServer's and KServe's pandas codecs send a DataFrame); strings (BYTES)
 * for columns with string categories.
 *
 * Exactly: an integer tensor's values are integers, converted to the model's row precision with one
 * rounding (INT64 and UINT64 beyond 2^53 arrive as BigInt from `parseInferJson`, so no digit is lost
 * to JSON.parse's float64 first); an FP16 tensor's values are float16s and an FP32 tensor's float32s,
 * whatever digits spelled them (as numpy's astype would make them); BOOL is 1 or 0; null is missing.
 */
import type { Model } from "../../model/index.js";
import { vocabularies } from "../../model/rows.js";
import { type Numbers, numbers } from "../scoring/protocol.js";
import { InvalidInputError, TooManyRowsError } from "./errors.js";
import type { InferRequest } from "./request-rows.js";

export { DATATYPES, type Datatype } from "./datatypes.js";

/** Inclusive bounds of each integer datatype. */
const INTEGER_RANGE: Readonly<Record<string, readonly [bigint, bigint]>> = {
  UINT8: [0n, 255n],
  UINT16: [0n, 65_535n],
  UINT32: [0n, 4_294_967_295n],
  UINT64: [0n, 18_446_744_073_709_551_615n],
  INT8: [-128n, 127n],
  INT16: [-32_768n, 32_767n],
  INT32: [-2_147_483_648n, 2_147_483_647n],
  INT64: [-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n],
};

const F32_MAX = 3.4028234663852886e38;

/** The float32 nearest an integer (ties to even), rounding once from the integer itself. */
export function bigintToFloat32(value: bigint): number {
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const bits = magnitude.toString(2).length;
  let result: number;
  if (bits <= 24) result = Number(magnitude);
  else {
    const shift = BigInt(bits - 24);
    let kept = magnitude >> shift;
    const rest = magnitude - (kept << shift);
    const half = 1n << (shift - 1n);
    if (rest > half || (rest === half && (kept & 1n) === 1n)) kept += 1n;
    // kept ≤ 2^24 and the scale is a power of two: the product is exact.
    result = Number(kept) * 2 ** Number(shift);
    if (result > F32_MAX) result = Number.POSITIVE_INFINITY;
  }
  return negative ? -result : result;
}

const f16round: (x: number) => number =
  typeof (Math as { f16round?: (x: number) => number }).f16round === "function"
    ? (Math as unknown as { f16round: (x: number) => number }).f16round
    : roundToFloat16;

/** The float16 nearest `x` (ties to even); ±Infinity past float16's range, as numpy's astype. */
export function roundToFloat16(x: number): number {
  if (Number.isNaN(x) || x === 0 || !Number.isFinite(x)) return x;
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  // The spacing of float16s around a: 2^-24 below 2^-14 (subnormals), else 2^(exponent - 10).
  let exponent = Math.floor(Math.log2(a));
  if (2 ** exponent > a) exponent--;
  else if (2 ** (exponent + 1) <= a) exponent++;
  const quantum = 2 ** (Math.max(exponent, -14) - 10);
  const scaled = a / quantum;
  const floor = Math.floor(scaled);
  const diff = scaled - floor;
  const n = diff > 0.5 || (diff === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  const rounded = n * quantum;
  return sign * (rounded > 65504 ? Number.POSITIVE_INFINITY : rounded);
}

/** Which column each input column's strings index (its vocabulary), by column. */
type Vocabularies = readonly (ReadonlyMap<string, number> | null)[];

interface Where {
  input: string;
  /** The input's name, for messages. */
  name: string;
}

function problem(where: Where, at: string, what: string): Error {
  return new InvalidInputError(`${where.input} ("${where.name.slice(0, 80)}") data${at}: ${what}`);
}

/**
 * One element of a tensor, as the number a row holds: exactly the datatype's value, then the row
 * precision (a Float32Array's store rounds once). `vocabulary`: the column's string categories.
 */
function element(
  datatype: string,
  v: unknown,
  rowType: "f32" | "f64",
  vocabulary: ReadonlyMap<string, number> | null,
  where: Where,
  at: string,
): number {
  if (v === null) return Number.NaN;
  switch (datatype) {
    case "FP64":
    case "FP32":
    case "FP16": {
      if (typeof v === "bigint") v = Number(v);
      if (typeof v !== "number") throw problem(where, at, `expected a number or null, got ${typeof v}`);
      if (!Number.isFinite(v)) throw problem(where, at, `${v} is out of range`);
      const x = datatype === "FP64" ? v : datatype === "FP32" ? Math.fround(v) : f16round(v);
      if (!Number.isFinite(x)) throw problem(where, at, `${v} is out of ${datatype}'s range`);
      return x;
    }
    case "BOOL":
      if (typeof v !== "boolean") throw problem(where, at, `expected true, false or null, got ${typeof v}`);
      return v ? 1 : 0;
    case "BYTES": {
      // A tensor of whole rows mixes strings (string columns) and numbers (the others).
      if (typeof v === "number" && Number.isFinite(v)) return v;
      if (typeof v !== "string")
        throw problem(where, at, `expected a string, a number or null, got ${describe(v)}`);
      if (vocabulary === null)
        throw problem(where, at, "a string (BYTES) for a column that takes numbers; send a numeric datatype");
      return vocabulary.get(v) ?? Number.NaN;
    }
    default: {
      const range = INTEGER_RANGE[datatype];
      let i: bigint;
      if (typeof v === "bigint") i = v;
      else if (typeof v === "number" && Number.isInteger(v)) {
        // A float64 integer is exact below 2^53, and the store below rounds it once.
        if (Number.isSafeInteger(v)) {
          if (BigInt(v) < range[0] || BigInt(v) > range[1])
            throw problem(where, at, `${v} is out of ${datatype}'s range`);
          return v;
        }
        i = BigInt(v);
      } else throw problem(where, at, `expected an integer (${datatype}) or null, got ${describe(v)}`);
      if (i < range[0] || i > range[1]) throw problem(where, at, `${i} is out of ${datatype}'s range`);
      return rowType === "f32" ? bigintToFloat32(i) : Number(i);
    }
  }
}

function describe(v: unknown): string {
  return typeof v === "number" ? String(v) : typeof v;
}

export interface TensorRows {
  values: Numbers;
  rows: number;
}

/**
 * An OIP request's inputs → rows: one tensor [N, F] / [F] (the rows themselves), or one tensor per
 * column by name. A lone tensor is the rows unless it is named as a column and shaped as one ([N]
 * or [N, 1]). `contentType` is the request's parameters.content_type: "pd" says columns, "np" one
 * tensor (MLServer's codecs).
 */
export function readInputs(
  model: Model,
  columns: ReadonlyMap<string, number>,
  inputs: InferRequest["inputs"],
  maxRows: number,
  contentType?: unknown,
): TensorRows {
  const vocab = vocabularies(model);
  const nf = model.numFeature;
  if (contentType === "np" && inputs.length !== 1)
    throw new InvalidInputError(
      `parameters.content_type "np" is one tensor of shape [N, ${nf}]; got ${inputs.length} inputs`,
    );
  const only = inputs.length === 1 ? inputs[0] : undefined;
  const matrix =
    only !== undefined &&
    contentType !== "pd" &&
    (contentType === "np" ||
      !columns.has(only.name) ||
      (only.shape.length === 2 && only.shape[1] === nf && nf > 1));
  if (matrix) return readMatrix(only, nf, maxRows, model.rowPrecision, vocab);
  return readColumns(inputs, nf, columns, maxRows, model.rowPrecision, vocab);
}

/** One tensor holding the rows: flat or nested data, shape [N, F] or [F]. */
function readMatrix(
  input: InferRequest["inputs"][number],
  nf: number,
  maxRows: number,
  rowType: "f32" | "f64",
  vocab: Vocabularies,
): TensorRows {
  const shape = input.shape;
  const rows = shape.length === 2 ? shape[0] : 1;
  const cols = shape.length === 2 ? shape[1] : shape[0];
  if (cols !== nf) {
    throw new InvalidInputError(
      `input "${input.name.slice(0, 80)}" has shape [${shape.join(", ")}]; the model takes [N, ${nf}]`,
    );
  }
  if (rows === 0) throw new InvalidInputError(`input "${input.name.slice(0, 80)}" has no rows`);
  if (rows > maxRows) throw new TooManyRowsError(String(rows), String(maxRows));
  const values = numbers(rowType, rows * cols);
  const where: Where = { input: "inputs[0]", name: input.name };
  let at = 0;
  const take = (v: unknown, index: string) => {
    if (at >= values.length)
      throw new InvalidInputError(
        `input "${input.name.slice(0, 80)}" has more data than its shape [${shape.join(", ")}]`,
      );
    values[at] = element(input.datatype, v, rowType, vocab[at % cols], where, index);
    at++;
  };
  const data = input.data;
  for (let i = 0; i < data.length; i++) {
    const item = data[i];
    if (Array.isArray(item)) {
      for (let j = 0; j < item.length; j++) {
        if (Array.isArray(item[j]))
          throw new InvalidInputError(
            `input "${input.name.slice(0, 80)}" data[${i}][${j}]: nested deeper than [N, F]`,
          );
        take(item[j], `[${i}][${j}]`);
      }
    } else take(item, `[${i}]`);
  }
  if (at !== values.length) {
    throw new InvalidInputError(
      `input "${input.name.slice(0, 80)}" has ${at} values; shape [${shape.join(", ")}] needs ${values.length}`,
    );
  }
  return { values, rows };
}

/** One tensor per column, by name: each [N] or [N, 1]; a column no input names is missing (NaN). */
function readColumns(
  inputs: InferRequest["inputs"],
  nf: number,
  columns: ReadonlyMap<string, number>,
  maxRows: number,
  rowType: "f32" | "f64",
  vocab: Vocabularies,
): TensorRows {
  let rows = -1;
  const seen = new Set<number>();
  for (const [k, input] of inputs.entries()) {
    const column = columns.get(input.name);
    if (column === undefined) {
      const known = [...columns.keys()];
      throw new InvalidInputError(
        `inputs[${k}] ("${input.name.slice(0, 80)}") is not one of the model's inputs (${known.slice(0, 20).join(", ")}${known.length > 20 ? ", ..." : ""}); send one tensor per column by name, or one tensor of shape [N, ${nf}]`,
      );
    }
    if (seen.has(column))
      throw new InvalidInputError(`inputs[${k}] ("${input.name.slice(0, 80)}") is named twice`);
    seen.add(column);
    const shape = input.shape;
    if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1)))
      throw new InvalidInputError(
        `inputs[${k}] ("${input.name.slice(0, 80)}") has shape [${shape.join(", ")}]; a column is [N] or [N, 1]`,
      );
    if (rows === -1) rows = shape[0];
    else if (shape[0] !== rows)
      throw new InvalidInputError(
        `inputs[${k}] ("${input.name.slice(0, 80)}") has ${shape[0]} rows; the inputs before it have ${rows}`,
      );
  }
  if (rows <= 0) throw new InvalidInputError("the inputs have no rows");
  if (rows > maxRows) throw new TooManyRowsError(String(rows), String(maxRows));
  const values = numbers(rowType, rows * nf);
  values.fill(Number.NaN);
  for (const [k, input] of inputs.entries()) {
    const column = columns.get(input.name) as number;
    const where: Where = { input: `inputs[${k}]`, name: input.name };
    // [N] flat, or [N, 1] flat or nested one level.
    let at = 0;
    const take = (v: unknown, index: string) => {
      if (at >= rows)
        throw new InvalidInputError(
          `inputs[${k}] ("${input.name.slice(0, 80)}") has more data than its shape [${input.shape.join(", ")}]`,
        );
      values[at * nf + column] = element(input.datatype, v, rowType, vocab[column], where, index);
      at++;
    };
    for (let i = 0; i < input.data.length; i++) {
      const item = input.data[i];
      if (Array.isArray(item)) {
        if (item.length !== 1 || Array.isArray(item[0]))
          throw new InvalidInputError(
            `inputs[${k}] ("${input.name.slice(0, 80)}") data[${i}]: a column's rows hold one value each`,
          );
        take(item[0], `[${i}][0]`);
      } else take(item, `[${i}]`);
    }
    if (at !== rows)
      throw new InvalidInputError(
        `inputs[${k}] ("${input.name.slice(0, 80)}") has ${at} values; shape [${input.shape.join(", ")}] needs ${rows}`,
      );
  }
  return { values, rows };
}

/** The integer a number's JSON text spells exactly (12, -3e20, 4.0E2), or null when it spells none. */
export function exactInteger(text: string): bigint | null {
  const m = /^(-?)(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (m === null) return null;
  const [, sign, whole, fraction = "", exp = "0"] = m;
  let exponent = Number(exp);
  let digits = whole + fraction;
  exponent -= fraction.length;
  if (exponent < 0) {
    // Only trailing zeros may be shifted out.
    const cut = digits.length + exponent;
    if (cut < 0 || !/^0*$/.test(digits.slice(Math.max(0, cut)))) return null;
    digits = digits.slice(0, Math.max(0, cut)) || "0";
    exponent = 0;
  }
  // A sane bound: the largest value any integer datatype holds has 20 digits.
  if (digits.replace(/^0+/, "").length + exponent > 40) return null;
  const value = BigInt(digits) * 10n ** BigInt(exponent);
  return sign === "-" ? -value : value;
}

/**
 * A request body as JSON, with integers that float64 cannot hold exactly (INT64, UINT64) kept as
 * BigInt, read from their own digits. The same refusals as Fastify's parser (onProtoPoisoning and
 * onConstructorPoisoning "error"): a "__proto__" key, or a "constructor" holding a "prototype".
 */
export function parseExactJson(text: string): unknown {
  return JSON.parse(
    text,
    function (this: unknown, key: string, value: unknown, context?: { source?: string }) {
      if (key === "__proto__") throw new SyntaxError("Object contains forbidden prototype property");
      if (
        key === "constructor" &&
        typeof value === "object" &&
        value !== null &&
        Object.hasOwn(value, "prototype")
      )
        throw new SyntaxError("Object contains forbidden prototype property");
      if (typeof value === "number" && !Number.isSafeInteger(value) && context?.source !== undefined) {
        const exact = exactInteger(context.source);
        if (exact !== null) return exact;
      }
      return value;
    },
  );
}
