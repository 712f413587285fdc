/**
 * The pickle protocol (0–5) read as data: CPython's `Lib/pickle.py` `_Unpickler`, opcode for
 * opcode, except that nothing is ever imported or called. GLOBAL / STACK_GLOBAL / INST names are
 * checked against the allow-list (allow-list.ts) the moment the pickle names them; REDUCE, NEWOBJ,
 * NEWOBJ_EX, INST, OBJ and BUILD only ever build inert values from that fixed table. Persistent
 * ids, the extension registry and out-of-band buffers are refused. Every size is checked before
 * it is allocated: strings and arrays against the bytes left, the stack, marks, memo and nesting
 * against limits, and all allocation against a budget. Each refusal is a ModelError naming the
 * opcode and its byte offset.
 *
 * joblib's container (numpy_pickle.py) is the same stream with each numpy array's raw bytes placed
 * right after the BUILD of its `NumpyArrayWrapper` (after a padding byte and padding when the
 * wrapper has `numpy_array_alignment_bytes`, joblib >= 1.2); an object array's bytes are a nested
 * pickle, read here by a fresh machine on the same bytes (protocol 2 up to joblib 1.4, 5 after).
 */
import { ModelError, type ModelErrorCode } from "../../../errors.js";
import { canonicalModule, lookupGlobal } from "./allow-list.js";
import { checkDataLength, Dtype, scalarFrom, shapeSize } from "./numpy.js";
import { OP, opName } from "./opcodes.js";
import {
  depthOf,
  latin1,
  NdArray,
  PyBytes,
  PyDict,
  PyGlobal,
  type PyKey,
  PyList,
  PyObject,
  PySet,
  PyTuple,
  type PyValue,
  pyTypeName,
} from "./values.js";

export interface PickleLimits {
  /** Values on the stack at once (sklearn pickles need tens). */
  readonly maxStack: number;
  /** MARKs open at once. */
  readonly maxMarks: number;
  /** Memo entries. */
  readonly maxMemo: number;
  /** Containers inside containers. */
  readonly maxDepth: number;
  /** Elements of one array. */
  readonly maxArrayElements: number;
  /** Bytes the reader may allocate in all (strings, bytes, containers, arrays). */
  readonly maxAllocation: number;
  /** Digits of a text-encoded integer, bytes of a binary one (Python's own limit is 4300 digits). */
  readonly maxIntDigits: number;
}

export const DEFAULT_PICKLE_LIMITS: PickleLimits = {
  maxStack: 1 << 16,
  maxMarks: 1 << 12,
  maxMemo: 1 << 22,
  maxDepth: 200,
  maxArrayElements: 2 ** 31,
  maxAllocation: 2 ** 32,
  maxIntDigits: 4300,
};

export interface UnpickleOptions {
  /** joblib's container: numpy arrays' bytes follow their NumpyArrayWrapper. */
  readonly joblib: boolean;
  readonly limits?: Partial<PickleLimits>;
}

export interface UnpickleResult {
  readonly value: PyValue;
  /** Where the pickle's STOP left off. */
  readonly end: number;
  /** The highest protocol the stream declared (0 when it had no PROTO). */
  readonly protocol: number;
  /** Arrays read from joblib's wrappers (0: a plain pickle). */
  readonly joblibArrays: number;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Shared between a joblib file's outer pickle and the nested pickles of its object arrays. */
interface Budget {
  allocated: number;
}

export function unpickle(bytes: Uint8Array, options: UnpickleOptions, start = 0): UnpickleResult {
  const limits = { ...DEFAULT_PICKLE_LIMITS, ...options.limits };
  return new Machine(bytes, start, limits, options.joblib, false, { allocated: 0 }).run();
}

class Machine {
  private pos: number;
  private opStart = 0;
  private op = 0;
  private frameEnd = -1;
  private protocol = 0;
  private readonly stack: PyValue[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly view: DataView;
  private joblibArrays = 0;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly limits: PickleLimits,
    private readonly joblib: boolean,
    private readonly nested: boolean,
    private readonly budget: Budget,
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  // ---- errors -----------------------------------------------------------------------------

  private where(): string {
    return `${opName(this.op)} at byte ${this.opStart}${this.nested ? " (in an object array's nested pickle)" : ""}`;
  }

  private fail(code: ModelErrorCode, message: string): never {
    throw new ModelError(code, `pickle ${this.where()}: ${message}`);
  }

  private syntax(message: string): never {
    this.fail("FORESTD_ERR_MODEL_SYNTAX", message);
  }

  private invalid(message: string): never {
    this.fail("FORESTD_ERR_MODEL_INVALID", message);
  }

  private charge(bytes: number): void {
    this.budget.allocated += bytes;
    if (this.budget.allocated > this.limits.maxAllocation)
      this.fail(
        "FORESTD_ERR_MODEL_TOO_LARGE",
        `reading the file would allocate more than ${this.limits.maxAllocation} bytes`,
      );
  }

  // ---- reading bytes ------------------------------------------------------------------------

  private take(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) this.syntax(`length ${n}`);
    const end = this.pos + n;
    if (end > this.bytes.length)
      this.syntax(
        `needs ${n} bytes but the file ends ${this.bytes.length - this.pos} bytes later (truncated?)`,
      );
    if (this.frameEnd >= 0 && this.pos < this.frameEnd && end > this.frameEnd)
      this.syntax("an opcode runs past the end of its frame");
    const out = this.bytes.subarray(this.pos, end);
    this.pos = end;
    if (this.pos === this.frameEnd) this.frameEnd = -1;
    return out;
  }

  private u8(): number {
    return this.take(1)[0];
  }

  private u16(): number {
    const b = this.take(2);
    return b[0] | (b[1] << 8);
  }

  private u32(): number {
    const b = this.take(4);
    return (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 2 ** 24;
  }

  private i32(): number {
    const b = this.take(4);
    return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
  }

  private u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    if (hi >= 2 ** 21) this.syntax(`length ${hi} * 2^32 + ${lo}`);
    return hi * 2 ** 32 + lo;
  }

  /** A text argument up to "\n" (protocol 0's opcodes), at most `max` bytes. */
  private line(max = 1 << 16): string {
    const limit = Math.min(this.bytes.length, this.pos + max + 1);
    let end = this.pos;
    while (end < limit && this.bytes[end] !== 0x0a) end++;
    if (end >= limit) this.syntax("a text argument has no end of line (or is too long)");
    const text = latin1(this.take(end - this.pos));
    this.take(1);
    return text;
  }

  // ---- the stack ----------------------------------------------------------------------------

  private push(v: PyValue): void {
    if (this.stack.length >= this.limits.maxStack)
      this.fail(
        "FORESTD_ERR_MODEL_TOO_LARGE",
        `the pickle stack holds more than ${this.limits.maxStack} values`,
      );
    this.stack.push(v);
  }

  private pop(): PyValue {
    const floor = this.marks.length ? this.marks[this.marks.length - 1] : 0;
    if (this.stack.length <= floor) this.syntax("the stack is empty (or only a MARK is left)");
    return this.stack.pop()!;
  }

  private top(): PyValue {
    const floor = this.marks.length ? this.marks[this.marks.length - 1] : 0;
    if (this.stack.length <= floor) this.syntax("the stack is empty");
    return this.stack[this.stack.length - 1];
  }

  private popMark(): PyValue[] {
    const mark = this.marks.pop();
    if (mark === undefined) this.syntax("no MARK to pop to");
    return this.stack.splice(mark);
  }

  private depth(items: readonly PyValue[]): number {
    let d = 0;
    for (const v of items) d = Math.max(d, depthOf(v));
    if (d + 1 > this.limits.maxDepth)
      this.fail(
        "FORESTD_ERR_MODEL_TOO_LARGE",
        `containers are nested more than ${this.limits.maxDepth} deep`,
      );
    return d + 1;
  }

  private grow(container: PyList | PyDict | PySet, child: PyValue): void {
    const d = depthOf(child) + 1;
    if (d > this.limits.maxDepth)
      this.fail(
        "FORESTD_ERR_MODEL_TOO_LARGE",
        `containers are nested more than ${this.limits.maxDepth} deep`,
      );
    if (d > container.depth) container.depth = d;
  }

  private tuple(items: PyValue[]): PyTuple {
    this.charge(8 * items.length + 16);
    return new PyTuple(items, this.depth(items));
  }

  private key(k: PyValue): PyKey {
    if (
      k === null ||
      typeof k === "string" ||
      typeof k === "number" ||
      typeof k === "bigint" ||
      typeof k === "boolean"
    )
      return k;
    this.invalid(`a dict key is ${pyTypeName(k)}; forestd reads only str and number keys`);
  }

  private setItem(dict: PyValue, k: PyValue, v: PyValue): void {
    if (!(dict instanceof PyDict)) this.invalid(`SETITEM on ${pyTypeName(dict)}, not a dict`);
    this.charge(16);
    this.grow(dict, v);
    dict.map.set(this.key(k), v);
  }

  // ---- values -------------------------------------------------------------------------------

  private int(digits: string): number | bigint {
    const text = digits.trim().replace(/L$/, "");
    if (text.length > this.limits.maxIntDigits)
      this.fail("FORESTD_ERR_MODEL_TOO_LARGE", `an integer of ${text.length} digits`);
    if (!/^[+-]?\d+$/.test(text)) this.syntax(`"${text.slice(0, 40)}" is not an integer`);
    const big = BigInt(text);
    return big >= -(2n ** 53n) && big <= 2n ** 53n ? Number(big) : big;
  }

  private binaryInt(bytes: Uint8Array): number | bigint {
    if (bytes.length === 0) return 0;
    if (bytes.length > this.limits.maxIntDigits)
      this.fail("FORESTD_ERR_MODEL_TOO_LARGE", `an integer of ${bytes.length} bytes`);
    let big = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) big = (big << 8n) | BigInt(bytes[i]);
    if (bytes[bytes.length - 1] & 0x80) big -= 1n << BigInt(8 * bytes.length);
    return big >= -(2n ** 53n) && big <= 2n ** 53n ? Number(big) : big;
  }

  private float(text: string): number {
    const t = text.trim().toLowerCase();
    if (t === "nan" || t === "+nan" || t === "-nan") return Number.NaN;
    if (t === "inf" || t === "+inf" || t === "infinity") return Number.POSITIVE_INFINITY;
    if (t === "-inf" || t === "-infinity") return Number.NEGATIVE_INFINITY;
    if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) this.syntax(`"${text.slice(0, 40)}" is not a float`);
    return Number(t);
  }

  private utf8(bytes: Uint8Array): string {
    this.charge(bytes.length * 2);
    try {
      return UTF8.decode(bytes);
    } catch {
      this.syntax("a string is not valid UTF-8");
    }
  }

  /** Python 2 str opcodes: Python 3 decodes them as ASCII (pickle.load's default encoding). */
  private ascii(bytes: Uint8Array): string {
    for (const b of bytes) if (b > 0x7f) this.syntax("a Python 2 string holds non-ASCII bytes");
    this.charge(bytes.length * 2);
    return latin1(bytes);
  }

  private bytesValue(bytes: Uint8Array, mutable: boolean): PyBytes {
    this.charge(bytes.length);
    return new PyBytes(bytes, mutable);
  }

  /** STRING's argument: a Python repr of a str, quotes included. */
  private quoted(text: string): string {
    const q = text[0];
    if (text.length < 2 || (q !== "'" && q !== '"') || text[text.length - 1] !== q)
      this.syntax("the STRING opcode argument must be quoted");
    const body = text.slice(1, -1);
    let out = "";
    for (let i = 0; i < body.length; i++) {
      const c = body[i];
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = body[++i];
      const simple: Record<string, string> = {
        "\\": "\\",
        "'": "'",
        '"': '"',
        n: "\n",
        t: "\t",
        r: "\r",
        "0": "\0",
      };
      if (e === "x" && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 1, i + 3))) {
        out += String.fromCharCode(Number.parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (e !== undefined && e in simple) out += simple[e];
      else this.syntax(`the STRING opcode has an escape "\\${e ?? ""}" forestd does not read`);
    }
    return this.ascii(Uint8Array.from(out, (c) => c.charCodeAt(0)));
  }

  /** UNICODE's argument: raw-unicode-escape (\uXXXX and \UXXXXXXXX; other bytes are Latin-1). */
  private rawUnicode(text: string): string {
    this.charge(text.length * 2);
    return text.replace(
      /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
      (_m, u4: string | undefined, u8: string | undefined) => {
        const cp = Number.parseInt((u4 ?? u8)!, 16);
        if (cp > 0x10ffff) this.syntax(`code point ${cp}`);
        return String.fromCodePoint(cp);
      },
    );
  }

  // ---- globals and construction --------------------------------------------------------------

  private global(module: string, name: string): PyGlobal {
    const mod = canonicalModule(module, this.protocol);
    if (this.nested && mod === "joblib.numpy_pickle")
      this.fail("FORESTD_ERR_MODEL_INVALID", "a joblib array wrapper inside an object array's nested pickle");
    try {
      lookupGlobal(mod, name, this.opStart);
    } catch (e) {
      if (e instanceof ModelError) throw new ModelError(e.code, `pickle ${this.where()}: ${e.message}`);
      throw e;
    }
    return new PyGlobal(mod, name);
  }

  private role(g: PyGlobal) {
    return lookupGlobal(g.module, g.name, this.opStart);
  }

  /** NEWOBJ / INST / OBJ / copyreg: an instance of an allowed class, as inert data. */
  private instantiate(cls: PyValue, args: PyValue[]): PyObject {
    if (!(cls instanceof PyGlobal)) this.invalid(`cannot instantiate ${pyTypeName(cls)}`);
    if (this.role(cls) !== "class") this.invalid(`${cls.qualified} is not a class forestd builds`);
    this.charge(64 + 8 * args.length);
    return new PyObject(cls, args);
  }

  /** REDUCE: a call, which here is one of the fixed data transformations. */
  private reduce(callable: PyValue, argsValue: PyValue): PyValue {
    if (!(callable instanceof PyGlobal))
      this.invalid(`REDUCE calls ${pyTypeName(callable)}, not an allowed name`);
    if (!(argsValue instanceof PyTuple))
      this.invalid(`REDUCE's arguments are ${pyTypeName(argsValue)}, not a tuple`);
    const args = [...argsValue.items];
    const role = this.role(callable);
    if (role === "class") return this.instantiate(callable, args);
    if (role === "type") this.invalid(`${callable.qualified} cannot be called`);
    const arity = (min: number, max = min) => {
      if (args.length < min || args.length > max)
        this.invalid(
          `${callable.qualified} takes ${min === max ? min : `${min} to ${max}`} arguments, got ${args.length}`,
        );
    };
    switch (callable.qualified) {
      case "numpy.dtype": {
        arity(1, 3);
        this.charge(64);
        return Dtype.fromTypestr(args[0], this.where());
      }
      case "numpy.core.multiarray._reconstruct": {
        arity(3);
        const [subtype] = args;
        if (!(subtype instanceof PyGlobal) || subtype.qualified !== "numpy.ndarray")
          this.invalid(
            `numpy's _reconstruct builds ${pyTypeName(subtype)}; forestd reads plain numpy.ndarray only`,
          );
        // shape and typecode are placeholders ((0,), b'b'): BUILD gives the real ones
        return new NdArray(new Dtype("u", 1), [0], false, null, null, false);
      }
      case "numpy.core.numeric._frombuffer": {
        arity(4, 5);
        const [buffer, dtype, shape, order] = args;
        if (!(buffer instanceof PyBytes)) this.invalid("numpy's _frombuffer is not given bytes");
        if (!(dtype instanceof Dtype) || !(shape instanceof PyTuple))
          this.invalid("numpy's _frombuffer is not given a dtype and a shape");
        if (order !== "C" && order !== "F")
          this.fail("FORESTD_ERR_MODEL_UNSUPPORTED", `numpy array order ${String(order)}`);
        if (dtype.kind === "O") this.invalid("an object array from raw bytes");
        const dims = shapeSize(shape.items, this.where(), this.limits.maxArrayElements);
        const array = new NdArray(dtype, dims, order === "F", buffer.data, null, true);
        checkDataLength(array, buffer.data.length, this.where());
        return array;
      }
      case "numpy.core.multiarray.scalar": {
        arity(1, 2);
        const [dtype, data] = args;
        if (!(dtype instanceof Dtype)) this.invalid("a numpy scalar without a dtype");
        return scalarFrom(dtype, data ?? null, this.where());
      }
      case "_codecs.encode": {
        // protocols 0–2 write bytes as _codecs.encode(str, 'latin1')
        arity(1, 2);
        const [text, encoding] = args;
        if (
          typeof text !== "string" ||
          (encoding !== undefined && encoding !== "latin1" && encoding !== "latin-1")
        )
          this.invalid("_codecs.encode is read only as protocol 2's encode(str, 'latin1')");
        const out = new Uint8Array(text.length);
        for (let i = 0; i < text.length; i++) {
          const c = text.charCodeAt(i);
          if (c > 0xff) this.invalid("_codecs.encode: a character outside Latin-1");
          out[i] = c;
        }
        return this.bytesValue(out, false);
      }
      case "builtins.bytes":
      case "builtins.bytearray": {
        arity(0, 2);
        const mutable = callable.name === "bytearray";
        if (args.length === 0) return new PyBytes(new Uint8Array(0), mutable);
        const [src] = args;
        if (src instanceof PyBytes) return this.bytesValue(src.data.slice(), mutable);
        if (typeof src === "string" && args[1] === "latin-1")
          return this.bytesValue(
            Uint8Array.from(src, (c) => c.charCodeAt(0) & 0xff),
            mutable,
          );
        this.invalid(`${callable.qualified} is read only from bytes (never from a size)`);
        break;
      }
      case "builtins.set":
      case "builtins.frozenset": {
        arity(0, 1);
        const items = args.length ? this.iterable(args[0]) : [];
        this.charge(8 * items.length + 16);
        return new PySet([...items], callable.name === "frozenset", this.depth(items));
      }
      case "builtins.slice":
      case "builtins.complex":
        arity(1, 3);
        return this.instantiateInert(callable, args);
      case "copyreg._reconstructor": {
        // copyreg._reconstructor(cls, object, None): protocols 0 and 1's plain instances
        arity(3);
        const [cls, base, state] = args;
        if (!(base instanceof PyGlobal) || base.qualified !== "builtins.object" || state !== null)
          this.fail("FORESTD_ERR_MODEL_UNSUPPORTED", "copyreg._reconstructor with a base other than object");
        return this.instantiate(cls, []);
      }
      case "copyreg.__newobj__": {
        if (args.length < 1) this.invalid("copyreg.__newobj__ without a class");
        return this.instantiate(args[0], args.slice(1));
      }
      default:
        // the RNG constructors and Cython losses' __pyx_unpickle_*: inert stand-ins
        return this.instantiateInert(callable, args);
    }
  }

  private instantiateInert(callable: PyGlobal, args: PyValue[]): PyObject {
    this.charge(64 + 8 * args.length);
    return new PyObject(callable, args);
  }

  private iterable(v: PyValue): readonly PyValue[] {
    if (v instanceof PyList || v instanceof PyTuple || v instanceof PySet) return v.items;
    this.invalid(`expected a list, tuple or set, got ${pyTypeName(v)}`);
  }

  /** BUILD: give an object its state. numpy arrays and dtypes interpret theirs; others keep it. */
  private build(obj: PyValue, state: PyValue): void {
    if (obj instanceof NdArray) {
      this.buildArray(obj, state);
      return;
    }
    if (obj instanceof Dtype) {
      obj.setState(state, this.where());
      return;
    }
    if (!(obj instanceof PyObject)) this.invalid(`BUILD on ${pyTypeName(obj)}`);
    if (obj.built) {
      // Python would call __setstate__ again or update __dict__; no scikit-learn pickle does this
      this.invalid(`BUILD twice on a ${obj.cls.qualified} object`);
    }
    obj.state = state;
    obj.built = true;
  }

  /** numpy's array_setstate: `(version, shape, dtype, is_fortran, rawdata)` (version 0: 4 items). */
  private buildArray(array: NdArray, state: PyValue): void {
    if (array.filled) this.invalid("BUILD twice on a numpy array");
    if (!(state instanceof PyTuple) || (state.items.length !== 5 && state.items.length !== 4))
      this.invalid("a numpy array's state is not numpy's (version, shape, dtype, is_fortran, data)");
    const items = state.items.length === 5 ? state.items.slice(1) : state.items;
    if (state.items.length === 5 && state.items[0] !== 1 && state.items[0] !== 0)
      this.fail("FORESTD_ERR_MODEL_UNSUPPORTED", `numpy array pickle version ${String(state.items[0])}`);
    const [shape, dtype, fortran, data] = items;
    if (!(shape instanceof PyTuple) || !(dtype instanceof Dtype))
      this.invalid("a numpy array's state has no shape tuple and dtype");
    const dims = shapeSize(shape.items, this.where(), this.limits.maxArrayElements);
    array.dtype = dtype;
    array.shape = dims;
    array.fortran = fortran === true || fortran === 1;
    if (dtype.kind === "O") {
      if (!(data instanceof PyList)) this.invalid("an object array's data is not a list");
      if (data.items.length !== array.size)
        this.invalid(`an object array of shape (${dims.join(", ")}) holds ${data.items.length} objects`);
      array.objects = data.items;
    } else {
      let raw: Uint8Array;
      if (data instanceof PyBytes) raw = data.data;
      else if (typeof data === "string") raw = Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff);
      else this.invalid(`a numpy array's data is ${pyTypeName(data)}, not bytes`);
      checkDataLength(array, raw.length, this.where());
      array.data = raw;
    }
    array.filled = true;
  }

  /**
   * joblib: the array a NumpyArrayWrapper stands for, read from the bytes after its BUILD
   * (numpy_pickle.py NumpyArrayWrapper.read_array).
   */
  private readWrapped(wrapper: PyObject): NdArray {
    this.joblibArrays++;
    if (this.frameEnd >= 0) this.invalid("joblib array data inside a pickle frame");
    const state = wrapper.state;
    if (!(state instanceof PyDict)) this.invalid("a joblib NumpyArrayWrapper without its attributes");
    const get = (k: string) => state.map.get(k);
    const dtype = get("dtype");
    const shape = get("shape");
    const order = get("order");
    const subclass = get("subclass");
    if (!(dtype instanceof Dtype)) this.invalid("a joblib array wrapper without a dtype");
    if (!(shape instanceof PyTuple)) this.invalid("a joblib array wrapper without a shape");
    if (order !== "C" && order !== "F") this.invalid(`a joblib array wrapper's order is ${String(order)}`);
    if (subclass !== undefined && !(subclass instanceof PyGlobal && subclass.qualified === "numpy.ndarray"))
      this.fail(
        "FORESTD_ERR_MODEL_UNSUPPORTED",
        `joblib array of class ${pyTypeName(subclass ?? null)}; forestd reads numpy.ndarray`,
      );
    const dims = shapeSize(shape.items, this.where(), this.limits.maxArrayElements);
    if (dtype.kind === "O") {
      // a nested pickle of the array, read by a fresh machine (its own stack and memo)
      const inner = new Machine(this.bytes, this.pos, this.limits, false, true, this.budget).run();
      this.pos = inner.end;
      const array = inner.value;
      if (!(array instanceof NdArray) || !array.objects)
        this.invalid("an object array's nested pickle is not an object array");
      if (array.size !== dims.reduce((a, b) => a * b, 1))
        this.invalid(
          `an object array's nested pickle has ${array.size} elements; its wrapper says (${dims.join(", ")})`,
        );
      return array;
    }
    const alignment = get("numpy_array_alignment_bytes");
    if (alignment !== undefined && alignment !== null) {
      const padding = this.u8();
      if (padding > 64) this.invalid(`joblib array padding of ${padding} bytes`);
      this.take(padding);
    }
    const array = new NdArray(dtype, dims, order === "F", null, null, true);
    const nbytes = array.size * dtype.itemsize;
    if (nbytes > this.bytes.length - this.pos)
      this.fail(
        "FORESTD_ERR_MODEL_INVALID",
        `a joblib array of shape (${dims.join(", ")}) needs ${nbytes} bytes, but only ${this.bytes.length - this.pos} are left in the file`,
      );
    array.data = this.take(nbytes);
    return array;
  }

  // ---- the loop -----------------------------------------------------------------------------

  run(): UnpickleResult {
    for (;;) {
      this.opStart = this.pos;
      if (this.pos >= this.bytes.length) this.syntax("the file ends before the pickle's STOP (truncated?)");
      this.op = this.u8();
      const result = this.step(this.op);
      if (result) return result;
    }
  }

  private step(op: number): UnpickleResult | undefined {
    switch (op) {
      case OP.PROTO: {
        const p = this.u8();
        if (p > 5) this.fail("FORESTD_ERR_MODEL_UNSUPPORTED", `pickle protocol ${p} (forestd reads 0 to 5)`);
        this.protocol = p;
        return;
      }
      case OP.FRAME: {
        const n = this.u64();
        if (this.frameEnd >= 0) this.syntax("a frame begins before the previous one ends");
        if (n > this.bytes.length - this.pos)
          this.syntax(`a frame of ${n} bytes runs past the end of the file`);
        if (n > 0) this.frameEnd = this.pos + n;
        return;
      }
      case OP.STOP: {
        const value = this.pop();
        return { value, end: this.pos, protocol: this.protocol, joblibArrays: this.joblibArrays };
      }
      // ---- numbers
      case OP.INT: {
        const text = this.line(this.limits.maxIntDigits + 4);
        this.push(text === "00" ? false : text === "01" ? true : this.int(text));
        return;
      }
      case OP.BININT:
        this.push(this.i32());
        return;
      case OP.BININT1:
        this.push(this.u8());
        return;
      case OP.BININT2:
        this.push(this.u16());
        return;
      case OP.LONG:
        this.push(this.int(this.line(this.limits.maxIntDigits + 4)));
        return;
      case OP.LONG1:
        this.push(this.binaryInt(this.take(this.u8())));
        return;
      case OP.LONG4: {
        const n = this.i32();
        if (n < 0) this.syntax("LONG4 with a negative length");
        this.push(this.binaryInt(this.take(n)));
        return;
      }
      case OP.FLOAT:
        this.push(this.float(this.line(64)));
        return;
      case OP.BINFLOAT: {
        const at = this.pos;
        this.take(8);
        this.push(this.view.getFloat64(at, false));
        return;
      }
      case OP.NONE:
        this.push(null);
        return;
      case OP.NEWTRUE:
        this.push(true);
        return;
      case OP.NEWFALSE:
        this.push(false);
        return;
      // ---- strings and bytes
      case OP.STRING:
        this.push(this.quoted(this.line()));
        return;
      case OP.BINSTRING: {
        const n = this.i32();
        if (n < 0) this.syntax("BINSTRING with a negative length");
        this.push(this.ascii(this.take(n)));
        return;
      }
      case OP.SHORT_BINSTRING:
        this.push(this.ascii(this.take(this.u8())));
        return;
      case OP.BINBYTES:
        this.push(this.bytesValue(this.take(this.u32()), false));
        return;
      case OP.SHORT_BINBYTES:
        this.push(this.bytesValue(this.take(this.u8()), false));
        return;
      case OP.BINBYTES8:
        this.push(this.bytesValue(this.take(this.u64()), false));
        return;
      case OP.BYTEARRAY8:
        this.push(this.bytesValue(this.take(this.u64()), true));
        return;
      case OP.UNICODE:
        this.push(this.rawUnicode(this.line(this.bytes.length)));
        return;
      case OP.BINUNICODE:
        this.push(this.utf8(this.take(this.u32())));
        return;
      case OP.SHORT_BINUNICODE:
        this.push(this.utf8(this.take(this.u8())));
        return;
      case OP.BINUNICODE8:
        this.push(this.utf8(this.take(this.u64())));
        return;
      // ---- containers
      case OP.EMPTY_TUPLE:
        this.push(this.tuple([]));
        return;
      case OP.TUPLE:
        this.push(this.tuple(this.popMark()));
        return;
      case OP.TUPLE1: {
        const a = this.pop();
        this.push(this.tuple([a]));
        return;
      }
      case OP.TUPLE2: {
        const b = this.pop();
        const a = this.pop();
        this.push(this.tuple([a, b]));
        return;
      }
      case OP.TUPLE3: {
        const c = this.pop();
        const b = this.pop();
        const a = this.pop();
        this.push(this.tuple([a, b, c]));
        return;
      }
      case OP.EMPTY_LIST:
        this.charge(32);
        this.push(new PyList([], 1));
        return;
      case OP.LIST: {
        const items = this.popMark();
        this.charge(8 * items.length + 32);
        this.push(new PyList(items, this.depth(items)));
        return;
      }
      case OP.APPEND: {
        const v = this.pop();
        const list = this.top();
        if (!(list instanceof PyList)) this.invalid(`APPEND to ${pyTypeName(list)}, not a list`);
        this.charge(8);
        this.grow(list, v);
        list.items.push(v);
        return;
      }
      case OP.APPENDS: {
        const items = this.popMark();
        const list = this.top();
        if (!(list instanceof PyList)) this.invalid(`APPENDS to ${pyTypeName(list)}, not a list`);
        this.charge(8 * items.length);
        for (const v of items) {
          this.grow(list, v);
          list.items.push(v);
        }
        return;
      }
      case OP.EMPTY_DICT:
        this.charge(32);
        this.push(new PyDict(1));
        return;
      case OP.DICT: {
        const items = this.popMark();
        if (items.length % 2) this.syntax("DICT with an odd number of items");
        const dict = new PyDict(1);
        for (let i = 0; i < items.length; i += 2) this.setItem(dict, items[i], items[i + 1]);
        this.push(dict);
        return;
      }
      case OP.SETITEM: {
        const v = this.pop();
        const k = this.pop();
        this.setItem(this.top(), k, v);
        return;
      }
      case OP.SETITEMS: {
        const items = this.popMark();
        if (items.length % 2) this.syntax("SETITEMS with an odd number of items");
        const dict = this.top();
        for (let i = 0; i < items.length; i += 2) this.setItem(dict, items[i], items[i + 1]);
        return;
      }
      case OP.EMPTY_SET:
        this.charge(32);
        this.push(new PySet([], false, 1));
        return;
      case OP.ADDITEMS: {
        const items = this.popMark();
        const set = this.top();
        if (!(set instanceof PySet) || set.frozen) this.invalid(`ADDITEMS to ${pyTypeName(set)}, not a set`);
        this.charge(8 * items.length);
        for (const v of items) {
          this.grow(set, v);
          set.items.push(v);
        }
        return;
      }
      case OP.FROZENSET: {
        const items = this.popMark();
        this.charge(8 * items.length + 32);
        this.push(new PySet(items, true, this.depth(items)));
        return;
      }
      // ---- stack
      case OP.POP:
        if (this.stack.length > (this.marks.length ? this.marks[this.marks.length - 1] : 0)) this.stack.pop();
        else this.popMark();
        return;
      case OP.POP_MARK:
        this.popMark();
        return;
      case OP.DUP:
        this.push(this.top());
        return;
      case OP.MARK:
        if (this.marks.length >= this.limits.maxMarks)
          this.fail("FORESTD_ERR_MODEL_TOO_LARGE", `more than ${this.limits.maxMarks} MARKs open`);
        this.marks.push(this.stack.length);
        return;
      // ---- memo
      case OP.PUT:
        this.put(Number(this.int(this.line(24))));
        return;
      case OP.BINPUT:
        this.put(this.u8());
        return;
      case OP.LONG_BINPUT:
        this.put(this.u32());
        return;
      case OP.MEMOIZE:
        this.put(this.memo.size);
        return;
      case OP.GET:
        this.get(Number(this.int(this.line(24))));
        return;
      case OP.BINGET:
        this.get(this.u8());
        return;
      case OP.LONG_BINGET:
        this.get(this.u32());
        return;
      // ---- globals and objects
      case OP.GLOBAL: {
        const module = this.line(512);
        const name = this.line(512);
        this.push(this.global(module, name));
        return;
      }
      case OP.STACK_GLOBAL: {
        const name = this.pop();
        const module = this.pop();
        if (typeof name !== "string" || typeof module !== "string")
          this.invalid("STACK_GLOBAL's module and name are not strings");
        this.push(this.global(module, name));
        return;
      }
      case OP.REDUCE: {
        const args = this.pop();
        const callable = this.pop();
        this.push(this.reduce(callable, args));
        return;
      }
      case OP.NEWOBJ: {
        const args = this.pop();
        const cls = this.pop();
        if (!(args instanceof PyTuple)) this.invalid("NEWOBJ's arguments are not a tuple");
        this.push(this.instantiate(cls, [...args.items]));
        return;
      }
      case OP.NEWOBJ_EX: {
        const kwargs = this.pop();
        const args = this.pop();
        const cls = this.pop();
        if (!(args instanceof PyTuple) || !(kwargs instanceof PyDict))
          this.invalid("NEWOBJ_EX's arguments are not a tuple and a dict");
        if (kwargs.map.size) this.fail("FORESTD_ERR_MODEL_UNSUPPORTED", "NEWOBJ_EX with keyword arguments");
        this.push(this.instantiate(cls, [...args.items]));
        return;
      }
      case OP.INST: {
        const module = this.line(512);
        const name = this.line(512);
        const cls = this.global(module, name);
        this.push(this.instantiate(cls, this.popMark()));
        return;
      }
      case OP.OBJ: {
        const items = this.popMark();
        if (items.length === 0) this.syntax("OBJ without a class");
        this.push(this.instantiate(items[0], items.slice(1)));
        return;
      }
      case OP.BUILD: {
        const state = this.pop();
        const obj = this.top();
        this.build(obj, state);
        if (
          this.joblib &&
          obj instanceof PyObject &&
          obj.cls.qualified === "joblib.numpy_pickle.NumpyArrayWrapper"
        ) {
          this.stack[this.stack.length - 1] = this.readWrapped(obj);
        }
        return;
      }
      // ---- refused
      case OP.PERSID:
      case OP.BINPERSID:
        this.fail(
          "FORESTD_ERR_MODEL_UNSUPPORTED",
          "persistent ids refer to objects outside the file; forestd does not resolve them",
        );
        break;
      case OP.EXT1:
      case OP.EXT2:
      case OP.EXT4:
        this.fail("FORESTD_ERR_MODEL_UNSUPPORTED", "extension codes (copyreg's registry) are not read");
        break;
      case OP.NEXT_BUFFER:
      case OP.READONLY_BUFFER:
        this.fail(
          "FORESTD_ERR_MODEL_UNSUPPORTED",
          "out-of-band buffers live outside the file; forestd reads in-band data only",
        );
        break;
      default:
        this.syntax(`unknown opcode 0x${op.toString(16).padStart(2, "0")}`);
    }
  }

  private put(index: number): void {
    if (!Number.isInteger(index) || index < 0) this.syntax(`memo index ${index}`);
    if (this.memo.size >= this.limits.maxMemo && !this.memo.has(index))
      this.fail("FORESTD_ERR_MODEL_TOO_LARGE", `more than ${this.limits.maxMemo} memo entries`);
    this.charge(16);
    this.memo.set(index, this.top());
  }

  private get(index: number): void {
    if (!this.memo.has(index)) this.syntax(`memo index ${index} was never stored (out of range)`);
    this.push(this.memo.get(index)!);
  }
}
