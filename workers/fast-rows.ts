/**
 * A request body's text straight into the Float32Array the engine scores, for the shapes that
 * carry nearly all traffic: {"instances": [row, ...]} (rows by position or by name), a bare row
 * object keyed by feature name. No JS array or object is built per row.
 *
 * It only ever answers for bodies it fully understands and that are valid. Anything else (escapes
 * in names, strings, unknown features, a wrong row length, extra keys, duplicated envelope keys,
 * numbers out of range, invalid JSON) it declines with `null`, and the caller parses the body with
 * JSON.parse and model/rows.ts as before: every error, and every unusual but valid body, is then
 * answered exactly as it always was. test/fast-rows.test.ts holds it to that oracle.
 *
 * Numbers: JSON's grammar is checked exactly, then the float64 is made as JSON.parse makes it and
 * rounded to float32 by the Float32Array store, as model/rows.ts does. The float64 is computed
 * directly only on Clinger's fast path (an integer mantissa below 2^53 times or over a power of
 * ten up to 10^22: both exact doubles, so one correctly rounded multiply or divide gives the
 * correctly rounded result, as JSON.parse does); every other number goes through Number() on its
 * own text, which JSON.parse agrees with (both round correctly).
 */

/** The rows of a body, ready to score. */
export class ParsedRows {
  constructor(
    /** Row-major, numFeature values per row; NaN = missing. Spans its whole buffer. */
    readonly values: Float32Array,
    readonly rows: number,
    /** A bare row object (answered as {"prediction": ...}) rather than {"instances": [...]}. */
    readonly single: boolean,
  ) {}
}

export interface RowsLayout {
  numFeature: number;
  /** Column of each feature name (model/rows.ts columnLookup). */
  columns: ReadonlyMap<string, number>;
  /** More rows than this: declined, so the usual path answers 413. */
  maxRows: number;
}

/**
 * The layout the scanner reads rows by. "__proto__" is never a column here: JSON.parse plus
 * secure-json-parse refuse it as a key, so a row naming it must take the usual path.
 */
export function rowsLayout(
  numFeature: number,
  columns: ReadonlyMap<string, number>,
  maxRows: number,
): RowsLayout {
  const safe = new Map(columns);
  safe.delete("__proto__");
  return { numFeature, columns: safe, maxRows };
}

/** Thrown inside the scanner to give up; never escapes this module. */
const DECLINE = Symbol("decline");

/** Powers of ten that are exact doubles (Clinger's fast path). */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

enum C {
  Tab = 9,
  Lf = 10,
  Cr = 13,
  Space = 32,
  Quote = 34,
  Plus = 43,
  Comma = 44,
  Minus = 45,
  Dot = 46,
  Zero = 48,
  Nine = 57,
  Colon = 58,
  UpperE = 69,
  LBracket = 91,
  Backslash = 92,
  RBracket = 93,
  LowerE = 101,
  LowerN = 110,
  LBrace = 123,
  RBrace = 125,
}

class Scanner {
  i = 0;
  constructor(readonly s: string) {}

  /** JSON whitespace only (not every Unicode space: JSON.parse refuses those). */
  ws(): void {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === C.Space || c === C.Lf || c === C.Cr || c === C.Tab) i++;
      else break;
    }
    this.i = i;
  }

  /** The next character after whitespace (NaN at the end). */
  peek(): number {
    this.ws();
    return this.s.charCodeAt(this.i);
  }

  expect(c: number): void {
    if (this.peek() !== c) throw DECLINE;
    this.i++;
  }

  /** A string without escapes or control characters (anything else is declined). */
  key(): string {
    if (this.peek() !== C.Quote) throw DECLINE;
    const s = this.s;
    const start = ++this.i;
    let i = start;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === C.Quote) break;
      if (c === C.Backslash || c < C.Space || Number.isNaN(c)) throw DECLINE;
      i++;
    }
    this.i = i + 1;
    return s.slice(start, i);
  }

  /** A JSON number or null (→ NaN); anything else, or a number no float64 holds, is declined. */
  value(): number {
    const c = this.peek();
    if (c === C.LowerN) {
      if (!this.s.startsWith("null", this.i)) throw DECLINE;
      this.i += 4;
      return Number.NaN;
    }
    return this.number();
  }

  number(): number {
    const s = this.s;
    let i = this.i;
    const start = i;
    let c = s.charCodeAt(i);
    const negative = c === C.Minus;
    if (negative) c = s.charCodeAt(++i);
    let mantissa = 0;
    let exponent = 0;
    if (c === C.Zero) {
      c = s.charCodeAt(++i);
    } else if (c > C.Zero && c <= C.Nine) {
      do {
        mantissa = mantissa * 10 + (c - C.Zero);
        c = s.charCodeAt(++i);
      } while (c >= C.Zero && c <= C.Nine);
    } else throw DECLINE;
    if (c === C.Dot) {
      c = s.charCodeAt(++i);
      if (!(c >= C.Zero && c <= C.Nine)) throw DECLINE;
      do {
        mantissa = mantissa * 10 + (c - C.Zero);
        exponent--;
        c = s.charCodeAt(++i);
      } while (c >= C.Zero && c <= C.Nine);
    }
    if (c === C.LowerE || c === C.UpperE) {
      c = s.charCodeAt(++i);
      let sign = 1;
      if (c === C.Minus || c === C.Plus) {
        if (c === C.Minus) sign = -1;
        c = s.charCodeAt(++i);
      }
      if (!(c >= C.Zero && c <= C.Nine)) throw DECLINE;
      let e = 0;
      do {
        if (e < 100_000) e = e * 10 + (c - C.Zero);
        c = s.charCodeAt(++i);
      } while (c >= C.Zero && c <= C.Nine);
      exponent += sign * e;
    }
    // A digit straight after a leading zero ("01") is not JSON.
    if (c >= C.Zero && c <= C.Nine) throw DECLINE;
    this.i = i;
    let v: number;
    // The mantissa only grows, so if it ends at or below 2^53 every step of it was exact.
    if (mantissa <= Number.MAX_SAFE_INTEGER && exponent >= -22 && exponent <= 22) {
      v = exponent < 0 ? mantissa / POW10[-exponent] : mantissa * POW10[exponent];
      if (negative) v = -v;
    } else {
      v = Number(s.slice(start, i));
    }
    if (!Number.isFinite(v)) throw DECLINE;
    return v;
  }

  end(): void {
    this.ws();
    if (this.i !== this.s.length) throw DECLINE;
  }
}

/** Rows appended to a growing Float32Array. */
class RowSink {
  values: Float32Array;
  rows = 0;
  constructor(
    readonly layout: RowsLayout,
    capacityRows: number,
  ) {
    this.values = new Float32Array(capacityRows * layout.numFeature);
  }

  /** Offset of a new row, room made for it. */
  next(): number {
    const nf = this.layout.numFeature;
    if (++this.rows > this.layout.maxRows) throw DECLINE;
    const offset = (this.rows - 1) * nf;
    if (offset + nf > this.values.length) {
      const grown = new Float32Array(Math.max(nf, this.values.length * 2));
      grown.set(this.values);
      this.values = grown;
    }
    return offset;
  }

  /** The rows, in an array spanning its whole buffer (so the batcher can transfer it). */
  done(): Float32Array {
    const used = this.rows * this.layout.numFeature;
    return used === this.values.length ? this.values : this.values.slice(0, used);
  }
}

/** `{"name": value, ...}` at the scanner, written into `out` at `offset`. */
function namedRow(sc: Scanner, layout: RowsLayout, out: Float32Array, offset: number): void {
  sc.expect(C.LBrace);
  out.fill(Number.NaN, offset, offset + layout.numFeature);
  if (sc.peek() === C.RBrace) {
    sc.i++;
    return;
  }
  for (;;) {
    const column = layout.columns.get(sc.key());
    // Unknown feature (and "__proto__", "instances", ...): the usual path words the error.
    if (column === undefined) throw DECLINE;
    sc.expect(C.Colon);
    // A duplicated name keeps its last value, as JSON.parse does.
    out[offset + column] = sc.value();
    const c = sc.peek();
    sc.i++;
    if (c === C.RBrace) return;
    if (c !== C.Comma) throw DECLINE;
  }
}

/** `[v, v, ...]` of exactly numFeature values. */
function positionalRow(sc: Scanner, numFeature: number, out: Float32Array, offset: number): void {
  sc.expect(C.LBracket);
  for (let f = 0; f < numFeature; f++) {
    if (f > 0) sc.expect(C.Comma);
    out[offset + f] = sc.value();
  }
  sc.expect(C.RBracket);
}

const INSTANCES = '"instances"';

/** POST /predict: `{"instances": [row, ...]}` or a bare row object; null = use the usual path. */
export function parsePredictBody(text: string, layout: RowsLayout): ParsedRows | null {
  const sc = new Scanner(text);
  try {
    if (sc.peek() !== C.LBrace) return null;
    const open = sc.i;
    sc.i++;
    if (sc.peek() === C.Quote && text.startsWith(INSTANCES, sc.i)) {
      sc.i += INSTANCES.length;
      sc.expect(C.Colon);
      sc.expect(C.LBracket);
      // Room for the rows the body could hold at ~8 characters a value, never more than needed.
      const guess = Math.ceil(text.length / (8 * layout.numFeature + 4));
      const sink = new RowSink(layout, Math.max(1, Math.min(guess, layout.maxRows)));
      for (;;) {
        const c = sc.peek();
        const offset = sink.next();
        if (c === C.LBracket) positionalRow(sc, layout.numFeature, sink.values, offset);
        else if (c === C.LBrace) namedRow(sc, layout, sink.values, offset);
        else return null;
        const after = sc.peek();
        sc.i++;
        if (after === C.RBracket) break;
        if (after !== C.Comma) return null;
      }
      // Only key: with others beside it (or "instances" twice) the usual path decides.
      sc.expect(C.RBrace);
      sc.end();
      return new ParsedRows(sink.done(), sink.rows, false);
    }
    // A bare row naming a feature "instances" is read as a batch by the usual path.
    if (layout.columns.has("instances")) return null;
    sc.i = open;
    const values = new Float32Array(layout.numFeature);
    namedRow(sc, layout, values, 0);
    sc.end();
    return new ParsedRows(values, 1, true);
  } catch (error) {
    if (error === DECLINE) return null;
    throw error;
  }
}
