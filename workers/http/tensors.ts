/**
 * Open Inference Protocol input tensors → the rows a model scores, for the requests the fast reader
 * (fast-rows.ts) declines: every datatype the protocol defines, read exactly; one tensor of shape
 * [N, F] (or [F] for one row), or one tensor per input column, by name, in any order, each of
 * shape [N] or [N, 1] (how MLServer's and KServe's pandas codecs send a DataFrame), or one tensor
 * per model input tensor (an ONNX graph's inputs, by the input's name, [N, width] each, as
 * onnxruntime is fed); strings (BYTES) for columns with string categories.
 *
 * Exactly: an integer tensor's values are integers, converted to the model's row precision with one
 * rounding (INT64 and UINT64 beyond 2^53 arrive as BigInt from `parseInferJson`, so no digit is lost
 * to JSON.parse's float64 first); an FP16 tensor's values are float16s and an FP32 tensor's float32s,
 * whatever digits spelled them (as numpy's astype would make them); BOOL is 1 or 0; null is missing.
 */
import type { InputTensor, Model } from "../../model/index.js";
import { featureNames, vocabularies } from "../../model/rows.js";
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
 * What a tensor sent by name fills: `width` columns of each row from `first`. A column by its name
 * (one column); a model's named input tensor (an ONNX graph input: `tensor`, with its element type)
 * its whole run of columns.
 */
interface Span {
  first: number;
  width: number;
  tensor: InputTensor | null;
}

const spanCache = new WeakMap<Model, ReadonlyMap<string, Span>>();

/** Every name a tensor may have for this model: its columns' names, then its input tensors'. */
function spansOf(model: Model, columns: ReadonlyMap<string, number>): ReadonlyMap<string, Span> {
  let spans = spanCache.get(model);
  if (!spans) {
    const map = new Map<string, Span>();
    for (const [name, column] of columns) map.set(name, { first: column, width: 1, tensor: null });
    // A graph input of one column has its column's name: the tensor's span (and type) replaces it.
    let first = 0;
    for (const tensor of model.inputTensors ?? []) {
      map.set(tensor.name, { first, width: tensor.width, tensor });
      first += tensor.width;
    }
    spans = map;
    spanCache.set(model, spans);
  }
  return spans;
}

const INTEGER_DATATYPES = new Set(Object.keys(INTEGER_RANGE));

/** Why a tensor of `datatype` cannot feed a graph input of this type (onnxruntime's types), or null. */
function datatypeProblem(tensor: InputTensor, datatype: string): string | null {
  if (tensor.type === "string")
    return datatype === "BYTES" ? null : `a string graph input takes BYTES, not ${datatype}`;
  if (datatype === "BYTES") return `a ${tensor.type} graph input takes numbers, not BYTES`;
  if ((tensor.type === "int64" || tensor.type === "int32") && !INTEGER_DATATYPES.has(datatype))
    return `an ${tensor.type} graph input takes an integer datatype (INT64, INT32, ...), not ${datatype}`;
  return null;
}

/**
 * An OIP request's inputs → rows: one tensor [N, F] / [F] (the rows themselves), or tensors by name:
 * one per column, or one per model input tensor (an ONNX graph's inputs: [N, width] each, in a
 * datatype of the input's type — BYTES for strings, an integer type for int64 — as onnxruntime
 * takes them). A lone tensor is the rows unless it is named as a column or an
 * input tensor and shaped as one. `contentType` is the request's parameters.content_type: "pd"
 * says columns, "np" one tensor (MLServer's codecs).
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
  const spans = spansOf(model, columns);
  const only = inputs.length === 1 ? inputs[0] : undefined;
  const matrix =
    only !== undefined &&
    contentType !== "pd" &&
    (contentType === "np" ||
      !spans.has(only.name) ||
      (only.shape.length === 2 && only.shape[1] === nf && nf > 1));
  // Whole rows, whatever the name: any numeric datatype (string columns as their category numbers),
  // or BYTES mixing strings and numbers, as fast-rows.ts reads FP32 / FP64 ones.
  if (matrix) return readMatrix(only, nf, maxRows, model.rowPrecision, vocab);
  return readNamed(model, inputs, spans, maxRows, vocab);
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

/**
 * Tensors by name, in any order: a column's [N] or [N, 1]; a model input tensor's [N, width] ([N]
 * too when its width is 1), data flat or nested one level. A column no tensor fills is missing (NaN).
 */
function readNamed(
  model: Model,
  inputs: InferRequest["inputs"],
  spans: ReadonlyMap<string, Span>,
  maxRows: number,
  vocab: Vocabularies,
): TensorRows {
  const nf = model.numFeature;
  const rowType = model.rowPrecision;
  let rows = -1;
  const filled = new Uint8Array(nf);
  const named = (k: number) => `inputs[${k}] ("${inputs[k].name.slice(0, 80)}")`;
  const placed = inputs.map((input, k) => {
    const span = spans.get(input.name);
    if (span === undefined)
      throw new InvalidInputError(
        `${named(k)} is not one of the model's inputs (${knownNames(model, spans)}); send ${howToSend(model, nf)}`,
      );
    const refused = span.tensor ? datatypeProblem(span.tensor, input.datatype) : null;
    if (refused) throw new InvalidInputError(`${named(k)}: ${refused}`);
    if (inputs.findIndex((other) => other.name === input.name) < k)
      throw new InvalidInputError(`${named(k)} is named twice`);
    for (let c = span.first; c < span.first + span.width; c++) {
      if (filled[c] === 1)
        throw new InvalidInputError(
          `${named(k)} fills column ${c} (${featureNames(model)[c].slice(0, 80)}), which an input before it fills too`,
        );
      filled[c] = 1;
    }
    const shape = input.shape;
    const fits =
      span.width === 1
        ? shape.length === 1 || (shape.length === 2 && shape[1] === 1)
        : shape.length === 2 && shape[1] === span.width;
    if (!fits)
      throw new InvalidInputError(
        `${named(k)} has shape [${shape.join(", ")}]; ${span.tensor ? `the graph input is [N, ${span.width}]` : "a column is [N] or [N, 1]"}`,
      );
    if (rows === -1) rows = shape[0];
    else if (shape[0] !== rows)
      throw new InvalidInputError(`${named(k)} has ${shape[0]} rows; the inputs before it have ${rows}`);
    return span;
  });
  if (rows <= 0) throw new InvalidInputError("the inputs have no rows");
  if (rows > maxRows) throw new TooManyRowsError(String(rows), String(maxRows));
  const values = numbers(rowType, rows * nf);
  values.fill(Number.NaN);
  for (const [k, input] of inputs.entries()) {
    const { first, width } = placed[k];
    const where: Where = { input: `inputs[${k}]`, name: input.name };
    // Flat (rows × width values), or nested one level: a row's `width` values per item.
    let at = 0;
    const total = rows * width;
    const take = (v: unknown, index: string) => {
      if (at >= total)
        throw new InvalidInputError(`${named(k)} has more data than its shape [${input.shape.join(", ")}]`);
      const column = first + (at % width);
      values[Math.floor(at / width) * nf + column] = element(
        input.datatype,
        v,
        rowType,
        vocab[column],
        where,
        index,
      );
      at++;
    };
    for (let i = 0; i < input.data.length; i++) {
      const item = input.data[i];
      if (Array.isArray(item)) {
        if (item.length !== width || item.some((v) => Array.isArray(v)))
          throw new InvalidInputError(
            `${named(k)} data[${i}]: a row of this input holds ${width} value${width === 1 ? "" : "s"}`,
          );
        for (let j = 0; j < width; j++) take(item[j], `[${i}][${j}]`);
      } else take(item, `[${i}]`);
    }
    if (at !== total)
      throw new InvalidInputError(
        `${named(k)} has ${at} values; shape [${input.shape.join(", ")}] needs ${total}`,
      );
  }
  return { values, rows };
}

/** The names a tensor may have, for a message: the model's input tensors when it has several, else its columns. */
function knownNames(model: Model, spans: ReadonlyMap<string, Span>): string {
  const tensors = model.inputTensors;
  const names = tensors && tensors.length > 1 ? tensors.map((t) => t.name) : [...spans.keys()];
  return `${names.slice(0, 20).join(", ")}${names.length > 20 ? ", ..." : ""}`;
}

/** How to send rows to this model, for a message. */
function howToSend(model: Model, nf: number): string {
  const tensors = model.inputTensors;
  if (tensors && tensors.length > 1)
    return `one tensor per graph input by name (${tensors
      .map((t) => `${t.name} [N, ${t.width}]`)
      .slice(0, 8)
      .join(", ")}), or one tensor of shape [N, ${nf}]`;
  return `one tensor per column by name, or one tensor of shape [N, ${nf}]`;
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
