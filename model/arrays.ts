/**
 * Typed arrays laid out one after another (8-byte aligned) in one buffer, a SharedArrayBuffer when
 * other threads are to read them (model/shared.ts passes such arrays on as they are).
 *
 * Why one buffer: a large model's arrays are tens of megabytes each, and the C allocator under V8
 * puts an allocation below its (adaptive, up to 32 MiB) mmap threshold in a thread's malloc arena.
 * A long-lived array there pins the arena's free memory below it (the garbage of loading the model:
 * its Forest, the compiler's scratch), which stays resident after it is freed. One buffer of them
 * all is past that threshold for any model large enough to matter, so it is mapped on its own, and
 * what loading leaves in the arena can be returned to the system.
 */

type TypedArray = Int32Array | Uint8Array | Uint32Array | Float32Array | Float64Array;

interface ArrayType<T extends TypedArray> {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** Each array's type and length, by name. */
export type ArraySpecs = Record<string, readonly [ArrayType<TypedArray>, number]>;

export type ArraysOf<S extends ArraySpecs> = { [K in keyof S]: InstanceType<S[K][0]> };

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/** Zeroed arrays as `specs` says, in one buffer (shared or not). */
export function arraysIn<S extends ArraySpecs>(specs: S, shared: boolean): ArraysOf<S> {
  let size = 0;
  for (const [type, length] of Object.values(specs)) size = align8(size) + length * type.BYTES_PER_ELEMENT;
  const buffer = shared ? new SharedArrayBuffer(Math.max(8, size)) : new ArrayBuffer(size);
  const out: Record<string, TypedArray> = {};
  let at = 0;
  for (const [name, [type, length]] of Object.entries(specs)) {
    at = align8(at);
    out[name] = new type(buffer, at, length);
    at += length * type.BYTES_PER_ELEMENT;
  }
  return out as ArraysOf<S>;
}
