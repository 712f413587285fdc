/**
 * Freeing a model file's bytes as soon as its Forest is read. A reader's input is garbage once the
 * Forest is built, but V8 frees an ArrayBuffer only at a full collection, which a thread loading
 * a model may not run before compiling it: a 94 MB joblib file was measured alive beside its
 * compiled layout and kernel image, a third of the load's peak. Detaching the buffer frees its
 * memory at once.
 */
import type { Forest } from "./forest.js";

/** ArrayBuffer.prototype.transfer (ES2024; Node 22 and later), which the ES2022 lib does not declare. */
type Transferable = ArrayBuffer & { transfer?: (newByteLength: number) => ArrayBuffer };

/** Whether any typed array reachable from `value` is a view of `buffer`. */
export function viewsBuffer(value: unknown, buffer: ArrayBufferLike, seen = new Set<object>()): boolean {
  if (typeof value !== "object" || value === null || seen.has(value)) return false;
  seen.add(value);
  if (ArrayBuffer.isView(value)) return value.buffer === buffer;
  const children = value instanceof Map ? value.values() : Object.values(value);
  for (const child of children) if (viewsBuffer(child, buffer, seen)) return true;
  return false;
}

/**
 * Detaches (frees) the buffer under `bytes` when `bytes` is the whole of it and `forest` holds no
 * view of it; otherwise leaves it to the garbage collector. Only for bytes nobody else holds: a
 * file read by the loader, or a decompressed copy made by a reader.
 */
export function releaseInput(bytes: Uint8Array, forest: Forest): void {
  const buffer = bytes.buffer as Transferable;
  if (!(buffer instanceof ArrayBuffer) || typeof buffer.transfer !== "function") return;
  if (bytes.byteOffset !== 0 || bytes.byteLength !== buffer.byteLength) return;
  if (viewsBuffer(forest, buffer)) return;
  buffer.transfer(0);
}

/** ArrayBuffer.prototype.detached (ES2024), likewise undeclared. */
type Detachable = Transferable & { readonly detached?: boolean };

/** The buffers of the typed arrays reachable from `value`. */
function buffersOf(
  value: unknown,
  out: Set<ArrayBufferLike>,
  seen = new Set<object>(),
): Set<ArrayBufferLike> {
  if (typeof value !== "object" || value === null || seen.has(value)) return out;
  seen.add(value);
  if (ArrayBuffer.isView(value)) out.add(value.buffer);
  else
    for (const child of value instanceof Map ? value.values() : Object.values(value))
      buffersOf(child, out, seen);
  return out;
}

/**
 * Frees the memory of a Forest's trees at once, for a Forest its owner no longer reads, compiled
 * by a model that keeps `kept` of it (the Forest without its trees): every buffer the trees'
 * arrays view (a reader's own, possibly one for all of them, as scikit-learn's NodeSlab) is
 * detached, unless `kept` views it too or it is shared memory. The trees' arrays are empty
 * afterwards.
 */
export function releaseTrees(forest: Forest, kept: Forest): void {
  const keep = buffersOf(kept, new Set());
  for (const buffer of buffersOf(forest.trees, new Set())) {
    if (!keep.has(buffer)) releaseBuffer(buffer);
  }
}

/** Frees a buffer nothing reads any more at once (detaches it); shared memory is left alone. */
export function releaseBuffer(buffer: ArrayBufferLike): void {
  const own = buffer as Detachable;
  if (!(own instanceof ArrayBuffer) || own.detached || own.byteLength === 0) return;
  if (typeof own.transfer === "function") own.transfer(0);
}
