/**
 * A model compiled once and held in shared memory, so that every thread of a process can score
 * it without a copy of its own: every typed array of its Forest, compiled layout and input plan
 * lives in one SharedArrayBuffer (the arena), the kernel's image in one shared WebAssembly memory,
 * and the rest (names, head parameters, provenance) in a small header. All three pass between
 * threads by postMessage without copying the arrays (structured clone shares a SharedArrayBuffer
 * and a shared WebAssembly.Memory). A thread rebuilds a Model from them with views into the arena:
 * no parsing, no checking, no compiling (model.ts, Model.fromShared).
 *
 * The Forest's trees are packed column by column (every tree's `left` one after another, ...) and
 * turned back into per-tree views only when something asks for `forest.trees` (an explanation, a
 * leaf index): scoring reads the compiled layout only, so a thread that only scores holds a few
 * dozen views per model, not a dozen per tree.
 *
 * An array that already lives in a SharedArrayBuffer (a Model compiles its layout into one,
 * model/arrays.ts, and the tree tables are made so) goes into the header as it is: the clone
 * shares its memory, and sharing copies only the small arrays into the arena. A large model is
 * then never held twice while it is shared.
 *
 * Nothing here knows a format: it moves whatever the Forest and the compiler hold.
 */
import { arraysIn } from "./arrays.js";
import type { CompiledModel } from "./compile/compile.js";
import type { Forest, ForestTree } from "./forest/forest.js";
import type { SimdImage } from "./kernels/simd-scorer.js";
import type { KernelImage } from "./kernels/wasm-scorer.js";

type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

type TypedArrayConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedArray;

const CONSTRUCTORS: Readonly<Record<string, TypedArrayConstructor>> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

/** Keys no model field has: a reference to an array in the arena, and a packed Map. */
const ARRAY = "\u0000array";
const MAP = "\u0000map";

interface ArrayRef {
  [ARRAY]: string;
  offset: number;
  length: number;
}

/** Every tree's arrays, one after another per field, with where each tree's part starts. */
interface TreeTables {
  readonly count: number;
  /** Per tree its first node in the node arrays; count + 1 entries. */
  readonly nodeStart: Int32Array;
  readonly leafWidth: Int32Array;
  /** Per tree its first value in leafValue (numNodes × leafWidth each); count + 1 entries. */
  readonly leafStart: Int32Array;
  readonly hasCover: Uint8Array;
  readonly hasLeafId: Uint8Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  readonly feature: Int32Array;
  readonly test: Uint8Array;
  readonly threshold: Float64Array;
  readonly flags: Uint8Array;
  readonly leafValue: Float64Array;
  readonly cover: Float64Array;
  readonly leafId: Int32Array;
  /** Set nodes: tree, node, and where its values start in setValues (setStart has one more). */
  readonly setTree: Int32Array;
  readonly setNode: Int32Array;
  readonly setStart: Int32Array;
  readonly setValues: Float64Array;
}

export interface SharedModel {
  /** The model's small typed arrays, 8-byte aligned, one after another (its large ones are shared as they are). */
  readonly arena: SharedArrayBuffer;
  /**
   * The model's structure, its arrays as references into the arena or (over SharedArrayBuffers of
   * their own) themselves: a structured-clone-able value.
   */
  readonly header: unknown;
  /** The scoring kernel's image: the walk kernel's, or the SIMD kernel's where the model chose it. */
  readonly kernel: KernelImage | SimdImage;
  /** Why the walk kernel scores the model (the quantizer's refusal, or "chosen"), for ModelInfo.kernel. */
  readonly walkReason: string;
  /** Bytes the model holds in the process: the arena, the arrays shared as they are, the kernel image. */
  readonly bytes: number;
}

/** What a shared model unpacks to: the Forest (trees built on first access), its compiled form. */
export interface UnsharedParts {
  readonly forest: Forest;
  readonly compiled: CompiledModel;
  readonly numTrees: number;
}

function tablesOf(trees: readonly ForestTree[]): TreeTables {
  const count = trees.length;
  const nodeStart = new Int32Array(count + 1);
  const leafStart = new Int32Array(count + 1);
  const leafWidth = new Int32Array(count);
  const hasCover = new Uint8Array(count);
  const hasLeafId = new Uint8Array(count);
  let sets = 0;
  let setValueCount = 0;
  trees.forEach((tree, t) => {
    nodeStart[t + 1] = nodeStart[t] + tree.numNodes;
    leafStart[t + 1] = leafStart[t] + tree.numNodes * tree.leafWidth;
    leafWidth[t] = tree.leafWidth;
    hasCover[t] = tree.cover ? 1 : 0;
    hasLeafId[t] = tree.leafId ? 1 : 0;
    sets += tree.sets.size;
    for (const values of tree.sets.values()) setValueCount += values.length;
  });
  const nodes = nodeStart[count];
  // The per-node columns straight into shared memory: the only copy of them sharing makes.
  const columns = arraysIn(
    {
      left: [Int32Array, nodes],
      right: [Int32Array, nodes],
      feature: [Int32Array, nodes],
      test: [Uint8Array, nodes],
      threshold: [Float64Array, nodes],
      flags: [Uint8Array, nodes],
      leafValue: [Float64Array, leafStart[count]],
      cover: [Float64Array, hasCover.some((h) => h) ? nodes : 0],
      leafId: [Int32Array, hasLeafId.some((h) => h) ? nodes : 0],
    },
    true,
  );
  const tables: TreeTables = {
    count,
    nodeStart,
    leafWidth,
    leafStart,
    hasCover,
    hasLeafId,
    ...columns,
    setTree: new Int32Array(sets),
    setNode: new Int32Array(sets),
    setStart: new Int32Array(sets + 1),
    setValues: new Float64Array(setValueCount),
  };
  let s = 0;
  trees.forEach((tree, t) => {
    const at = nodeStart[t];
    tables.left.set(tree.left, at);
    tables.right.set(tree.right, at);
    tables.feature.set(tree.feature, at);
    tables.test.set(tree.test, at);
    tables.threshold.set(tree.threshold, at);
    tables.flags.set(tree.flags, at);
    tables.leafValue.set(tree.leafValue, leafStart[t]);
    if (tree.cover) tables.cover.set(tree.cover, at);
    if (tree.leafId) tables.leafId.set(tree.leafId, at);
    for (const [node, values] of [...tree.sets].sort(([a], [b]) => a - b)) {
      tables.setTree[s] = t;
      tables.setNode[s] = node;
      tables.setValues.set(values, tables.setStart[s]);
      tables.setStart[s + 1] = tables.setStart[s] + values.length;
      s++;
    }
  });
  return tables;
}

/** Per-tree views of the tables' columns: the Forest's trees again, without a copy. */
function treesOf(tables: TreeTables): ForestTree[] {
  const trees: ForestTree[] = [];
  let s = 0;
  for (let t = 0; t < tables.count; t++) {
    const from = tables.nodeStart[t];
    const to = tables.nodeStart[t + 1];
    const sets = new Map<number, Float64Array>();
    while (s < tables.setTree.length && tables.setTree[s] === t) {
      sets.set(tables.setNode[s], tables.setValues.subarray(tables.setStart[s], tables.setStart[s + 1]));
      s++;
    }
    trees.push({
      numNodes: to - from,
      left: tables.left.subarray(from, to),
      right: tables.right.subarray(from, to),
      feature: tables.feature.subarray(from, to),
      test: tables.test.subarray(from, to),
      threshold: tables.threshold.subarray(from, to),
      flags: tables.flags.subarray(from, to),
      sets,
      leafWidth: tables.leafWidth[t],
      leafValue: tables.leafValue.subarray(tables.leafStart[t], tables.leafStart[t + 1]),
      cover: tables.hasCover[t] ? tables.cover.subarray(from, to) : null,
      leafId: tables.hasLeafId[t] ? tables.leafId.subarray(from, to) : null,
    });
  }
  return trees;
}

/**
 * `value` with every typed array replaced by a reference, the arrays collected in `parts`; arrays
 * over a SharedArrayBuffer already stay themselves (a structured clone shares their memory),
 * their buffers collected in `own`.
 */
function pack(
  value: unknown,
  parts: { array: TypedArray; ref: ArrayRef }[],
  own: Set<SharedArrayBuffer>,
): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const array = value as TypedArray;
    if (array.buffer instanceof SharedArrayBuffer) {
      own.add(array.buffer);
      return array;
    }
    if (!(array.constructor.name in CONSTRUCTORS))
      throw new TypeError(`cannot share a ${array.constructor.name}`);
    const ref: ArrayRef = { [ARRAY]: array.constructor.name, offset: 0, length: array.length };
    parts.push({ array, ref });
    return ref;
  }
  if (value instanceof Map) return { [MAP]: [...value].map(([k, v]) => [k, pack(v, parts, own)]) };
  if (Array.isArray(value)) return value.map((v) => pack(v, parts, own));
  if (typeof value === "object" && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, pack(v, parts, own)]));
  return value;
}

function unpack(value: unknown, arena: SharedArrayBuffer): unknown {
  if (ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map((v) => unpack(v, arena));
  if (typeof value !== "object" || value === null) return value;
  const record = value as Record<string, unknown>;
  if (ARRAY in record) {
    const ref = record as unknown as ArrayRef;
    return new CONSTRUCTORS[ref[ARRAY]](arena, ref.offset, ref.length);
  }
  if (MAP in record)
    return new Map((record[MAP] as [unknown, unknown][]).map(([k, v]) => [k, unpack(v, arena)]));
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unpack(v, arena)]));
}

/**
 * A model's parts in shared memory (the kernel image already is). `numTrees` is the model's, which
 * may have dropped its Forest's trees (model.ts, needsTrees).
 */
export function shareParts(
  forest: Forest,
  numTrees: number,
  compiled: CompiledModel,
  kernel: KernelImage | SimdImage,
  walkReason: string,
): SharedModel {
  const parts: { array: TypedArray; ref: ArrayRef }[] = [];
  const own = new Set<SharedArrayBuffer>();
  const { trees, ...rest } = forest;
  const header = {
    forest: pack(rest, parts, own),
    trees: pack(tablesOf(trees), parts, own),
    numTrees,
    compiled: pack(compiled, parts, own),
  };
  let size = 0;
  for (const part of parts) {
    size = Math.ceil(size / 8) * 8;
    part.ref.offset = size;
    size += part.array.byteLength;
  }
  const arena = new SharedArrayBuffer(Math.max(8, size));
  const bytes = new Uint8Array(arena);
  for (const { array, ref } of parts)
    bytes.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), ref.offset);
  let ownBytes = 0;
  for (const buffer of own) ownBytes += buffer.byteLength;
  return { arena, header, kernel, walkReason, bytes: arena.byteLength + ownBytes + kernel.bytes };
}

/** The parts again, as views into the arena; the Forest's trees are made when first asked for. */
export function unshareParts(shared: SharedModel): UnsharedParts {
  const header = shared.header as { forest: unknown; trees: unknown; numTrees: number; compiled: unknown };
  const forest = unpack(header.forest, shared.arena) as Omit<Forest, "trees">;
  const tables = header.trees;
  let trees: ForestTree[] | null = null;
  Object.defineProperty(forest, "trees", {
    enumerable: true,
    get: () => {
      trees ??= treesOf(unpack(tables, shared.arena) as TreeTables);
      return trees;
    },
  });
  return {
    forest: forest as Forest,
    compiled: unpack(header.compiled, shared.arena) as CompiledModel,
    numTrees: header.numTrees,
  };
}
