/**
 * Raw tensors: the binary data extension of the Open Inference Protocol's REST API (Triton's
 * "binary_data" extension, which KServe documents too) and gRPC's raw_input_contents /
 * raw_output_contents, which carry the same bytes.
 *
 * A REST request with binary data is a JSON header of `Inference-Header-Content-Length` bytes, then
 * each input that has `parameters.binary_data_size` as that many bytes, in the order the inputs
 * are listed. Each tensor's bytes are its elements in row-major order, little-endian, of the
 * datatype's size (BOOL one byte, 0 or 1); a BYTES tensor's elements are each a 4-byte
 * little-endian length then that many bytes. Outputs are sent the same way when asked for
 * (`parameters.binary_data_output` for all, `outputs[].parameters.binary_data` for one).
 *
 * Raw bytes mean exactly what the same values sent as JSON mean: each element is its datatype's
 * value, converted to the model's row precision with one rounding (tensors.ts), so an answer is
 * the same bits whichever way the rows came. The common case — one [N, F] tensor of the model's
 * own row type (FP32 rows for a float32 model) — becomes the rows as a view of the body's bytes
 * when they are aligned for it, else one copy into the array that then moves to the scoring thread.
 */
import { endianness } from "node:os";
import type { Model } from "../../model/index.js";
import { vocabularies } from "../../model/rows.js";
import { type Numbers, numbers } from "../scoring/protocol.js";
import { DATATYPES, type Datatype } from "./datatypes.js";
import { InvalidInputError, InvalidJsonError, TooManyRowsError } from "./errors.js";
import { type InferRequest, isPlainObject } from "./request-rows.js";
import { readInputs, type TensorRows } from "./tensors.js";

export const HEADER_LENGTH = "inference-header-content-length";
export const OCTET_STREAM = "application/octet-stream";

/** Typed arrays view memory in the machine's byte order; the wire's is little-endian. */
const LITTLE_ENDIAN = endianness() === "LE";

/** Bytes per element of each fixed-size datatype (BYTES has none: each element carries its length). */
export const ELEMENT_BYTES: Readonly<Record<Exclude<Datatype, "BYTES">, number>> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
};

/** Most elements one tensor may declare: a shape whose product is larger is refused before anything is read. */
const MAX_ELEMENTS = 2 ** 31 - 1;

export function isDatatype(v: unknown): v is Datatype {
  return DATATYPES.includes(v as Datatype);
}

function quote(name: string): string {
  return `"${String(name).slice(0, 80)}"`;
}

/** Elements in a tensor of `shape`: every dimension a non-negative integer, the product bounded. */
export function elementCount(shape: readonly unknown[], where: string): number {
  let count = 1;
  for (const [i, d] of shape.entries()) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0)
      throw new InvalidInputError(`${where} shape[${i}] is ${String(d)}: a dimension is an integer ≥ 0`);
    count *= d;
    if (count > MAX_ELEMENTS)
      throw new InvalidInputError(
        `${where} shape [${shape.join(", ")}] has more than ${MAX_ELEMENTS} elements`,
      );
  }
  return count;
}

/** An input whose values arrived as bytes (binary REST, or gRPC's raw_input_contents / typed contents). */
export interface RawInput {
  name: string;
  datatype: string;
  shape: number[];
  /** Little-endian elements; for BYTES, each a 4-byte length then its bytes. */
  bytes: Uint8Array;
}

/** The bytes of a raw input checked against its shape and datatype; throws a 400 saying what disagrees. */
export function checkRawInput(input: RawInput, where: string): { count: number } {
  if (!isDatatype(input.datatype))
    throw new InvalidInputError(
      `${where} ${quote(input.name)} has datatype "${String(input.datatype).slice(0, 40)}"; datatypes are ${DATATYPES.join(", ")}`,
    );
  const count = elementCount(input.shape, `${where} ${quote(input.name)}`);
  if (input.datatype === "BYTES") {
    let at = 0;
    let n = 0;
    const b = input.bytes;
    while (at < b.length) {
      if (at + 4 > b.length)
        throw new InvalidInputError(
          `${where} ${quote(input.name)}: BYTES element ${n} has a length prefix cut short at byte ${at}`,
        );
      const length = b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24);
      at += 4 + (length >>> 0);
      if (at > b.length)
        throw new InvalidInputError(
          `${where} ${quote(input.name)}: BYTES element ${n} of ${length >>> 0} bytes runs past the tensor's ${b.length} bytes`,
        );
      n++;
    }
    if (n !== count)
      throw new InvalidInputError(
        `${where} ${quote(input.name)} holds ${n} BYTES elements; shape [${input.shape.join(", ")}] needs ${count}`,
      );
    return { count };
  }
  const expected = count * ELEMENT_BYTES[input.datatype];
  if (input.bytes.length !== expected)
    throw new InvalidInputError(
      `${where} ${quote(input.name)} has ${input.bytes.length} bytes; shape [${input.shape.join(", ")}] of ${input.datatype} is ${expected}`,
    );
  return { count };
}

/** A float16's value from its bits. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * A raw input's elements as the values a JSON tensor would hold: numbers (INT64 and UINT64 as
 * BigInt, so no digit is lost), booleans, strings; NaN (a float's "missing") as null, as JSON
 * spells it. tensors.ts then reads them exactly as it reads JSON's, with the same checks.
 */
export function rawElements(input: RawInput, where: string): unknown[] {
  const { count } = checkRawInput(input, where);
  const b = input.bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Array<unknown>(count);
  const float = (v: number) => (Number.isNaN(v) ? null : v);
  switch (input.datatype as Datatype) {
    case "BOOL":
      for (let i = 0; i < count; i++) {
        if (b[i] > 1)
          throw new InvalidInputError(
            `${where} ${quote(input.name)} element ${i}: a BOOL byte is 0 or 1, got ${b[i]}`,
          );
        out[i] = b[i] === 1;
      }
      break;
    case "UINT8":
      for (let i = 0; i < count; i++) out[i] = b[i];
      break;
    case "INT8":
      for (let i = 0; i < count; i++) out[i] = view.getInt8(i);
      break;
    case "UINT16":
      for (let i = 0; i < count; i++) out[i] = view.getUint16(2 * i, true);
      break;
    case "INT16":
      for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, true);
      break;
    case "UINT32":
      for (let i = 0; i < count; i++) out[i] = view.getUint32(4 * i, true);
      break;
    case "INT32":
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
      break;
    case "UINT64":
      for (let i = 0; i < count; i++) out[i] = view.getBigUint64(8 * i, true);
      break;
    case "INT64":
      for (let i = 0; i < count; i++) out[i] = view.getBigInt64(8 * i, true);
      break;
    case "FP16":
      for (let i = 0; i < count; i++) out[i] = float(halfToNumber(view.getUint16(2 * i, true)));
      break;
    case "FP32":
      for (let i = 0; i < count; i++) out[i] = float(view.getFloat32(4 * i, true));
      break;
    case "FP64":
      for (let i = 0; i < count; i++) out[i] = float(view.getFloat64(8 * i, true));
      break;
    case "BYTES": {
      let at = 0;
      for (let i = 0; i < count; i++) {
        const length = view.getUint32(at, true);
        out[i] = Buffer.from(b.buffer, b.byteOffset + at + 4, length).toString("utf8");
        at += 4 + length;
      }
      break;
    }
  }
  return out;
}

/** The typed array that views (or, unaligned, copies) a float tensor's little-endian bytes. */
function floatView(type: "FP32" | "FP64", bytes: Uint8Array, count: number): Float32Array | Float64Array {
  const size = type === "FP32" ? 4 : 8;
  if (LITTLE_ENDIAN && (bytes.byteOffset % size === 0 || count === 0)) {
    return type === "FP32"
      ? new Float32Array(bytes.buffer, bytes.byteOffset, count)
      : new Float64Array(bytes.buffer, bytes.byteOffset, count);
  }
  const copy = type === "FP32" ? new Float32Array(count) : new Float64Array(count);
  if (LITTLE_ENDIAN) new Uint8Array(copy.buffer).set(bytes.subarray(0, count * size));
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++)
      copy[i] = type === "FP32" ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true);
  }
  return copy;
}

/**
 * ±Infinity anywhere: refused as JSON refuses it (NaN is missing, as null is). By the typed
 * array's own indexOf, a builtin as fast on the first request as on the thousandth: a loop here
 * runs once per request, too rarely at 10 000 rows to be optimised early, and took ~0.14 ms of the
 * event loop for 30 000 values (perf, one pinned worker) against ~0.03 ms for the two scans.
 */
function checkFinite(values: Numbers, input: RawInput, where: string): void {
  const up = values.indexOf(Number.POSITIVE_INFINITY);
  const down = values.indexOf(Number.NEGATIVE_INFINITY);
  const at = up < 0 ? down : down < 0 ? up : Math.min(up, down);
  if (at >= 0)
    throw new InvalidInputError(`${where} ${quote(input.name)} element ${at}: ${values[at]} is out of range`);
}

/**
 * Inputs, some or all raw, → the rows a model scores. One raw [N, F] FP32 or FP64 tensor (the
 * rows themselves, features by position) is read without building an element per value: a view
 * of its bytes when the model's rows are that type and the bytes are aligned, else one typed copy
 * (which rounds FP64 to float32 once, as the JSON path's store does). Anything else goes through
 * tensors.ts with each raw input's elements, so it means exactly what the JSON would.
 */
export function readRawInputs(
  model: Model,
  columns: ReadonlyMap<string, number>,
  inputs: readonly (RawInput | InferRequest["inputs"][number])[],
  maxRows: number,
  contentType?: unknown,
  where = "input",
): TensorRows {
  const only = inputs.length === 1 ? inputs[0] : undefined;
  const nf = model.numFeature;
  if (
    only !== undefined &&
    "bytes" in only &&
    (only.datatype === "FP32" || only.datatype === "FP64") &&
    only.shape.length === 2 &&
    only.shape[1] === nf &&
    contentType !== "pd" &&
    !vocabularies(model).some((v) => v !== null)
  ) {
    const { count } = checkRawInput(only, where);
    const rows = only.shape[0];
    if (rows === 0) throw new InvalidInputError(`${where} ${quote(only.name)} has no rows`);
    if (rows > maxRows) throw new TooManyRowsError(String(rows), String(maxRows));
    const view = floatView(only.datatype, only.bytes, count);
    let values: Numbers;
    if ((model.rowPrecision === "f64") === view instanceof Float64Array) values = view;
    else {
      values = numbers(model.rowPrecision, count);
      values.set(view);
    }
    checkFinite(values, only, where);
    return { values, rows };
  }
  const json = inputs.map((input, k) =>
    "bytes" in input
      ? {
          name: input.name,
          datatype: input.datatype,
          shape: input.shape,
          data: rawElements(input, `${where}s[${k}]`),
        }
      : input,
  );
  return readInputs(model, columns, json, maxRows, contentType);
}

/** An output tensor's values, as a typed array where the datatype has one. */
export type TensorData = Numbers | Int32Array | readonly (number | string | bigint)[];

/** One output tensor as little-endian bytes of its datatype (BYTES: each a 4-byte length, then UTF-8). */
export function tensorBytes(datatype: string, data: TensorData): Buffer {
  const typed = (a: Numbers | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (datatype === "BYTES") {
    const parts = (data as readonly unknown[]).map((v) => Buffer.from(String(v), "utf8"));
    const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.writeUInt32LE(p.length, at);
      p.copy(out, at + 4);
      at += 4 + p.length;
    }
    return out;
  }
  if (!LITTLE_ENDIAN) return bigEndianHostBytes(datatype, data);
  switch (datatype) {
    case "FP32":
      return typed(data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>));
    case "FP64":
      return typed(data instanceof Float64Array ? data : Float64Array.from(data as ArrayLike<number>));
    case "INT32":
      return typed(data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>));
    case "INT64": {
      const out = new BigInt64Array(data.length);
      for (let i = 0; i < data.length; i++) out[i] = BigInt(data[i] as number | bigint);
      return Buffer.from(out.buffer);
    }
    default:
      throw new Error(`tensorBytes: no encoding for output datatype ${datatype}`);
  }
}

function bigEndianHostBytes(datatype: string, data: TensorData): Buffer {
  const size = datatype === "FP64" || datatype === "INT64" ? 8 : 4;
  const out = Buffer.alloc(data.length * size);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (datatype === "FP32") out.writeFloatLE(Number(v), 4 * i);
    else if (datatype === "FP64") out.writeDoubleLE(Number(v), 8 * i);
    else if (datatype === "INT32") out.writeInt32LE(Number(v), 4 * i);
    else out.writeBigInt64LE(BigInt(v as number | bigint), 8 * i);
  }
  return out;
}

/**
 * A REST infer request with binary data: its JSON header (inputs with binary data have no `data`),
 * each input's raw bytes (null for those sent as JSON), and which outputs are wanted as bytes.
 */
export class BinaryInferRequest {
  readonly id?: string;
  readonly parameters?: Record<string, unknown>;
  readonly inputs: InferRequest["inputs"];
  readonly outputs?: { name: string; parameters?: Record<string, unknown> }[];
  constructor(
    header: InferRequest,
    /** Per input, its bytes when it has binary_data_size. */
    readonly raw: readonly (Uint8Array | null)[],
  ) {
    if (header.id !== undefined) this.id = header.id;
    if (header.parameters !== undefined) this.parameters = header.parameters;
    // `data: []` for inputs sent as bytes, so the route's schema sees a well-formed request.
    this.inputs = header.inputs.map((input, k) => (raw[k] ? { ...input, data: [] } : input));
    if (header.outputs !== undefined) this.outputs = header.outputs;
  }

  /** The inputs, raw where they were sent as bytes. */
  rawInputs(): (RawInput | InferRequest["inputs"][number])[] {
    return this.inputs.map((input, k) => {
      const bytes = this.raw[k];
      return bytes ? { name: input.name, datatype: input.datatype, shape: input.shape, bytes } : input;
    });
  }
}

/** Whether the request asks for output `name` as bytes (binary_data_output, or the output's own binary_data). */
export function wantsBinary(request: Pick<InferRequest, "parameters" | "outputs">, name: string): boolean {
  const own = request.outputs?.find((o) => o.name === name) as
    | { parameters?: Record<string, unknown> }
    | undefined;
  const flag = own?.parameters?.binary_data;
  if (flag !== undefined) return flag === true;
  return request.parameters?.binary_data_output === true;
}

/**
 * A binary-data body: `Inference-Header-Content-Length` bytes of JSON, then the inputs' bytes.
 * Everything about the framing is checked here (the header's length, each binary_data_size, that
 * the sizes add up to the body); a tensor's bytes against its shape and datatype when it is read.
 */
export function parseBinaryBody(
  body: Buffer,
  headerLength: string | string[] | undefined,
  parseJson: (text: string) => unknown,
): BinaryInferRequest {
  if (typeof headerLength !== "string" || !/^\s*\d{1,15}\s*$/.test(headerLength))
    throw new InvalidInputError(
      `a binary request needs one ${HEADER_LENGTH} header: the JSON header's length in bytes (got ${JSON.stringify(headerLength)?.slice(0, 40)})`,
    );
  const length = Number(headerLength);
  if (length > body.length)
    throw new InvalidInputError(
      `${HEADER_LENGTH} is ${length} bytes, past the end of the ${body.length}-byte body`,
    );
  let header: unknown;
  try {
    header = parseJson(body.subarray(0, length).toString("utf8"));
  } catch (error) {
    throw new InvalidJsonError(`the ${length}-byte inference header: ${(error as Error).message}`);
  }
  if (!isPlainObject(header) || !Array.isArray(header.inputs))
    throw new InvalidInputError('the inference header must be a JSON object with "inputs"');
  const raw: (Uint8Array | null)[] = [];
  let at = length;
  for (const [k, input] of (header.inputs as unknown[]).entries()) {
    const size =
      isPlainObject(input) && isPlainObject(input.parameters) ? input.parameters.binary_data_size : undefined;
    if (size === undefined) {
      raw.push(null);
      continue;
    }
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)
      throw new InvalidInputError(`inputs[${k}].parameters.binary_data_size must be an integer ≥ 0`);
    if (isPlainObject(input) && input.data !== undefined)
      throw new InvalidInputError(`inputs[${k}] has both data and parameters.binary_data_size`);
    if (at + size > body.length)
      throw new InvalidInputError(
        `inputs[${k}].parameters.binary_data_size ${size} runs past the body: ${body.length - at} bytes are left after byte ${at}`,
      );
    raw.push(body.subarray(at, at + size));
    at += size;
  }
  if (at !== body.length)
    throw new InvalidInputError(
      `the body has ${body.length - at} bytes after the header and the inputs' binary_data_size`,
    );
  return new BinaryInferRequest(header as InferRequest, raw);
}
