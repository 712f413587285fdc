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
function viewsBuffer(value: unknown, buffer: ArrayBufferLike, seen: Set<object>): boolean {
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
  if (viewsBuffer(forest, buffer, new Set())) return;
  buffer.transfer(0);
}

/** ArrayBuffer.prototype.detached (ES2024), likewise undeclared. */
type Detachable = Transferable & { readonly detached?: boolean };

/** Frees an array's memory at once when the array is the whole of a buffer of its own. */
function detach(array: ArrayBufferView | null): void {
  if (!array || array.byteLength === 0 || array.byteOffset !== 0) return;
  const buffer = array.buffer as Detachable;
  if (!(buffer instanceof ArrayBuffer) || buffer.detached || typeof buffer.transfer !== "function") return;
  if (array.byteLength !== buffer.byteLength) return;
  buffer.transfer(0);
}

/**
 * Frees the memory of a Forest's trees at once (each array that is a whole buffer of its own is
 * detached; views of larger buffers are left to the collector): for a Forest its owner no longer
 * reads, compiled by a model that keeps none of it. The trees are empty arrays afterwards.
 */
export function releaseTrees(forest: Forest): void {
  for (const tree of forest.trees) {
    for (const array of [
      tree.left,
      tree.right,
      tree.feature,
      tree.test,
      tree.threshold,
      tree.flags,
      tree.leafValue,
      tree.cover,
      tree.leafId,
    ])
      detach(array);
    for (const values of tree.sets.values()) detach(values);
  }
}
