// The slice of the WebAssembly JS API that the kernels use. Node has it globally, but its
// type declarations live in TypeScript's DOM library, which a server build should not pull in.
declare namespace WebAssembly {
  /** Whether these bytes are a module this engine compiles (simd-scorer.ts asks it of relaxed SIMD). */
  function validate(bytes: BufferSource): boolean;
  class Module {
    constructor(bytes: BufferSource);
  }
  class Memory {
    /** `shared`: backed by a SharedArrayBuffer that other threads may use (needs `maximum`). */
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    /** An ArrayBuffer, or a SharedArrayBuffer for a shared memory (of its length when read). */
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    /** Adds `pages` 64 KiB pages; returns the size in pages before (atomically, for a shared memory). */
    grow(pages: number): number;
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
}
type BufferSource = ArrayBufferView | ArrayBuffer;
