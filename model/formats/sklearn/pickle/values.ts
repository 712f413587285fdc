/**
 * What a pickle is read into: inert data. Nothing here is callable; a class or function the pickle
 * names is a `PyGlobal` (a name that passed the allow-list), and an object "constructed" from it is
 * a `PyObject` holding the arguments and state the pickle gave, for the estimator readers to check
 * and interpret. Python dicts become `PyDict` over a `Map`, so a `__proto__` or `constructor` key
 * is a key like any other.
 */
import { invalidModel as invalid, unsupportedModel as unsupported } from "../../../errors.js";

/**
 * Bytes as ISO-8859-1 text (byte n = U+00nn). Not TextDecoder("latin1"): the Encoding standard maps
 * that label to windows-1252, which turns 0x80–0x9f into other characters.
 */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** A dict key: Python's hashable scalars (tuples and other keys are refused by the reader). */
export type PyKey = string | number | bigint | boolean | null;

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyBytes
  | PyTuple
  | PyList
  | PyDict
  | PySet
  | PyGlobal
  | PyObject
  | NdArray
  | Dtype;

/** bytes or bytearray. */
export class PyBytes {
  constructor(
    readonly data: Uint8Array,
    readonly mutable: boolean,
  ) {}
}

export class PyTuple {
  constructor(
    readonly items: readonly PyValue[],
    readonly depth: number,
  ) {}
}

export class PyList {
  constructor(
    readonly items: PyValue[],
    public depth: number,
  ) {}
}

export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  constructor(public depth: number) {}
}

export class PySet {
  constructor(
    readonly items: PyValue[],
    readonly frozen: boolean,
    public depth: number,
  ) {}
}

/** A name a pickle refers to (GLOBAL / STACK_GLOBAL / INST) that is on the allow-list. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * An instance of an allow-listed class: the class's name, the arguments it was "called" with
 * (REDUCE / NEWOBJ / INST / OBJ) and the state BUILD gave it. Never anything more.
 */
export class PyObject {
  state: PyValue = null;
  built = false;
  constructor(
    readonly cls: PyGlobal,
    readonly args: readonly PyValue[],
  ) {}
}

/** A numpy array: dtype, shape, and either its raw bytes (as stored, any byte order) or its objects. */
export class NdArray {
  constructor(
    public dtype: Dtype,
    public shape: number[],
    public fortran: boolean,
    public data: Uint8Array | null,
    public objects: PyValue[] | null,
    /** Set once BUILD (or a joblib wrapper, or _frombuffer) gave the array its contents. */
    public filled: boolean,
  ) {}

  get size(): number {
    let n = 1;
    for (const d of this.shape) n *= d;
    return n;
  }
}

/* numpy dtypes as pickled (numpy's arraydescr_reduce / arraydescr_setstate) */

export type DtypeKind = "f" | "i" | "u" | "b" | "O" | "U" | "S" | "V";

export interface DtypeField {
  readonly name: string;
  readonly dtype: Dtype;
  readonly offset: number;
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

/** How a value is named in an error message. */
export function pyTypeName(v: PyValue): string {
  if (v === null) return "None";
  switch (typeof v) {
    case "boolean":
      return "bool";
    case "number":
    case "bigint":
      return "a number";
    case "string":
      return "str";
  }
  if (v instanceof PyBytes) return v.mutable ? "bytearray" : "bytes";
  if (v instanceof PyTuple) return "tuple";
  if (v instanceof PyList) return "list";
  if (v instanceof PyDict) return "dict";
  if (v instanceof PySet) return v.frozen ? "frozenset" : "set";
  if (v instanceof PyGlobal) return v.qualified;
  if (v instanceof PyObject) return `a ${v.cls.qualified} object`;
  if (v instanceof NdArray) return `a numpy array (${v.dtype.str}, shape [${v.shape.join(", ")}])`;
  return "a numpy dtype";
}

/** The nesting depth a container gets when it holds `v`. */
export function depthOf(v: PyValue): number {
  if (v instanceof PyTuple || v instanceof PyList || v instanceof PyDict || v instanceof PySet)
    return v.depth;
  return 0;
}
