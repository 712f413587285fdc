/**
 * LZMA decoding for joblib's compress="lzma" (the .lzma "alone" format: 13-byte header, LZMA1 data,
 * an end marker) and compress="xz" (the .xz container around LZMA2 chunks), synchronous, with every
 * read checked and the output bounded. Written here, following Igor Pavlov's reference decoder
 * (LZMA SDK, DOC/lzma-specification.txt and LzmaSpec.cpp) and the .xz file format specification
 * (tukaani.org/xz/xz-file-format.txt), because npm has no maintained pure-JS decoder that is
 * synchronous and bounded: LZMA-JS ("lzma") reads only the alone format and collects output into
 * a JS number array without a bound; xz-decompress is asynchronous WebAssembly; the rest are
 * native addons. Integrity checks (CRC32/CRC64/SHA-256) are skipped: the pickle reader checks
 * everything it reads, and a corrupted stream almost always fails to decode.
 */

export class LzmaError extends Error {}

/** Thrown when the output would pass the bound. */
export class LzmaBoundError extends Error {}

class Output {
  buf: Uint8Array;
  pos = 0;
  constructor(
    initial: number,
    private readonly bound: number,
  ) {
    this.buf = new Uint8Array(Math.max(1024, Math.min(initial, bound)));
  }
  reserve(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    if (need > this.bound) throw new LzmaBoundError(`more than ${this.bound} bytes`);
    let size = this.buf.length;
    while (size < need) size *= 2;
    const next = new Uint8Array(Math.min(size, this.bound));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
}

class RangeDecoder {
  range = 0xffffffff;
  code = 0;
  constructor(
    private readonly src: Uint8Array,
    public pos: number,
    private readonly end: number,
  ) {
    if (this.byte() !== 0) throw new LzmaError("a range coder does not start with 0");
    for (let i = 0; i < 4; i++) this.code = ((this.code << 8) | this.byte()) >>> 0;
    if (this.code === this.range) throw new LzmaError("corrupt range coder start");
  }
  private byte(): number {
    if (this.pos >= this.end) throw new LzmaError("compressed data ends early (truncated?)");
    return this.src[this.pos++];
  }
  private normalize(): void {
    if (this.range < 0x1000000) {
      this.range = (this.range << 8) >>> 0;
      this.code = ((this.code << 8) | this.byte()) >>> 0;
    }
  }
  bit(probs: Uint16Array, i: number): number {
    const p = probs[i];
    const bound = (this.range >>> 11) * p;
    let bit: number;
    if (this.code < bound) {
      this.range = bound;
      probs[i] = p + ((2048 - p) >>> 5);
      bit = 0;
    } else {
      this.range -= bound;
      this.code -= bound;
      probs[i] = p - (p >>> 5);
      bit = 1;
    }
    this.normalize();
    return bit;
  }
  direct(n: number): number {
    let res = 0;
    for (let i = 0; i < n; i++) {
      this.range >>>= 1;
      let bit = 0;
      if (this.code >= this.range) {
        this.code -= this.range;
        bit = 1;
      }
      res = res * 2 + bit;
      this.normalize();
    }
    return res;
  }
  finishedOk(): boolean {
    return this.code === 0;
  }
}

function tree(rc: RangeDecoder, probs: Uint16Array, offset: number, bits: number): number {
  let m = 1;
  for (let i = 0; i < bits; i++) m = (m << 1) + rc.bit(probs, offset + m);
  return m - (1 << bits);
}

function reverseTree(rc: RangeDecoder, probs: Uint16Array, offset: number, bits: number): number {
  let m = 1;
  let symbol = 0;
  for (let i = 0; i < bits; i++) {
    const bit = rc.bit(probs, offset + m);
    m = (m << 1) + bit;
    symbol |= bit << i;
  }
  return symbol;
}

class LenDecoder {
  readonly probs = new Uint16Array(2 + 16 * 8 * 2 + 256);
  reset(): void {
    this.probs.fill(1024);
  }
  decode(rc: RangeDecoder, posState: number): number {
    const p = this.probs;
    if (rc.bit(p, 0) === 0) return tree(rc, p, 2 + posState * 8 - 1, 3) + 0;
    if (rc.bit(p, 1) === 0) return 8 + tree(rc, p, 2 + 128 + posState * 8 - 1, 3);
    return 16 + tree(rc, p, 2 + 256 - 1, 8);
  }
}

const END_POS_MODEL_INDEX = 14;
const FULL_DISTANCES = 128;

/** An LZMA decoder's models and state; LZMA2 keeps it across chunks unless a chunk resets it. */
class LzmaState {
  lc = 0;
  lp = 0;
  pb = 0;
  literal = new Uint16Array(0x300);
  readonly isMatch = new Uint16Array(12 << 4);
  readonly isRep = new Uint16Array(12);
  readonly isRepG0 = new Uint16Array(12);
  readonly isRepG1 = new Uint16Array(12);
  readonly isRepG2 = new Uint16Array(12);
  readonly isRep0Long = new Uint16Array(12 << 4);
  readonly posSlot = new Uint16Array(4 << 6);
  readonly posDecoders = new Uint16Array(1 + FULL_DISTANCES - END_POS_MODEL_INDEX);
  readonly align = new Uint16Array(16);
  readonly len = new LenDecoder();
  readonly repLen = new LenDecoder();
  state = 0;
  rep0 = 0;
  rep1 = 0;
  rep2 = 0;
  rep3 = 0;

  setProperties(d: number): void {
    if (d >= 9 * 5 * 5) throw new LzmaError(`LZMA properties byte ${d}`);
    this.lc = d % 9;
    d = Math.floor(d / 9);
    this.lp = d % 5;
    this.pb = Math.floor(d / 5);
    const size = 0x300 << (this.lc + this.lp);
    if (this.literal.length !== size) this.literal = new Uint16Array(size);
  }

  reset(): void {
    for (const a of [
      this.literal,
      this.isMatch,
      this.isRep,
      this.isRepG0,
      this.isRepG1,
      this.isRepG2,
      this.isRep0Long,
      this.posSlot,
      this.posDecoders,
      this.align,
    ])
      a.fill(1024);
    this.len.reset();
    this.repLen.reset();
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }

  /**
   * Decodes into `out` until `limit` more bytes are written (-1: until the end marker). `dictStart`
   * is where the current dictionary began: matches may not reach before it. Returns whether the end
   * marker was seen.
   */
  decode(rc: RangeDecoder, out: Output, limit: number, dictStart: number, dictSize: number): boolean {
    const pbMask = (1 << this.pb) - 1;
    const lpMask = (1 << this.lp) - 1;
    let left = limit;
    while (left !== 0) {
      const posState = out.pos & pbMask;
      if (rc.bit(this.isMatch, (this.state << 4) + posState) === 0) {
        out.reserve(1);
        const buf = out.buf;
        const prev = out.pos > dictStart ? buf[out.pos - 1] : 0;
        const base = 0x300 * (((out.pos & lpMask) << this.lc) + (prev >>> (8 - this.lc)));
        let symbol = 1;
        if (this.state >= 7) {
          if (this.rep0 + 1 > out.pos - dictStart)
            throw new LzmaError("a literal's match byte is before the dictionary");
          let matchByte = buf[out.pos - this.rep0 - 1];
          do {
            const matchBit = (matchByte >>> 7) & 1;
            matchByte <<= 1;
            const bit = rc.bit(this.literal, base + ((1 + matchBit) << 8) + symbol);
            symbol = (symbol << 1) | bit;
            if (matchBit !== bit) break;
          } while (symbol < 0x100);
        }
        while (symbol < 0x100) symbol = (symbol << 1) | rc.bit(this.literal, base + symbol);
        buf[out.pos++] = symbol - 0x100;
        this.state = this.state < 4 ? 0 : this.state < 10 ? this.state - 3 : this.state - 6;
        if (left > 0) left--;
        continue;
      }
      let length: number;
      if (rc.bit(this.isRep, this.state) !== 0) {
        if (out.pos === dictStart) throw new LzmaError("a repeated match before any output");
        if (rc.bit(this.isRepG0, this.state) === 0) {
          if (rc.bit(this.isRep0Long, (this.state << 4) + posState) === 0) {
            this.state = this.state < 7 ? 9 : 11;
            if (this.rep0 + 1 > out.pos - dictStart)
              throw new LzmaError("a repeated byte before the dictionary");
            out.reserve(1);
            out.buf[out.pos] = out.buf[out.pos - this.rep0 - 1];
            out.pos++;
            if (left > 0) left--;
            continue;
          }
        } else {
          let dist: number;
          if (rc.bit(this.isRepG1, this.state) === 0) dist = this.rep1;
          else {
            if (rc.bit(this.isRepG2, this.state) === 0) dist = this.rep2;
            else {
              dist = this.rep3;
              this.rep3 = this.rep2;
            }
            this.rep2 = this.rep1;
          }
          this.rep1 = this.rep0;
          this.rep0 = dist;
        }
        length = this.repLen.decode(rc, posState);
        this.state = this.state < 7 ? 8 : 11;
      } else {
        this.rep3 = this.rep2;
        this.rep2 = this.rep1;
        this.rep1 = this.rep0;
        length = this.len.decode(rc, posState);
        this.state = this.state < 7 ? 7 : 10;
        this.rep0 = this.distance(rc, length);
        if (this.rep0 === 0xffffffff) {
          if (limit >= 0) throw new LzmaError("an end marker inside a sized chunk");
          return true;
        }
        if (this.rep0 >= dictSize)
          throw new LzmaError(`match distance ${this.rep0} past the dictionary size ${dictSize}`);
      }
      length += 2;
      if (this.rep0 + 1 > out.pos - dictStart)
        throw new LzmaError(`match distance ${this.rep0 + 1} before the start of the output`);
      if (left >= 0 && length > left) throw new LzmaError("a match runs past the chunk's size");
      out.reserve(length);
      const buf = out.buf;
      let from = out.pos - this.rep0 - 1;
      for (let i = 0; i < length; i++) buf[out.pos++] = buf[from++];
      if (left > 0) left -= length;
    }
    return false;
  }

  private distance(rc: RangeDecoder, length: number): number {
    const lenState = Math.min(length, 3);
    const slot = tree(rc, this.posSlot, (lenState << 6) - 1, 6);
    if (slot < 4) return slot;
    const directBits = (slot >>> 1) - 1;
    let dist = (2 | (slot & 1)) * 2 ** directBits;
    if (slot < END_POS_MODEL_INDEX)
      return dist + reverseTree(rc, this.posDecoders, dist - slot - 1, directBits);
    dist += rc.direct(directBits - 4) * 16;
    return dist + reverseTree(rc, this.align, -1, 4);
  }
}

/** The .lzma "alone" format: properties, dictionary size, uncompressed size (-1: end marker). */
export function lzmaAloneDecompress(src: Uint8Array, bound: number): Uint8Array {
  if (src.length < 13) throw new LzmaError("the .lzma header is truncated");
  const state = new LzmaState();
  state.setProperties(src[0]);
  state.reset();
  const dictSize = Math.max(4096, (src[1] | (src[2] << 8) | (src[3] << 16)) + src[4] * 2 ** 24);
  let known = true;
  let size = 0;
  for (let i = 12; i >= 5; i--) {
    if (src[i] !== 0xff) known = false;
    size = size * 256 + src[i];
  }
  if (known) size = -1;
  else if (size > bound) throw new LzmaBoundError(`the header claims ${size} bytes`);
  const out = new Output(src.length * 4, bound);
  const rc = new RangeDecoder(src, 13, src.length);
  state.decode(rc, out, size, 0, dictSize);
  return out.buf.subarray(0, out.pos);
}

function varint(src: Uint8Array, at: { pos: number }, end: number): number {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    if (at.pos >= end) throw new LzmaError("a block header ends inside a number");
    const b = src[at.pos++];
    v += (b & 0x7f) * 2 ** (7 * i);
    if (!(b & 0x80)) return v;
  }
  throw new LzmaError("a number in a block header is too long");
}

const CHECK_SIZES = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];

/** LZMA2 chunks from `pos`; returns where they end (after the end-of-stream byte). */
function lzma2(src: Uint8Array, pos: number, out: Output, dictSize: number): number {
  const state = new LzmaState();
  let dictStart = out.pos;
  let needProps = true;
  const byte = () => {
    if (pos >= src.length) throw new LzmaError("LZMA2 data ends early (truncated?)");
    return src[pos++];
  };
  for (;;) {
    const control = byte();
    if (control === 0) return pos;
    if (control === 1 || control === 2) {
      if (control === 1) dictStart = out.pos;
      const size = ((byte() << 8) | byte()) + 1;
      if (pos + size > src.length) throw new LzmaError("an uncompressed LZMA2 chunk runs past the end");
      out.reserve(size);
      out.buf.set(src.subarray(pos, pos + size), out.pos);
      out.pos += size;
      pos += size;
      continue;
    }
    if (control < 0x80) throw new LzmaError(`LZMA2 control byte 0x${control.toString(16)}`);
    const unpacked = (control & 0x1f) * 65536 + ((byte() << 8) | byte()) + 1;
    const packed = ((byte() << 8) | byte()) + 1;
    const reset = (control >>> 5) & 3;
    if (reset === 3) dictStart = out.pos;
    if (reset >= 2) {
      state.setProperties(byte());
      needProps = false;
    } else if (needProps) throw new LzmaError("an LZMA2 chunk without properties");
    if (reset >= 1) state.reset();
    if (pos + packed > src.length) throw new LzmaError("an LZMA2 chunk runs past the end");
    const rc = new RangeDecoder(src, pos, pos + packed);
    state.decode(rc, out, unpacked, dictStart, dictSize);
    pos += packed;
  }
}

/** The .xz container: stream header, blocks of LZMA2, index (skipped), footer. */
export function xzDecompress(src: Uint8Array, bound: number): Uint8Array {
  if (src.length < 12) throw new LzmaError("the .xz header is truncated");
  const check = src[7] & 0x0f;
  if (src[6] !== 0 || src[7] > 0x0f) throw new LzmaError("unknown .xz stream flags");
  const out = new Output(src.length * 4, bound);
  let pos = 12;
  for (;;) {
    if (pos >= src.length) throw new LzmaError("the .xz stream ends before its index (truncated?)");
    const headerSize = src[pos];
    if (headerSize === 0) break; // the index: every block has been read
    const end = pos + (headerSize + 1) * 4;
    if (end > src.length) throw new LzmaError("a block header runs past the end");
    const at = { pos: pos + 1 };
    const flags = src[at.pos++];
    if (flags & 0x3c) throw new LzmaError("reserved block flags are set");
    const filters = (flags & 3) + 1;
    if (flags & 0x40) varint(src, at, end);
    if (flags & 0x80) varint(src, at, end);
    let dictSize = -1;
    for (let f = 0; f < filters; f++) {
      const id = varint(src, at, end);
      const propsSize = varint(src, at, end);
      if (id !== 0x21 || propsSize !== 1 || f !== filters - 1)
        throw new LzmaError(`.xz filter 0x${id.toString(16)} is not read (only LZMA2 alone)`);
      const d = src[at.pos++];
      if (d > 40) throw new LzmaError(`LZMA2 dictionary size code ${d}`);
      dictSize = d === 40 ? 0xffffffff : (2 | (d & 1)) * 2 ** ((d >>> 1) + 11);
    }
    const start = lzma2(src, end, out, dictSize);
    pos = start;
    while ((pos - end) % 4) pos++; // block padding
    pos += CHECK_SIZES[check];
  }
  return out.buf.subarray(0, out.pos);
}
