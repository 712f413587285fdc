/**
 * What a pickle is read into: inert data. Nothing here is callable; a class or function the pickle
 * names is a `PyGlobal` (a name that passed the allow-list), and an object "constructed" from it is
 * a `PyObject` holding the arguments and state the pickle gave, for the estimator readers to check
 * and interpret. Python dicts become `PyDict` over a `Map`, so a `__proto__` or `constructor` key
 * is a key like any other.
 */
import type { Dtype } from "./numpy.js";

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
