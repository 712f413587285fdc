/**
 * An MLflow folder as one byte string: its MLmodel file and the one model file its flavor names,
 * nothing else. The primary fetches a folder (a directory, an S3 prefix, an HTTPS index) file by
 * file and packs it; everything downstream of a fetch — the MODEL_SHA256 pin, the cache, the
 * generation's snapshot, the workers' digest check, the scoring threads — keeps handling one byte
 * string per model, and `loadModel` reads a bundle like any model file.
 *
 *   "FDMLFLW1"                       magic (8 bytes)
 *   per file: u32 name length, name (UTF-8, a path inside the folder),
 *             u32 high and u32 low halves of the content's length, content
 *
 * Little-endian. Files in the order packed (MLmodel first), so the same folder always packs to the
 * same bytes and the same SHA-256.
 */
import { ModelError } from "../errors.js";

const MAGIC = "FDMLFLW1";
const MAX_FILES = 8;
const MAX_NAME = 1024;

export function isMlflowBundle(bytes: Uint8Array): boolean {
  if (bytes.length < MAGIC.length) return false;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) return false;
  return true;
}

/** Packs files (name → content) in the order given. */
export function packMlflowBundle(files: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  const encoded = files.map(([name, data]) => [new TextEncoder().encode(name), data] as const);
  const size = MAGIC.length + encoded.reduce((n, [name, data]) => n + 12 + name.length + data.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  let at = MAGIC.length;
  for (const [name, data] of encoded) {
    view.setUint32(at, name.length, true);
    out.set(name, at + 4);
    at += 4 + name.length;
    view.setUint32(at, Math.floor(data.length / 2 ** 32), true);
    view.setUint32(at + 4, data.length >>> 0, true);
    out.set(data, at + 8);
    at += 8 + data.length;
  }
  return out;
}

function syntax(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", `MLflow bundle: ${message}`);
}

/** The files of a bundle, name → content (views into `bytes`, not copies). */
export function unpackMlflowBundle(bytes: Uint8Array): Map<string, Uint8Array> {
  if (!isMlflowBundle(bytes)) syntax(`it does not start with "${MAGIC}"`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const files = new Map<string, Uint8Array>();
  let at = MAGIC.length;
  while (at < bytes.length) {
    if (files.size === MAX_FILES) syntax(`more than ${MAX_FILES} files`);
    if (at + 4 > bytes.length) syntax(`a file's name length is cut short at byte ${at}`);
    const nameLength = view.getUint32(at, true);
    if (nameLength === 0 || nameLength > MAX_NAME || at + 4 + nameLength + 8 > bytes.length)
      syntax(`the name at byte ${at} claims ${nameLength} bytes`);
    const name = new TextDecoder("utf-8").decode(bytes.subarray(at + 4, at + 4 + nameLength));
    at += 4 + nameLength;
    const length = view.getUint32(at, true) * 2 ** 32 + view.getUint32(at + 4, true);
    if (length > bytes.length - at - 8)
      syntax(`"${name.slice(0, 80)}" claims ${length} bytes at byte ${at}, more than remain`);
    if (files.has(name)) syntax(`"${name.slice(0, 80)}" appears twice`);
    files.set(name, bytes.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  return files;
}
