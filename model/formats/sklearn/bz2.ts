/**
 * bzip2 (joblib's compress="bz2", Python's BZ2File) through seek-bzip: pure JavaScript, maintained
 * (2.0.0, December 2024), synchronous, and driven here through byte streams so that reading past
 * the input is "truncated" rather than undefined bytes, and the output is bounded as it is written.
 */
import Bunzip from "seek-bzip";

export class Bz2Error extends Error {}

export class Bz2BoundError extends Error {}

export function bz2Decompress(src: Uint8Array, bound: number): Uint8Array {
  let pos = 0;
  const input = {
    readByte(): number {
      if (pos >= src.length) throw new Bz2Error("truncated");
      return src[pos++];
    },
    read(buffer: Uint8Array, offset: number, length: number): number {
      let n = 0;
      while (n < length && pos < src.length) buffer[offset + n++] = src[pos++];
      return n === 0 && length > 0 ? -1 : n;
    },
    seek(to: number): void {
      pos = to;
    },
    eof(): boolean {
      return pos >= src.length;
    },
  };
  let buf = new Uint8Array(Math.max(1024, Math.min(src.length * 4, bound)));
  let size = 0;
  const output = {
    writeByte(byte: number): void {
      if (size >= buf.length) {
        if (size >= bound) throw new Bz2BoundError(`more than ${bound} bytes`);
        const next = new Uint8Array(Math.min(buf.length * 2, bound));
        next.set(buf);
        buf = next;
      }
      buf[size++] = byte;
    },
  };
  try {
    Bunzip.decode(input, output, true);
  } catch (e) {
    if (e instanceof Bz2BoundError || e instanceof Bz2Error) throw e;
    throw new Bz2Error(e instanceof Error ? e.message : String(e));
  }
  return buf.subarray(0, size);
}
