/**
 * A request body's bytes straight into the typed array the engine scores (Float32Array, or
 * Float64Array for models that compare or preprocess in double), for the shapes that
 * carry nearly all traffic: {"instances": [row, ...]} (rows by position or by name), a bare row
 * object keyed by feature name. No JS array or object is built per row.
 *
 * It only ever answers for bodies it fully understands and that are valid. Anything else (escapes
 * in names, strings, unknown features, a wrong row length, extra keys, duplicated envelope keys,
 * numbers out of range, invalid JSON) it declines with `null`, and the caller parses the body with
 * JSON.parse and model/rows.ts as before: every error, and every unusual but valid body, is then
 * answered exactly as it always was. test/unit/fast-rows.test.ts holds it to that oracle.
 *
 * Numbers: JSON's grammar is checked exactly, then the float64 is made as JSON.parse makes it and
 * stored (rounded to float32 by a Float32Array store), as model/rows.ts does. The float64 is computed
 * directly only on Clinger's fast path (an integer mantissa below 2^53 times or over a power of
 * ten up to 10^22: both exact doubles, so one correctly rounded multiply or divide gives the
 * correctly rounded result, as JSON.parse does); every other number goes through Number() on its
 * own text, which JSON.parse agrees with (both round correctly).
 *
 * It reads the body's bytes, not a decoded string: decoding 200 KB of UTF-8 costs as much as a
 * tenth of parsing it, and indexing a Uint8Array is cheaper than charCodeAt. JSON's structure,
 * numbers and the names it matches are ASCII or compared byte for byte against a name's own UTF-8;
 * any other byte of 0x80 or above (inside a name it does not match, say) is declined, so a body
 * it reads is valid UTF-8 and means what its decoded text means to JSON.parse.
 */

import { type Numbers, numbers } from "../scoring/protocol.js";

/** The rows of a body, ready to score. */
export class ParsedRows {
  constructor(
    /** Row-major, numFeature values per row; NaN = missing. Spans its whole buffer. */
    readonly values: Numbers,
    readonly rows: number,
    /** A bare row object (answered as {"prediction": ...}) rather than {"instances": [...]}. */
    readonly single: boolean,
  ) {}
}

export interface RowsLayout {
  numFeature: number;
  /** The array type rows are read into (the model's row type). */
  rowType: "f32" | "f64";
  /** Column of each feature name (model/rows.ts columnLookup). */
  columns: ReadonlyMap<string, number>;
  /** More rows than this: declined, so the usual path answers 413. */
  maxRows: number;
  /**
   * Each column's name as it appears in JSON text, quotes included, when it needs no escaping:
   * rows by name usually list features in order, and matching the text in place skips a string
   * slice and a map lookup per value.
   */
  quoted: readonly (Uint8Array | null)[];
}

/**
 * The layout the scanner reads rows by. "__proto__" is never a column here: JSON.parse plus
 * secure-json-parse refuse it as a key, so a row naming it must take the usual path.
 */
export function rowsLayout(
  numFeature: number,
  columns: ReadonlyMap<string, number>,
  maxRows: number,
  rowType: "f32" | "f64" = "f32",
): RowsLayout {
  const safe = new Map(columns);
  safe.delete("__proto__");
  const quoted = new Array<Uint8Array | null>(numFeature).fill(null);
  for (const [name, i] of safe) {
    // A lone surrogate has no UTF-8 of its own: a body cannot spell such a name byte for byte.
    const wellFormed = Buffer.from(name).toString() === name;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are escaped in JSON
    if (wellFormed && !/["\\\u0000-\u001f]/.test(name)) quoted[i] = Buffer.from(`"${name}"`);
  }
  return { numFeature, rowType, columns: safe, maxRows, quoted };
}

/** Thrown inside the scanner to give up; never escapes this module. */
const DECLINE = Symbol("decline");

/** Powers of ten that are exact doubles (Clinger's fast path). */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

const NULL = Buffer.from("null");

// Character codes, as plain constants (biome's style turns a const enum into a real enum object).
const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const PLUS = 43;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const COLON = 58;
const UPPER_E = 69;
const L_BRACKET = 91;
const BACKSLASH = 92;
const R_BRACKET = 93;
const LOWER_E = 101;
const LOWER_N = 110;
const L_BRACE = 123;
const R_BRACE = 125;

/*
 * The hot loops below (Scanner.value, positionalRow, namedRow) write the whitespace skip and the
 * common number spelling out in place, with a local index, rather than calling ws()/peek()/expect()
 * or a shared helper. Measured (one thread, 200–30 000 parses of 10 000- and 100-row bodies): a
 * `skipWs(s, i)` helper made parsing 1.4–1.7× slower, and one number routine for every spelling
 * (no separate flat path) 1.8–2×. Keep the copies in step.
 */
class Scanner {
  i = 0;
  readonly n: number;
  constructor(readonly s: Buffer) {
    this.n = s.length;
  }

  /** JSON whitespace only (not every Unicode space: JSON.parse refuses those). */
  ws(): void {
    const s = this.s;
    let i = this.i;
    let c = s[i];
    while (c === SPACE || c === LF || c === CR || c === TAB) c = s[++i];
    this.i = i;
  }

  /** The next byte after whitespace (-1 at the end). */
  peek(): number {
    this.ws();
    return this.i < this.n ? this.s[this.i] : -1;
  }

  expect(c: number): void {
    if (this.peek() !== c) throw DECLINE;
    this.i++;
  }

  /** Whether `bytes` are next, here (no whitespace skipped). */
  at(bytes: Uint8Array): boolean {
    const s = this.s;
    const i = this.i;
    if (i + bytes.length > this.n) return false;
    for (let k = 0; k < bytes.length; k++) if (s[i + k] !== bytes[k]) return false;
    return true;
  }

  /** An ASCII string without escapes or control characters (anything else is declined). */
  key(): string {
    if (this.peek() !== QUOTE) throw DECLINE;
    const s = this.s;
    const start = ++this.i;
    let i = start;
    for (;;) {
      const c = s[i];
      if (c === QUOTE) break;
      // The end of the body reads as undefined, which fails every test but this one.
      if (!(c >= SPACE && c < 0x80) || c === BACKSLASH) throw DECLINE;
      i++;
    }
    this.i = i + 1;
    return s.toString("latin1", start, i);
  }

  /**
   * A JSON number or null (→ NaN); anything else, or a number no float64 holds, is declined.
   * Written out flat (whitespace, sign, digits, fraction) because it runs once per value: the
   * common spelling (a plain decimal on Clinger's fast path) costs no call and one store of
   * `this.i`; exponents, long mantissas, null and every error go to `rareValue`.
   */
  value(): number {
    const s = this.s;
    let i = this.i;
    let c = s[i];
    while (c === SPACE || c === LF || c === CR || c === TAB) c = s[++i];
    const start = i;
    const negative = c === MINUS;
    if (negative) c = s[++i];
    let mantissa = 0;
    let exponent = 0;
    if (c > ZERO && c <= NINE) {
      do {
        mantissa = mantissa * 10 + (c - ZERO);
        c = s[++i];
      } while (c >= ZERO && c <= NINE);
    } else if (c === ZERO) {
      c = s[++i];
    } else {
      this.i = start;
      return this.rareValue();
    }
    if (c === DOT) {
      c = s[++i];
      while (c >= ZERO && c <= NINE) {
        mantissa = mantissa * 10 + (c - ZERO);
        exponent--;
        c = s[++i];
      }
    }
    // Exponents, "01", "1." and mantissas past 2^53 or 10^-22: the general path decides.
    if (
      c === LOWER_E ||
      c === UPPER_E ||
      (c >= ZERO && c <= NINE) ||
      s[i - 1] === DOT ||
      mantissa > Number.MAX_SAFE_INTEGER ||
      exponent < -22
    ) {
      this.i = start;
      return this.rareValue();
    }
    this.i = i;
    const v = exponent < 0 ? mantissa / POW10[-exponent] : mantissa;
    return negative ? -v : v;
  }

  /** `value()` for the spellings its flat path leaves: null, exponents, long numbers, errors. */
  rareValue(): number {
    const c = this.peek();
    if (c === LOWER_N) {
      if (!this.at(NULL)) throw DECLINE;
      this.i += 4;
      return Number.NaN;
    }
    return this.number();
  }

  number(): number {
    this.ws();
    const s = this.s;
    let i = this.i;
    const start = i;
    let c = s[i];
    const negative = c === MINUS;
    if (negative) c = s[++i];
    let mantissa = 0;
    let exponent = 0;
    if (c === ZERO) {
      c = s[++i];
    } else if (c > ZERO && c <= NINE) {
      do {
        mantissa = mantissa * 10 + (c - ZERO);
        c = s[++i];
      } while (c >= ZERO && c <= NINE);
    } else throw DECLINE;
    if (c === DOT) {
      c = s[++i];
      if (!(c >= ZERO && c <= NINE)) throw DECLINE;
      do {
        mantissa = mantissa * 10 + (c - ZERO);
        exponent--;
        c = s[++i];
      } while (c >= ZERO && c <= NINE);
    }
    if (c === LOWER_E || c === UPPER_E) {
      c = s[++i];
      let sign = 1;
      if (c === MINUS || c === PLUS) {
        if (c === MINUS) sign = -1;
        c = s[++i];
      }
      if (!(c >= ZERO && c <= NINE)) throw DECLINE;
      let e = 0;
      do {
        if (e < 100_000) e = e * 10 + (c - ZERO);
        c = s[++i];
      } while (c >= ZERO && c <= NINE);
      exponent += sign * e;
    }
    // A digit straight after a leading zero ("01") is not JSON.
    if (c >= ZERO && c <= NINE) throw DECLINE;
    this.i = i;
    let v: number;
    // The mantissa only grows, so if it ends at or below 2^53 every step of it was exact.
    if (mantissa <= Number.MAX_SAFE_INTEGER && exponent >= -22 && exponent <= 22) {
      v = exponent < 0 ? mantissa / POW10[-exponent] : mantissa * POW10[exponent];
      if (negative) v = -v;
    } else {
      v = Number(s.toString("latin1", start, i));
    }
    if (!Number.isFinite(v)) throw DECLINE;
    return v;
  }

  end(): void {
    this.ws();
    if (this.i !== this.n) throw DECLINE;
  }
}

/** Rows appended to a growing typed array. */
class RowSink {
  values: Numbers;
  rows = 0;
  constructor(
    readonly layout: RowsLayout,
    capacityRows: number,
  ) {
    this.values = numbers(layout.rowType, capacityRows * layout.numFeature);
  }

  /** Offset of a new row, room made for it. */
  next(): number {
    const nf = this.layout.numFeature;
    if (++this.rows > this.layout.maxRows) throw DECLINE;
    const offset = (this.rows - 1) * nf;
    if (offset + nf > this.values.length) {
      const grown = numbers(this.layout.rowType, Math.max(nf, this.values.length * 2));
      grown.set(this.values);
      this.values = grown;
    }
    return offset;
  }

  /** The rows, in an array spanning its whole buffer (so the batcher can transfer it). */
  done(): Numbers {
    const used = this.rows * this.layout.numFeature;
    return used === this.values.length ? this.values : this.values.slice(0, used);
  }
}

/**
 * `{"name": value, ...}` at the scanner, written into `out` at `offset`. Punctuation and the
 * expected name are matched in line, as in positionalRow (this runs once per row).
 */
function namedRow(sc: Scanner, layout: RowsLayout, out: Numbers, offset: number): void {
  const s = sc.s;
  const nf = layout.numFeature;
  let i = sc.i;
  let c = s[i];
  while (c === SPACE || c === LF || c === CR || c === TAB) c = s[++i];
  if (c !== L_BRACE) throw DECLINE;
  for (let f = 0; f < nf; f++) out[offset + f] = Number.NaN;
  c = s[++i];
  while (c === SPACE || c === LF || c === CR || c === TAB) c = s[++i];
  if (c === R_BRACE) {
    sc.i = i + 1;
    return;
  }
  let expected = 0;
  for (;;) {
    let column: number | undefined;
    const quoted = expected < nf ? layout.quoted[expected] : null;
    let matched = quoted !== null && c === QUOTE && i + quoted.length <= sc.n;
    if (matched) {
      const q = quoted as Uint8Array;
      for (let k = 1; k < q.length; k++) {
        if (s[i + k] !== q[k]) {
          matched = false;
          break;
        }
      }
    }
    if (matched) {
      column = expected;
      i += (quoted as Uint8Array).length;
    } else {
      sc.i = i;
      column = layout.columns.get(sc.key());
      // Unknown feature (and "__proto__", "instances", ...): the usual path words the error.
      if (column === undefined) throw DECLINE;
      i = sc.i;
    }
    expected = column + 1;
    c = s[i];
    while (c === SPACE || c === LF || c === CR || c === TAB) c = s[++i];
    if (c !== COLON) throw DECLINE;
    sc.i = i + 1;
    // A duplicated name keeps its last value, as JSON.parse does.
    out[offset + column] = sc.value();
    i = sc.i;
    c = s[i];
    while (c === SPACE || c === LF || c === CR || c === TAB) c = s[++i];
    if (c === R_BRACE) {
      sc.i = i + 1;
      return;
    }
    if (c !== COMMA) throw DECLINE;
    c = s[++i];
    while (c === SPACE || c === LF || c === CR || c === TAB) c = s[++i];
  }
}

/**
 * `[v, v, ...]` of exactly numFeature values. Written flat rather than with `expect` (it runs once
 * per row, and the punctuation between values is most of a small row's bytes).
 */
function positionalRow(sc: Scanner, numFeature: number, out: Numbers, offset: number): void {
  const s = sc.s;
  let i = sc.i;
  let c = s[i];
  while (c === SPACE || c === LF || c === CR || c === TAB) c = s[++i];
  if (c !== L_BRACKET) throw DECLINE;
  i++;
  for (let f = 0; f < numFeature; f++) {
    if (f > 0) {
      c = s[i];
      while (c === SPACE || c === LF || c === CR || c === TAB) c = s[++i];
      if (c !== COMMA) throw DECLINE;
      i++;
    }
    sc.i = i;
    out[offset + f] = sc.value();
    i = sc.i;
  }
  c = s[i];
  while (c === SPACE || c === LF || c === CR || c === TAB) c = s[++i];
  if (c !== R_BRACKET) throw DECLINE;
  sc.i = i + 1;
}

const INSTANCES = Buffer.from('"instances"');

/** POST /predict: `{"instances": [row, ...]}` or a bare row object; null = use the usual path. */
export function parsePredictBody(body: Buffer, layout: RowsLayout): ParsedRows | null {
  const sc = new Scanner(body);
  try {
    if (sc.peek() !== L_BRACE) return null;
    const open = sc.i;
    sc.i++;
    if (sc.peek() === QUOTE && sc.at(INSTANCES)) {
      sc.i += INSTANCES.length;
      sc.expect(COLON);
      sc.expect(L_BRACKET);
      // Room for the rows the body could hold at ~8 characters a value, never more than needed.
      const guess = Math.ceil(body.length / (8 * layout.numFeature + 4));
      const sink = new RowSink(layout, Math.max(1, Math.min(guess, layout.maxRows)));
      for (;;) {
        const c = sc.peek();
        const offset = sink.next();
        if (c === L_BRACKET) positionalRow(sc, layout.numFeature, sink.values, offset);
        else if (c === L_BRACE) namedRow(sc, layout, sink.values, offset);
        else return null;
        const after = sc.peek();
        sc.i++;
        if (after === R_BRACKET) break;
        if (after !== COMMA) return null;
      }
      // Only key: with others beside it (or "instances" twice) the usual path decides.
      sc.expect(R_BRACE);
      sc.end();
      return new ParsedRows(sink.done(), sink.rows, false);
    }
    // A bare row naming a feature "instances" is read as a batch by the usual path.
    if (layout.columns.has("instances")) return null;
    sc.i = open;
    const values = numbers(layout.rowType, layout.numFeature);
    namedRow(sc, layout, values, 0);
    sc.end();
    return new ParsedRows(values, 1, true);
  } catch (error) {
    if (error === DECLINE) return null;
    throw error;
  }
}

/**
 * OIP infer's body as JSON.parse gives it, except that the tensor's `data` is left empty: its
 * values are already rows of float32 in `values`. The envelope still goes through the route's
 * schema validation like any other body (it passes: the fast path reads only canonical ones).
 */
export class ParsedTensor {
  readonly inputs: { name: string; shape: number[]; datatype: string; data: unknown[] }[];
  constructor(
    readonly id: string | undefined,
    input: { name: string; shape: number[]; datatype: string },
    readonly values: Numbers,
    readonly rows: number,
  ) {
    this.inputs = [{ ...input, data: [] }];
  }
}

const MAX_NAME = 256;

/** The smallest magnitude a float32 cannot hold: Math.fround rounds it (and beyond) to Infinity. */
const PAST_FLOAT32 = 3.4028235677973366e38;

/**
 * Data values, flat or nested one level, appended to a growing typed array; `pastFloat32` says
 * whether one of them is too large for a float32 (an FP32 tensor holding it is refused by name on
 * the usual path).
 */
function tensorData(
  sc: Scanner,
  hint: number,
  type: "f32" | "f64",
): { values: Numbers; count: number; pastFloat32: boolean } {
  let values = numbers(type, Math.max(1, hint));
  let count = 0;
  let pastFloat32 = false;
  const push = (v: number) => {
    if (v >= PAST_FLOAT32 || v <= -PAST_FLOAT32) pastFloat32 = true;
    if (count === values.length) {
      const grown = numbers(type, values.length * 2);
      grown.set(values);
      values = grown;
    }
    values[count++] = v;
  };
  sc.expect(L_BRACKET);
  if (sc.peek() === R_BRACKET) {
    sc.i++;
    return { values, count, pastFloat32 };
  }
  for (;;) {
    if (sc.peek() === L_BRACKET) {
      sc.i++;
      if (sc.peek() === R_BRACKET) sc.i++;
      else {
        for (;;) {
          push(sc.value());
          const c = sc.peek();
          sc.i++;
          if (c === R_BRACKET) break;
          if (c !== COMMA) throw DECLINE;
        }
      }
    } else push(sc.value());
    const c = sc.peek();
    sc.i++;
    if (c === R_BRACKET) return { values, count, pastFloat32 };
    if (c !== COMMA) throw DECLINE;
  }
}

/** `{"name": .., "shape": [..], "datatype": "FP32"|"FP64", "data": [..]}`, each key once. */
function tensorInput(sc: Scanner, textLength: number, type: "f32" | "f64") {
  let name: string | undefined;
  let shape: number[] | undefined;
  let datatype: string | undefined;
  let data: ReturnType<typeof tensorData> | undefined;
  sc.expect(L_BRACE);
  for (;;) {
    const key = sc.key();
    sc.expect(COLON);
    if (key === "name" && name === undefined) {
      name = sc.key();
      if (name.length > MAX_NAME) throw DECLINE;
    } else if (key === "datatype" && datatype === undefined) {
      datatype = sc.key();
      if (datatype !== "FP32" && datatype !== "FP64") throw DECLINE;
    } else if (key === "shape" && shape === undefined) {
      shape = [];
      sc.expect(L_BRACKET);
      for (;;) {
        const n = sc.number();
        if (!Number.isInteger(n) || n < 0 || shape.push(n) > 2) throw DECLINE;
        const c = sc.peek();
        sc.i++;
        if (c === R_BRACKET) break;
        if (c !== COMMA) throw DECLINE;
      }
    } else if (key === "data" && data === undefined) {
      data = tensorData(sc, Math.ceil(textLength / 8), type);
    } else throw DECLINE;
    const c = sc.peek();
    sc.i++;
    if (c === R_BRACE) break;
    if (c !== COMMA) throw DECLINE;
  }
  if (name === undefined || shape === undefined || datatype === undefined || data === undefined)
    throw DECLINE;
  return { name, shape, datatype, data };
}

/**
 * POST /v2/models/{name}/infer: `{"id"?: .., "inputs": [one tensor]}` whose tensor is exactly
 * [N, numFeature] (or [numFeature]) of numbers and nulls; null = use the usual path (which also
 * reads parameters, outputs and every error).
 */
export function parseInferBody(body: Buffer, layout: RowsLayout): ParsedTensor | null {
  const sc = new Scanner(body);
  try {
    let id: string | undefined;
    let input: ReturnType<typeof tensorInput> | undefined;
    sc.expect(L_BRACE);
    for (;;) {
      const key = sc.key();
      sc.expect(COLON);
      if (key === "id" && id === undefined) {
        id = sc.key();
        if (id.length > MAX_NAME) return null;
      } else if (key === "inputs" && input === undefined) {
        sc.expect(L_BRACKET);
        input = tensorInput(sc, body.length, layout.rowType);
        sc.expect(R_BRACKET);
      } else return null;
      const c = sc.peek();
      sc.i++;
      if (c === R_BRACE) break;
      if (c !== COMMA) return null;
    }
    sc.end();
    if (input === undefined) return null;
    const { shape, data } = input;
    const rows = shape.length === 2 ? shape[0] : 1;
    const cols = shape.length === 2 ? shape[1] : shape[0];
    if (cols !== layout.numFeature || rows === 0 || rows > layout.maxRows) return null;
    if (data.count !== rows * cols) return null;
    if (input.datatype === "FP32" && data.pastFloat32) return null;
    const values = data.count === data.values.length ? data.values : data.values.slice(0, data.count);
    // An FP32 tensor's values are float32s, whatever digits spelled them: a float64 model reads
    // them as such (a Float32Array's store already rounds).
    if (input.datatype === "FP32" && values instanceof Float64Array)
      for (let i = 0; i < values.length; i++) values[i] = Math.fround(values[i]);
    return new ParsedTensor(id, { name: input.name, shape, datatype: input.datatype }, values, rows);
  } catch (error) {
    if (error === DECLINE) return null;
    throw error;
  }
}
