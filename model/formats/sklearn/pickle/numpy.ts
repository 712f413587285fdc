/**
 * numpy's pickled pieces, read as data: dtypes (numpy's `arraydescr_reduce` / `arraydescr_setstate`:
 * `dtype(typestr, False, True)` then BUILD with `(3, endian, subarray, names, fields, elsize,
 * alignment, flags[, metadata])`), arrays (`_reconstruct` + BUILD `(version, shape, dtype,
 * is_fortran, rawdata)`, protocol 5's `_frombuffer(buffer, dtype, shape, order)`, joblib's raw bytes)
 * and scalars (`scalar(dtype, bytes)`). Only plain numeric, bool, string, object and structured
 * dtypes are understood; datetimes, complex, half floats and sub-arrays are refused by name.
 */
import { ModelError } from "../../../errors.js";
import { latin1, NdArray, PyBytes, PyDict, PyTuple, type PyValue } from "./values.js";

export type DtypeKind = "f" | "i" | "u" | "b" | "O" | "U" | "S" | "V";

export interface DtypeField {
  readonly name: string;
  readonly dtype: Dtype;
  readonly offset: number;
}

function unsupported(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_UNSUPPORTED", message);
}

function invalid(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_INVALID", message);
}

const ITEMSIZES: Record<string, readonly number[]> = {
  f: [4, 8],
  i: [1, 2, 4, 8],
  u: [1, 2, 4, 8],
  b: [1],
  O: [4, 8],
};

export class Dtype {
  byteorder: "<" | ">" | "|" = "<";
  fields: DtypeField[] | null = null;
  built = false;

  constructor(
    readonly kind: DtypeKind,
    public itemsize: number,
  ) {}

  /** numpy's own spelling, for messages: "<f8", "|u1", "<U10", "|V56". */
  get str(): string {
    const order = this.kind === "O" ? "|" : this.byteorder;
    return `${order}${this.kind}${this.kind === "U" ? this.itemsize / 4 : this.itemsize}`;
  }

  get littleEndian(): boolean {
    return this.byteorder !== ">";
  }

  field(name: string): DtypeField | undefined {
    return this.fields?.find((f) => f.name === name);
  }

  /** `numpy.dtype(typestr, align, copy)` as pickled: the typestr names the kind and size. */
  static fromTypestr(typestr: PyValue, where: string): Dtype {
    if (typeof typestr !== "string")
      invalid(`${where}: numpy.dtype is given ${typeof typestr}, not a type string`);
    const m = /^([a-zA-Z])(\d+)$/.exec(typestr);
    if (!m) unsupported(`${where}: numpy dtype "${typestr.slice(0, 20)}" is not one forestd reads`);
    const kind = m[1];
    const n = Number(m[2]);
    if (kind === "U" || kind === "S" || kind === "V") {
      if (n > 1 << 20) unsupported(`${where}: numpy dtype ${kind}${n} is too wide`);
      return new Dtype(kind, kind === "U" ? n * 4 : n);
    }
    if (!(kind in ITEMSIZES) || !ITEMSIZES[kind].includes(n))
      unsupported(
        `${where}: numpy dtype "${typestr}" (datetime, complex, half float or other) is not one forestd reads`,
      );
    const dtype = new Dtype(kind as DtypeKind, n);
    if (n === 1 || kind === "O") dtype.byteorder = "|";
    return dtype;
  }

  /** BUILD on a dtype: `(3 | 4, endian, subarray, names, fields, elsize, alignment, flags[, metadata])`. */
  setState(state: PyValue, where: string): void {
    if (this.built) invalid(`${where}: a numpy dtype is given its state twice`);
    if (!(state instanceof PyTuple) || state.items.length < 8)
      invalid(`${where}: a numpy dtype's state is not the 8- or 9-tuple numpy writes`);
    const [version, endian, subarray, names, fields, elsize] = state.items;
    if (version !== 3 && version !== 4)
      unsupported(`${where}: numpy dtype pickle version ${String(version)} (numpy < 1.7?) is not read`);
    if (endian !== "<" && endian !== ">" && endian !== "|" && endian !== "=")
      invalid(`${where}: numpy dtype byte order ${String(endian)}`);
    if (subarray !== null) unsupported(`${where}: numpy sub-array dtypes are not read`);
    if (this.kind !== "O") this.byteorder = endian === "=" ? "<" : endian;
    if (this.kind === "U" || this.kind === "S" || this.kind === "V") {
      if (typeof elsize !== "number" || !Number.isInteger(elsize) || elsize < 0 || elsize > 1 << 20)
        invalid(`${where}: numpy dtype size ${String(elsize)}`);
      this.itemsize = elsize;
    }
    if (names !== null || fields !== null) {
      if (this.kind !== "V") invalid(`${where}: a ${this.kind} dtype with fields`);
      this.fields = readFields(names, fields, this.itemsize, where);
    }
    this.built = true;
  }
}

function readFields(names: PyValue, fields: PyValue, itemsize: number, where: string): DtypeField[] {
  if (!(names instanceof PyTuple) || !(fields instanceof PyDict))
    invalid(`${where}: a structured dtype's names and fields are not a tuple and a dict`);
  const out: DtypeField[] = [];
  for (const name of names.items) {
    if (typeof name !== "string")
      invalid(`${where}: a structured dtype has a field name that is not a string`);
    const entry = fields.map.get(name);
    if (!(entry instanceof PyTuple) || entry.items.length < 2)
      invalid(`${where}: structured dtype field "${name}" has no (dtype, offset)`);
    const [dtype, offset] = entry.items;
    if (!(dtype instanceof Dtype) || dtype.fields !== null || dtype.kind === "O" || dtype.kind === "V")
      unsupported(`${where}: structured dtype field "${name}" is not a plain number`);
    if (
      typeof offset !== "number" ||
      !Number.isInteger(offset) ||
      offset < 0 ||
      offset + dtype.itemsize > itemsize
    )
      invalid(
        `${where}: structured dtype field "${name}" at offset ${String(offset)} does not fit in ${itemsize} bytes`,
      );
    out.push({ name, dtype, offset });
  }
  return out;
}

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
  const out = new Float64Array(n);
  const data = array.data;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stride = array.dtype.itemsize;
  const at = cOrderIndex(array.shape, array.fortran);
  for (let i = 0; i < n; i++) {
    const v = readScalar(view, at(i) * stride + offset, dtype);
    out[i] = typeof v === "boolean" ? (v ? 1 : 0) : Number(v);
  }
  return out;
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
