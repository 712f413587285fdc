/**
 * A UBJSON (Universal Binary JSON, draft 12) decoder for XGBoost's `.ubj` model files.
 *
 * Hand-written rather than taken from npm for three reasons that matter to a server loading files
 * it did not write: every count is checked against the bytes that remain before anything is
 * allocated (a hostile count cannot exhaust memory), nesting is bounded (no stack overflow), and
 * strongly typed numeric containers (`[$d#...`) decode straight into typed arrays, which is what
 * the tree compiler wants and keeps an 8 MB model's load well under a second.
 *
 * Objects decode to null-prototype objects, so a key such as `__proto__` is just a key.
 */
import { ModelError } from "../../errors.js";

export type UbjValue =
  | null
  | boolean
  | number
  | string
  | UbjValue[]
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Int32Array
  | { [key: string]: UbjValue };

const MAX_DEPTH = 128;
/** Containers of zero-width elements ($Z, $T, ...) are capped: no model needs more than this. */
const MAX_ZERO_WIDTH_COUNT = 1 << 20;
const utf8 = new TextDecoder("utf-8", { fatal: true });

const WIDTH: Record<string, number> = { i: 1, U: 1, C: 1, I: 2, l: 4, d: 4, L: 8, D: 8 };

class Reader {
  private readonly view: DataView;
  private pos = 0;
  private depth = 0;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  decodeDocument(): UbjValue {
    const value = this.value(this.marker());
    // XGBoost writes exactly one value; trailing no-ops are allowed by the format.
    while (this.pos < this.bytes.length && this.bytes[this.pos] === 0x4e /* N */) this.pos++;
    if (this.pos !== this.bytes.length)
      this.fail(`${this.bytes.length - this.pos} unexpected trailing bytes`);
    return value;
  }

  private fail(message: string): never {
    throw new ModelError(
      "FORESTD_ERR_MODEL_SYNTAX",
      `UBJSON model is malformed at byte ${this.pos}: ${message}`,
    );
  }

  private need(n: number): void {
    if (n > this.bytes.length - this.pos) this.fail(`truncated (needs ${n} more bytes)`);
  }

  private marker(): string {
    this.need(1);
    return String.fromCharCode(this.bytes[this.pos++]);
  }

  private value(marker: string): UbjValue {
    switch (marker) {
      case "Z":
        return null;
      case "T":
        return true;
      case "F":
        return false;
      case "N":
        return this.value(this.marker());
      case "i":
      case "U":
      case "I":
      case "l":
      case "L":
      case "d":
      case "D":
        return this.number(marker);
      case "C":
        this.need(1);
        return String.fromCharCode(this.bytes[this.pos++]);
      case "S":
        return this.string();
      case "H": {
        const text = this.string();
        const n = Number(text);
        if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text) || Number.isNaN(n))
          this.fail(`bad high-precision number "${text.slice(0, 40)}"`);
        return n;
      }
      case "[":
        return this.nested(() => this.array());
      case "{":
        return this.nested(() => this.object());
      default:
        return this.fail(`unknown type marker 0x${marker.charCodeAt(0).toString(16)}`);
    }
  }

  private nested<T>(read: () => T): T {
    if (++this.depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    const result = read();
    this.depth--;
    return result;
  }

  private number(marker: string): number {
    const width = WIDTH[marker];
    this.need(width);
    const at = this.pos;
    this.pos += width;
    switch (marker) {
      case "i":
        return this.view.getInt8(at);
      case "U":
        return this.view.getUint8(at);
      case "I":
        return this.view.getInt16(at);
      case "l":
        return this.view.getInt32(at);
      case "d":
        return this.view.getFloat32(at);
      case "D":
        return this.view.getFloat64(at);
      default: {
        const big = this.view.getBigInt64(at);
        if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
          this.pos = at;
          this.fail(`int64 ${big} is outside the exactly representable range`);
        }
        return Number(big);
      }
    }
  }

  /** A length or count: any integer marker, never negative. */
  private length(): number {
    const marker = this.marker();
    if (!"iUIlL".includes(marker)) this.fail(`expected an integer length, got marker '${marker}'`);
    const n = this.number(marker);
    if (n < 0) this.fail(`negative length ${n}`);
    return n;
  }

  private string(): string {
    const n = this.length();
    this.need(n);
    const start = this.pos;
    this.pos += n;
    try {
      return utf8.decode(this.bytes.subarray(start, start + n));
    } catch {
      this.pos = start;
      return this.fail("string is not valid UTF-8");
    }
  }

  /** Reads the optional `$type` and `#count` of an optimized container. */
  private header(): { type: string | null; count: number | null } {
    let type: string | null = null;
    if (this.peek() === "$") {
      this.pos++;
      type = this.marker();
      if (type === "N" || type === "[" || type === "{" || type === "]" || type === "}") {
        // Draft 12 allows container element types, but XGBoost never writes them; refuse plainly.
        this.fail(`unsupported container element type '${type}'`);
      }
      if (this.peek() !== "#") this.fail("a typed container must give a count");
    }
    let count: number | null = null;
    if (this.peek() === "#") {
      this.pos++;
      count = this.length();
      const width = type ? (WIDTH[type] ?? (type === "S" || type === "H" ? 1 : 0)) : 1;
      if (width === 0 ? count > MAX_ZERO_WIDTH_COUNT : count > (this.bytes.length - this.pos) / width) {
        this.fail(`container claims ${count} elements, more than the file can hold`);
      }
    }
    return { type, count };
  }

  private peek(): string {
    this.need(1);
    return String.fromCharCode(this.bytes[this.pos]);
  }

  private array(): UbjValue {
    const { type, count } = this.header();
    if (type !== null && count !== null && type in WIDTH && type !== "C") return this.typedArray(type, count);
    const out: UbjValue[] = [];
    if (count !== null) {
      for (let i = 0; i < count; i++) out.push(this.value(type ?? this.marker()));
      return out;
    }
    for (;;) {
      const marker = this.marker();
      if (marker === "]") return out;
      if (marker === "N") continue;
      out.push(this.value(marker));
    }
  }

  private typedArray(type: string, count: number): UbjValue {
    const width = WIDTH[type];
    this.need(count * width);
    const at = this.pos;
    this.pos += count * width;
    const v = this.view;
    switch (type) {
      case "U":
        return this.bytes.slice(at, at + count);
      case "i":
        return new Int8Array(this.bytes.slice(at, at + count).buffer);
      case "I": {
        const out = new Int16Array(count);
        for (let i = 0; i < count; i++) out[i] = v.getInt16(at + 2 * i);
        return out;
      }
      case "l": {
        const out = new Int32Array(count);
        for (let i = 0; i < count; i++) out[i] = v.getInt32(at + 4 * i);
        return out;
      }
      case "d": {
        const out = new Float32Array(count);
        for (let i = 0; i < count; i++) out[i] = v.getFloat32(at + 4 * i);
        return out;
      }
      case "D": {
        const out = new Float64Array(count);
        for (let i = 0; i < count; i++) out[i] = v.getFloat64(at + 8 * i);
        return out;
      }
      default: {
        // int64: exact while within 2^53, which any index or category in a real model is.
        const out = new Float64Array(count);
        for (let i = 0; i < count; i++) {
          const big = v.getBigInt64(at + 8 * i);
          if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
            this.pos = at + 8 * i;
            this.fail(`int64 ${big} is outside the exactly representable range`);
          }
          out[i] = Number(big);
        }
        return out;
      }
    }
  }

  private object(): UbjValue {
    const { type, count } = this.header();
    const out: { [key: string]: UbjValue } = Object.create(null);
    const entry = () => {
      const key = this.string(); // keys carry no 'S' marker
      out[key] = this.value(type ?? this.marker());
    };
    if (count !== null) {
      for (let i = 0; i < count; i++) entry();
      return out;
    }
    for (;;) {
      const next = this.peek();
      if (next === "}") {
        this.pos++;
        return out;
      }
      if (next === "N") {
        this.pos++;
        continue;
      }
      entry();
    }
  }
}

export function decodeUbjson(bytes: Uint8Array): UbjValue {
  return new Reader(bytes).decodeDocument();
}
