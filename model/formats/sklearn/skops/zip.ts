/**
 * The entries of a zip archive (a .skops file), read through the central directory with every
 * offset and size checked; deflated entries are inflated by Node's zlib, bounded by the size the
 * directory declares, so a lying entry cannot grow past it. Written here rather than taken from npm:
 * skops writes plain stored or deflated entries (Python's zipfile), which this covers in a page.
 */
import { inflateRawSync } from "node:zlib";
import { ModelError } from "../../../errors.js";

function syntax(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", `zip: ${message}`);
}

export interface ZipLimits {
  readonly maxEntries: number;
  /** Bytes all entries may inflate to together (see container.ts outputBound: size and ratio). */
  readonly maxTotal: number;
}

/** The archive's entries by name (contents decompressed). */
export function unzip(bytes: Uint8Array, limits: ZipLimits): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // the end of central directory record: within the last 64 KiB + 22 bytes
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) syntax("no end of central directory (truncated?)");
  const count = view.getUint16(eocd + 10, true);
  const dirSize = view.getUint32(eocd + 12, true);
  const dirOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || dirOffset === 0xffffffff) syntax("zip64 archives are not read");
  if (count > limits.maxEntries)
    throw new ModelError(
      "FORESTD_ERR_MODEL_TOO_LARGE",
      `zip: ${count} entries; the limit is ${limits.maxEntries}`,
    );
  if (dirOffset + dirSize > eocd) syntax("the central directory runs past its end record");
  const out = new Map<string, Uint8Array>();
  let total = 0;
  let p = dirOffset;
  for (let e = 0; e < count; e++) {
    if (p + 46 > eocd || view.getUint32(p, true) !== 0x02014b50)
      syntax(`central directory entry ${e} is damaged`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const compressed = view.getUint32(p + 20, true);
    const size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    const local = view.getUint32(p + 42, true);
    if (p + 46 + nameLength > eocd) syntax(`entry ${e}'s name runs past the directory`);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength));
    p += 46 + nameLength + extraLength + commentLength;
    if (flags & 1) throw new ModelError("FORESTD_ERR_MODEL_UNSUPPORTED", `zip entry ${name} is encrypted`);
    if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50)
      syntax(`entry ${name}'s local header is damaged`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + compressed > bytes.length) syntax(`entry ${name} runs past the end of the file`);
    total += size;
    if (total > limits.maxTotal)
      throw new ModelError(
        "FORESTD_ERR_MODEL_TOO_LARGE",
        `zip: the entries decompress to more than ${limits.maxTotal} bytes: refused as a compression bomb`,
      );
    const data = bytes.subarray(start, start + compressed);
    let content: Uint8Array;
    if (method === 0) {
      if (compressed !== size) syntax(`stored entry ${name} has two sizes`);
      content = data;
    } else if (method === 8) {
      try {
        const inflated = inflateRawSync(data, { maxOutputLength: Math.max(1, size) });
        content = new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength);
      } catch (err) {
        syntax(`entry ${name} does not inflate to its declared ${size} bytes (${(err as Error).message})`);
      }
      if (content.length !== size) syntax(`entry ${name} inflates to ${content.length} bytes, not ${size}`);
    } else
      throw new ModelError(
        "FORESTD_ERR_MODEL_UNSUPPORTED",
        `zip entry ${name} uses compression method ${method}`,
      );
    if (out.has(name)) syntax(`entry ${name} appears twice`);
    out.set(name, content);
  }
  return out;
}
