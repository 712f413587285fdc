/**
 * A small protobuf wire-format reader: just what reading an ONNX model needs (varints, fixed32,
 * fixed64, length-delimited fields, packed repeated numbers), every read bounds-checked.
 *
 * Why not protobufjs: forestd reads five ONNX messages and a dozen fields. protobufjs would need
 * onnx.proto (or generated code) shipped beside it, and decodes every field of every message into
 * objects; the tree attributes of a large forest are millions of numbers, which this reader
 * decodes straight into typed arrays. A truncated or hostile file must fail with a message that
 * says where, which is easier to guarantee in 150 lines we own.
 */
import { ModelError } from "../../errors.js";

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function syntax(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", `ONNX protobuf: ${message}`);
}

/** One field as it appears on the wire: its number, wire type and where its payload lies. */
export interface Field {
  readonly number: number;
  readonly wire: number;
  /** For varints: the value; for the others, 0. */
  readonly varint: number;
  /** For fixed32/fixed64/bytes: the payload's byte range within the buffer. */
  readonly start: number;
  readonly end: number;
}

export class Reader {
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  pos: number;
  readonly end: number;
  /** What is being read, for error messages ("GraphProto.node[3]"). */
  readonly where: string;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length, where = "ModelProto") {
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.end = end;
    this.where = where;
  }

  /** A reader over a length-delimited field's payload. */
  sub(field: Field, where: string): Reader {
    return new Reader(this.bytes, field.start, field.end, where);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** An unsigned or two's-complement int64 varint as a JS number; refuses values beyond 2^53. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) syntax(`${this.where}: truncated varint at byte ${this.pos}`);
      const b = this.bytes[this.pos++];
      if (i === 9 && b > 1) syntax(`${this.where}: varint longer than 64 bits at byte ${this.pos - 1}`);
      result += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) {
        if (result <= Number.MAX_SAFE_INTEGER) return result;
        // Negative int64s are written as 10-byte two's complement: recover them exactly.
        return this.#bigVarint(i + 1);
      }
    }
    return syntax(`${this.where}: varint longer than 10 bytes at byte ${this.pos}`);
  }

  #bigVarint(length: number): number {
    let v = 0n;
    for (let i = length - 1; i >= 0; i--) v = (v << 7n) | BigInt(this.bytes[this.pos - length + i] & 0x7f);
    const signed = BigInt.asIntN(64, v);
    if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER))
      syntax(`${this.where}: integer ${signed} is beyond what forestd reads exactly`);
    return Number(signed);
  }

  /** The next field's header and payload bounds; skips nothing (the caller decides). */
  field(): Field {
    const at = this.pos;
    const key = this.varint();
    const number = Math.floor(key / 8);
    const wire = key % 8;
    if (number === 0) syntax(`${this.where}: field number 0 at byte ${at}`);
    switch (wire) {
      case WIRE_VARINT:
        return { number, wire, varint: this.varint(), start: 0, end: 0 };
      case WIRE_FIXED64:
        return { number, wire, varint: 0, start: this.pos, end: this.#skip(8, number) };
      case WIRE_FIXED32:
        return { number, wire, varint: 0, start: this.pos, end: this.#skip(4, number) };
      case WIRE_BYTES: {
        const length = this.varint();
        const start = this.pos;
        return { number, wire, varint: 0, start, end: this.#skip(length, number) };
      }
      default:
        return syntax(`${this.where}: field ${number} has wire type ${wire}, which ONNX does not use`);
    }
  }

  #skip(length: number, number: number): number {
    if (length > this.end - this.pos)
      syntax(`${this.where}: field ${number} needs ${length} bytes but only ${this.end - this.pos} remain`);
    this.pos += length;
    return this.pos;
  }

  string(field: Field, name: string): string {
    this.expect(field, WIRE_BYTES, name);
    // Most strings are short ASCII (node modes, names: one per node): skip the decoder for them.
    if (field.end - field.start <= 32) {
      let ascii = "";
      let p = field.start;
      for (; p < field.end && this.bytes[p] < 0x80; p++) ascii += String.fromCharCode(this.bytes[p]);
      if (p === field.end) return ascii;
    }
    try {
      return UTF8.decode(this.bytes.subarray(field.start, field.end));
    } catch {
      return syntax(`${this.where}.${name} is not valid UTF-8`);
    }
  }

  float32(field: Field, name: string): number {
    this.expect(field, WIRE_FIXED32, name);
    return this.#view.getFloat32(field.start, true);
  }

  expect(field: Field, wire: number, name: string): void {
    if (field.wire !== wire)
      syntax(`${this.where}.${name} (field ${field.number}) has wire type ${field.wire}`);
  }

  /** Appends a repeated varint field (packed or not) to `out`. */
  varints(field: Field, out: number[]): void {
    if (field.wire === WIRE_VARINT) {
      out.push(field.varint);
      return;
    }
    this.expect(field, WIRE_BYTES, `field ${field.number}`);
    const r = new Reader(this.bytes, field.start, field.end, this.where);
    while (!r.done()) out.push(r.varint());
  }

  /** Appends a repeated float (fixed32) field, packed or not, to `out`. */
  floats(field: Field, out: number[]): void {
    if (field.wire === WIRE_FIXED32) {
      out.push(this.#view.getFloat32(field.start, true));
      return;
    }
    this.expect(field, WIRE_BYTES, `field ${field.number}`);
    if ((field.end - field.start) % 4 !== 0)
      syntax(`${this.where}: packed floats (field ${field.number}) are not a multiple of 4 bytes`);
    for (let p = field.start; p < field.end; p += 4) out.push(this.#view.getFloat32(p, true));
  }

  /** Appends a repeated double (fixed64) field, packed or not, to `out`. */
  doubles(field: Field, out: number[]): void {
    if (field.wire === WIRE_FIXED64) {
      out.push(this.#view.getFloat64(field.start, true));
      return;
    }
    this.expect(field, WIRE_BYTES, `field ${field.number}`);
    if ((field.end - field.start) % 8 !== 0)
      syntax(`${this.where}: packed doubles (field ${field.number}) are not a multiple of 8 bytes`);
    for (let p = field.start; p < field.end; p += 8) out.push(this.#view.getFloat64(p, true));
  }

  /** The little-endian bytes of a field as a DataView (TensorProto.raw_data). */
  view(field: Field): DataView {
    return new DataView(this.bytes.buffer, this.bytes.byteOffset + field.start, field.end - field.start);
  }
}
