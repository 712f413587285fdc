/**
 * numpy's pickled pieces, read as data: dtypes (numpy's `arraydescr_reduce` / `arraydescr_setstate`:
 * `dtype(typestr, False, True)` then BUILD with `(3, endian, subarray, names, fields, elsize,
 * alignment, flags[, metadata])`), arrays (`_reconstruct` + BUILD `(version, shape, dtype,
 * is_fortran, rawdata)`, protocol 5's `_frombuffer(buffer, dtype, shape, order)`, joblib's raw bytes)
 * and scalars (`scalar(dtype, bytes)`). Only plain numeric, bool, string, object and structured
 * dtypes are understood; datetimes, complex, half floats and sub-arrays are refused by name.
 */
import { invalidModel as invalid, ModelError, unsupportedModel as unsupported } from "../../../errors.js";
import { Dtype, latin1, NdArray, PyBytes, type PyValue } from "./values.js";

export { Dtype };

/** Elements in a shape, refusing absurd ones before anything is allocated. */
export function shapeSize(shape: readonly PyValue[], where: string, maxElements: number): number[] {
  const dims: number[] = [];
  let n = 1;
  for (const d of shape) {
    const v = typeof d === "bigint" ? Number(d) : d;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
      invalid(`${where}: array dimension ${String(d)} is not a non-negative integer`);
    n *= v;
    if (n > maxElements)
      throw new ModelError(
        "FORESTD_ERR_MODEL_TOO_LARGE",
        `${where}: an array of shape (${shape.map(String).join(", ")}) has more than ${maxElements} elements`,
      );
    dims.push(v);
  }
  if (dims.length > 32) invalid(`${where}: an array with ${dims.length} dimensions`);
  return dims;
}

/** Checks that a filled numeric array's byte length is what its dtype and shape say. */
export function checkDataLength(array: NdArray, length: number, where: string): void {
  const want = array.size * array.dtype.itemsize;
  if (length !== want)
    invalid(
      `${where}: array data is ${length} bytes; dtype ${array.dtype.str} and shape (${array.shape.join(", ")}) need ${want}`,
    );
}

/** Reads one element (a number; 64-bit integers exactly when they fit in 2^53, else as BigInt). */
function readScalar(view: DataView, at: number, dtype: Dtype): number | bigint | boolean {
  const le = dtype.littleEndian;
  switch (dtype.kind) {
    case "f":
      return dtype.itemsize === 8 ? view.getFloat64(at, le) : view.getFloat32(at, le);
    case "b":
      return view.getUint8(at) !== 0;
    case "i":
    case "u": {
      const signed = dtype.kind === "i";
      switch (dtype.itemsize) {
        case 1:
          return signed ? view.getInt8(at) : view.getUint8(at);
        case 2:
          return signed ? view.getInt16(at, le) : view.getUint16(at, le);
        case 4:
          return signed ? view.getInt32(at, le) : view.getUint32(at, le);
        default: {
          const big = signed ? view.getBigInt64(at, le) : view.getBigUint64(at, le);
          return big >= -(2n ** 53n) && big <= 2n ** 53n ? Number(big) : big;
        }
      }
    }
    default:
      invalid(`a ${dtype.str} element read as a number`);
  }
}

/** numpy's `scalar(dtype, bytes)`: the one element the bytes hold. */
export function scalarFrom(dtype: Dtype, data: PyValue, where: string): PyValue {
  if (!(data instanceof PyBytes)) {
    if (dtype.kind === "O") return data;
    invalid(`${where}: a numpy scalar's data is not bytes`);
  }
  if (data.data.length !== dtype.itemsize)
    invalid(`${where}: a ${dtype.str} scalar has ${data.data.length} bytes`);
  if (dtype.kind === "U" || dtype.kind === "S") return decodeString(data.data, 0, dtype);
  if (dtype.fields || dtype.kind === "V" || dtype.kind === "O")
    unsupported(`${where}: a numpy ${dtype.str} scalar`);
  const view = new DataView(data.data.buffer, data.data.byteOffset, data.data.byteLength);
  return readScalar(view, 0, dtype);
}

function decodeString(bytes: Uint8Array, at: number, dtype: Dtype): string {
  if (dtype.kind === "S") {
    let end = at + dtype.itemsize;
    while (end > at && bytes[end - 1] === 0) end--;
    return latin1(bytes.subarray(at, end));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // numpy strips trailing NULs only: an embedded NUL followed by text is kept
  let end = dtype.itemsize;
  while (end > 0 && view.getUint32(at + end - 4, dtype.littleEndian) === 0) end -= 4;
  let s = "";
  for (let i = 0; i < end; i += 4) {
    const cp = view.getUint32(at + i, dtype.littleEndian);
    if (cp > 0x10ffff) invalid(`a numpy unicode string holds code point ${cp}`);
    s += String.fromCodePoint(cp);
  }
  return s;
}

/** The position in the stored data of each element, in C (row-major) order. */
function cOrderIndex(shape: readonly number[], fortran: boolean): (i: number) => number {
  if (!fortran || shape.length < 2) return (i) => i;
  return (i) => {
    // i is a C-order flat index; convert to an F-order flat index
    let rest = i;
    let f = 0;
    let stride = 1;
    const idx: number[] = new Array(shape.length);
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = rest % shape[d];
      rest = Math.floor(rest / shape[d]);
    }
    for (let d = 0; d < shape.length; d++) {
      f += idx[d] * stride;
      stride *= shape[d];
    }
    return f;
  };
}

/**
 * The array's elements as float64, in C order (one field of a structured array when `field` is
 * given). 64-bit integers past 2^53 are rounded: callers range-check indices anyway.
 */
export function numbersOf(array: NdArray, what: string, field?: string): Float64Array {
  return readNumbers(array, what, field, new Float64Array(array.size));
}

/**
 * As numbersOf, into `out` (of the array's size), each element through `convert` when given: a
 * column read straight into the array that keeps it, without a float64 copy of it first (a fully
 * grown forest has millions of nodes, and every such copy is garbage the load's peak carries).
 */
export function readNumbers<T extends Float64Array | Int32Array | Uint8Array>(
  array: NdArray,
  what: string,
  field: string | undefined,
  out: T,
  convert?: (x: number) => number,
): T {
  if (!array.filled || !array.data) invalid(`${what} is not a numeric array`);
  let dtype = array.dtype;
  let offset = 0;
  if (field !== undefined) {
    const f = array.dtype.field(field);
    if (!f) invalid(`${what} has no field "${field}"`);
    dtype = f.dtype;
    offset = f.offset;
  } else if (array.dtype.fields) invalid(`${what} is a structured array, not numbers`);
  if (dtype.kind !== "f" && dtype.kind !== "i" && dtype.kind !== "u" && dtype.kind !== "b")
    invalid(`${what} holds ${dtype.str} values, not numbers`);
  const n = array.size;
  if (out.length !== n) invalid(`${what}: ${n} elements read into ${out.length}`);
  const data = array.data;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stride = array.dtype.itemsize;
  const le = dtype.littleEndian;
  const fortran = array.fortran && array.shape.length > 1;
  const at = cOrderIndex(array.shape, fortran);
  // one loop per element type: this runs over every node of every tree of a model
  const raw = reader(view, dtype, le);
  const read = convert ? (pos: number) => convert(raw(pos)) : raw;
  if (!fortran) for (let i = 0, pos = offset; i < n; i++, pos += stride) out[i] = read(pos);
  else for (let i = 0; i < n; i++) out[i] = read(at(i) * stride + offset);
  return out;
}

/** A reader of one element at a byte position, as a float64 (64-bit integers via two 32-bit halves). */
function reader(view: DataView, dtype: Dtype, le: boolean): (pos: number) => number {
  switch (dtype.kind) {
    case "f":
      return dtype.itemsize === 8 ? (p) => view.getFloat64(p, le) : (p) => view.getFloat32(p, le);
    case "b":
      return (p) => (view.getUint8(p) !== 0 ? 1 : 0);
    default: {
      const signed = dtype.kind === "i";
      switch (dtype.itemsize) {
        case 1:
          return signed ? (p) => view.getInt8(p) : (p) => view.getUint8(p);
        case 2:
          return signed ? (p) => view.getInt16(p, le) : (p) => view.getUint16(p, le);
        case 4:
          return signed ? (p) => view.getInt32(p, le) : (p) => view.getUint32(p, le);
        default: {
          const lo = le ? 0 : 4;
          const hi = le ? 4 : 0;
          return signed
            ? (p) => view.getInt32(p + hi, le) * 4294967296 + view.getUint32(p + lo, le)
            : (p) => view.getUint32(p + hi, le) * 4294967296 + view.getUint32(p + lo, le);
        }
      }
    }
  }
}

/** The array's elements as strings (U / S arrays) or as the objects an object array holds. */
export function elementsOf(array: NdArray, what: string): PyValue[] {
  if (!array.filled) invalid(`${what} has no contents`);
  const n = array.size;
  if (array.objects) {
    if (array.objects.length !== n)
      invalid(`${what} holds ${array.objects.length} objects for ${n} elements`);
    const at = cOrderIndex(array.shape, false);
    return Array.from({ length: n }, (_, i) => array.objects![at(i)]);
  }
  const dtype = array.dtype;
  if (dtype.kind === "U" || dtype.kind === "S") {
    const at = cOrderIndex(array.shape, array.fortran);
    return Array.from({ length: n }, (_, i) => decodeString(array.data!, at(i) * dtype.itemsize, dtype));
  }
  return Array.from(numbersOf(array, what));
}

export { NdArray };
