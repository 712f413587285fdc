/**
 * LZ4 frames (the format joblib's compress="lz4" writes through python-lz4's LZ4FrameFile), decoded
 * with every length and offset checked and the output bounded. Written here rather than taken from
 * npm: the pure-JS decoder there (lz4js) has not been released since 2017 and reads past its input
 * unchecked; the others are native addons. The frame format: https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md;
 * the block format: doc/lz4_Block_format.md. Checksums are not verified (the pickle reader checks
 * everything it reads).
 */

const MAGIC = 0x184d2204;

export class Lz4Error extends Error {}

/** Thrown when the output would pass `bound` bytes. */
export class Lz4BoundError extends Error {}

class Output {
  buf: Uint8Array;
  pos = 0;
  constructor(
    initial: number,
    private readonly bound: number,
  ) {
    this.buf = new Uint8Array(Math.max(64, Math.min(initial, bound)));
  }
  reserve(n: number): void {
    const need = this.pos + n;
    if (need > this.bound) throw new Lz4BoundError(`more than ${this.bound} bytes`);
    if (need <= this.buf.length) return;
    let size = this.buf.length;
    while (size < need) size *= 2;
    const next = new Uint8Array(Math.min(size, this.bound));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
}

function u32(src: Uint8Array, at: number): number {
  if (at + 4 > src.length) throw new Lz4Error("truncated");
  return (src[at] | (src[at + 1] << 8) | (src[at + 2] << 16)) + src[at + 3] * 2 ** 24;
}

function decodeBlock(src: Uint8Array, start: number, end: number, out: Output): void {
  let s = start;
  const byte = () => {
    if (s >= end) throw new Lz4Error("a block ends inside a sequence");
    return src[s++];
  };
  while (s < end) {
    const token = byte();
    let literals = token >>> 4;
    if (literals === 15) {
      let b: number;
      do {
        b = byte();
        literals += b;
      } while (b === 255);
    }
    if (s + literals > end) throw new Lz4Error("literals run past the block");
    out.reserve(literals);
    out.buf.set(src.subarray(s, s + literals), out.pos);
    out.pos += literals;
    s += literals;
    if (s === end) return; // the last sequence has literals only
    const offset = byte() | (byte() << 8);
    if (offset === 0 || offset > out.pos)
      throw new Lz4Error(`match offset ${offset} before the start of the output`);
    let length = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        b = byte();
        length += b;
      } while (b === 255);
    }
    out.reserve(length);
    const buf = out.buf;
    let from = out.pos - offset;
    for (let i = 0; i < length; i++) buf[out.pos++] = buf[from++];
  }
}

/** Decodes one or more concatenated LZ4 frames; throws Lz4BoundError past `bound` output bytes. */
export function lz4Decompress(src: Uint8Array, bound: number): Uint8Array {
  const out = new Output(src.length * 4, bound);
  let s = 0;
  while (s < src.length) {
    const magic = u32(src, s);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      // a skippable frame
      s += 8 + u32(src, s + 4);
      continue;
    }
    if (magic !== MAGIC) throw new Lz4Error(`not an LZ4 frame (magic 0x${magic.toString(16)})`);
    s += 4;
    if (s + 2 > src.length) throw new Lz4Error("truncated frame header");
    const flg = src[s++];
    s++; // BD: the block size only sizes buffers, which grow here as needed
    if (flg >>> 6 !== 1) throw new Lz4Error(`frame version ${flg >>> 6}`);
    const blockChecksum = (flg & 0x10) !== 0;
    const contentSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    if (flg & 0x01) throw new Lz4Error("frames with a dictionary id are not read");
    if (contentSize) s += 8;
    s++; // header checksum
    for (;;) {
      const word = u32(src, s);
      s += 4;
      if (word === 0) break;
      const size = word & 0x7fffffff;
      if (s + size > src.length) throw new Lz4Error("a block runs past the end of the file");
      if (word & 0x80000000) {
        out.reserve(size);
        out.buf.set(src.subarray(s, s + size), out.pos);
        out.pos += size;
      } else decodeBlock(src, s, s + size, out);
      s += size + (blockChecksum ? 4 : 0);
    }
    if (contentChecksum) s += 4;
    if (s > src.length) throw new Lz4Error("truncated frame");
  }
  return out.buf.subarray(0, out.pos);
}
