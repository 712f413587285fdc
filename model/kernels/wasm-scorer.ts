/**
 * Runs model/kernels/kernel.wat over a compiled forest: lays the forest out in (shared) WebAssembly
 * memory once (buildKernelImage), then scores rows in chunks, copying each chunk's kernel rows in and
 * its margins out of a scratch region of its own.
 *
 * Trees are scored in model order by the WebAssembly kernel (its float32 or float64 build, as the
 * forest adds leaves), numeric and set splits alike: the image holds each set split's category
 * bitset beside the nodes. Forests whose trees combine by min or max (ONNX's MIN / MAX aggregates,
 * rare) are scored by the JavaScript kernel (score.ts), on views of the same memory.
 */
import { KERNEL_F32_WASM_BASE64, KERNEL_F64_WASM_BASE64 } from "./kernel-wasm.js";
import { type CompiledForest, LEAF } from "./layout.js";
import { accumulateMargins } from "./score.js";

/** What kernel.wat exports (tests call the entries directly too). */
export interface KernelExports {
  setup(nodes: number, leaves: number, trees: number, sets: number, pos: number): void;
  scoreBlock(
    values: number,
    m: number,
    nf: number,
    t0: number,
    t1: number,
    margins: number,
    groups: number,
    dense: number,
  ): void;
  scoreRowDense4(row: number, t0: number, t1: number, margins: number): number;
  scoreRow(row: number, t0: number, t1: number, margins: number, dense: number): void;
}

/** Rows walked together, level by level, in scoreBlock: enough to overlap their loads. */
const BLOCK_ROWS = 64;
/**
 * Input values copied into WebAssembly memory per chunk (bytes). A chunk costs two copies whatever
 * its size, against blocks of 64 rows scored tree by tree: small chunks cost nothing measurable,
 * and each thread scoring a model keeps one chunk of scratch per model.
 */
const CHUNK_BYTES = 16 << 10;
const PAGE = 65536;
/**
 * Scratch regions a shared image has room for: every scoring thread (THREADS is at most 256), the
 * event loop's inline scorer, and replacements of threads stuck past TIMEOUT. Past it a user lays
 * the model out in memory of its own.
 */
const MAX_USERS = 320;

const compiledKernels: { f32?: WebAssembly.Module; f64?: WebAssembly.Module } = {};
function kernelModule(precision: "f32" | "f64"): WebAssembly.Module {
  compiledKernels[precision] ??= new WebAssembly.Module(
    Buffer.from(precision === "f32" ? KERNEL_F32_WASM_BASE64 : KERNEL_F64_WASM_BASE64, "base64"),
  );
  return compiledKernels[precision];
}

/**
 * A compiled forest laid out for the WebAssembly kernel in shared memory: the image (nodes, leaves,
 * trees, category sets) written once, read by every user; each user (a scoring thread, the event
 * loop) grows the memory by a scratch region of its own. The memory can be posted to other threads
 * of the process.
 */
export interface KernelImage {
  readonly kind: "walk";
  readonly memory: WebAssembly.Memory;
  readonly nodesAt: number;
  readonly leavesAt: number;
  readonly treesAt: number;
  readonly setsAt: number;
  /** Bytes of the image (what a model's compiled size counts), before any scratch. */
  readonly bytes: number;
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;
/** A tree in the image: [root][depth][group][flags], i32 each. */
const TREE_BYTES = 16;
/** Tree flags (kernel.wat): the tree has set splits; it is unbalanced (single rows walk it to the leaf). */
const HAS_SETS = 1;
const UNBALANCED = 2;
/**
 * How far short of a tree's depth its leaves' mean depth must fall for single rows to walk it to
 * the leaf: LightGBM's leaf-wise trees fall 3–8 levels short, XGBoost's depth-wise ones 0.1–0.2
 * (whose fixed-length walks the CPU predicts better than a test for the leaf).
 */
const UNBALANCED_GAP = 1;

/** Compiled tree t's kernel flags. Its nodes are contiguous, breadth first from its root. */
export function treeFlags(forest: CompiledForest, t: number): number {
  const { feature, left, roots } = forest;
  const end = t + 1 < roots.length ? roots[t + 1] : feature.length;
  const depth = new Int32Array(end - roots[t]);
  let leaves = 0;
  let leafDepths = 0;
  for (let n = roots[t]; n < end; n++) {
    const d = depth[n - roots[t]];
    if (feature[n] === LEAF) {
      leaves++;
      leafDepths += d;
    } else {
      depth[left[n] - roots[t]] = d + 1;
      depth[left[n] + 1 - roots[t]] = d + 1;
    }
  }
  const unbalanced = forest.depths[t] - leafDepths / leaves >= UNBALANCED_GAP;
  return (forest.categorical[t] ? HAS_SETS : 0) | (unbalanced ? UNBALANCED : 0);
}

/** The scratch one user of `forest` needs: rows per chunk, and where pos, values and margins go. */
function scratchLayout(forest: CompiledForest) {
  const numFeature = forest.numColumns;
  const valueBytes = forest.precision === "f32" ? 4 : 8;
  // Whole blocks only: a chunk that ends in a part-block walks every tree once more for a few rows
  // (20 features: 204-row chunks ended in 12-row blocks, 8% slower at 10 000 rows than 192).
  const fits = Math.floor(CHUNK_BYTES / Math.max(4, numFeature * 4) / BLOCK_ROWS) * BLOCK_ROWS;
  const chunkRows = Math.max(BLOCK_ROWS, Math.min(4096, fits));
  const posAt = 0;
  const valuesAt = posAt + BLOCK_ROWS * 4;
  const marginsAt = align8(valuesAt + chunkRows * numFeature * 4);
  const bytes = marginsAt + chunkRows * forest.numGroups * valueBytes;
  return { chunkRows, posAt, valuesAt, marginsAt, pages: Math.max(1, Math.ceil(bytes / PAGE)) };
}

/** Where buildKernelImage puts `forest`'s nodes, leaves, trees and category sets, and its bytes. */
function imageLayout(forest: CompiledForest) {
  const valueBytes = forest.precision === "f32" ? 4 : 8;
  const numNodes = forest.feature.length;
  const nodesAt = 0;
  const leavesAt = nodesAt + numNodes * 16;
  const treesAt = align8(leavesAt + numNodes * valueBytes);
  const setsAt = treesAt + forest.roots.length * TREE_BYTES;
  const bytes = setsAt + forest.catBits.length * 4;
  return { valueBytes, nodesAt, leavesAt, treesAt, setsAt, bytes };
}

/** Bytes `forest`'s kernel image takes (nodes, leaves, trees, sets), as buildKernelImage lays it out. */
export function kernelImageBytes(forest: CompiledForest): number {
  return imageLayout(forest).bytes;
}

/** A new shared memory for an image of `bytes`, with room for MAX_USERS scratch regions after it. */
function imageMemory(forest: CompiledForest, bytes: number): WebAssembly.Memory {
  const initial = Math.max(1, Math.ceil(bytes / PAGE));
  const maximum = Math.min(65536, initial + scratchLayout(forest).pages * MAX_USERS);
  return new WebAssembly.Memory({ initial, maximum, shared: true });
}

/**
 * A copy of `image` in a memory of its own (for a user the image has no room left for): its bytes
 * as they are, so it serves a forest whose nodes are in the image only too.
 */
export function copyKernelImage(image: KernelImage, forest: CompiledForest): KernelImage {
  const memory = imageMemory(forest, image.bytes);
  new Uint8Array(memory.buffer).set(new Uint8Array(image.memory.buffer, 0, image.bytes));
  return { ...image, memory };
}

/** Lays `forest` out in a new shared memory, with room for MAX_USERS scratch regions after it. */
export function buildKernelImage(forest: CompiledForest): KernelImage {
  if (forest.imageOnly) throw new Error("the forest's nodes are in its kernel image only: copy the image");
  const numNodes = forest.feature.length;
  const numTrees = forest.roots.length;
  const { valueBytes, nodesAt, leavesAt, treesAt, setsAt, bytes } = imageLayout(forest);
  const memory = imageMemory(forest, bytes);
  const i32 = new Int32Array(memory.buffer);
  const f32 = new Float32Array(memory.buffer);
  const leaves = forest.precision === "f32" ? f32 : new Float64Array(memory.buffer);
  const leafIndex = leavesAt / valueBytes;
  const { feature, threshold, leaf, left, missingRight, catFeature, catOffset, catWords } = forest;
  for (let n = 0; n < numNodes; n++) {
    const k = (nodesAt >> 2) + n * 4;
    const f = feature[n];
    if (f >= 0) {
      i32[k] = f;
      f32[k + 1] = threshold[n];
      i32[k + 2] = left[n];
      i32[k + 3] = missingRight[n];
    } else if (f === LEAF) {
      // A leaf loops to itself: NaN threshold and no missing-value detour keep every row on it.
      i32[k] = 0;
      f32[k + 1] = Number.NaN;
      i32[k + 2] = n;
      i32[k + 3] = 0;
      leaves[leafIndex + n] = leaf[n];
    } else {
      // Set split c: its column as -1 - column (the sign tells the kernel), its first word in
      // `sets`, and its word count beside missingRight (the compiler caps all sets at 2^24 words).
      const c = -2 - f;
      i32[k] = -1 - catFeature[c];
      i32[k + 1] = catOffset[c];
      i32[k + 2] = left[n];
      i32[k + 3] = missingRight[n] | (catWords[c] << 1);
    }
  }
  for (let t = 0; t < numTrees; t++) {
    const k = (treesAt >> 2) + t * (TREE_BYTES >> 2);
    i32[k] = forest.roots[t];
    i32[k + 1] = forest.depths[t];
    i32[k + 2] = forest.groups[t];
    i32[k + 3] = treeFlags(forest, t);
  }
  new Uint32Array(memory.buffer, setsAt, forest.catBits.length).set(forest.catBits);
  return { kind: "walk", memory, nodesAt, leavesAt, treesAt, setsAt, bytes };
}

export class WasmScorer {
  readonly #forest: CompiledForest;
  readonly #kernel: KernelExports;
  /** Sums go to the WebAssembly kernel; min / max forests to the JavaScript one. */
  readonly #inWasm: boolean;
  readonly #numTrees: number;
  readonly #numFeature: number;
  readonly #groups: number;
  readonly #chunkRows: number;
  readonly #valuesAt: number;
  readonly #marginsAt: number;
  readonly #f32: Float32Array;
  /** Margins in WebAssembly memory: float32 or float64, as the forest adds leaves. */
  readonly #margins: Float32Array | Float64Array;
  /** Bytes of the image this scorer reads (shared with the image's other users). */
  readonly imageBytes: number;
  /** Bytes of this user's own scratch region. */
  readonly scratchBytes: number;

  /**
   * A scorer of `forest`, reading `image` (laid out for it by buildKernelImage, possibly in another
   * thread) with a scratch region of its own grown past it; without an image, one of its own.
   */
  constructor(forest: CompiledForest, image: KernelImage = buildKernelImage(forest)) {
    // (A forest whose nodes are in its image only is always given its image.)
    this.#forest = forest;
    this.#numFeature = forest.numColumns;
    this.#groups = forest.numGroups;
    this.#inWasm = forest.reduce === "sum";
    this.#numTrees = forest.roots.length;
    const scratch = scratchLayout(forest);
    this.#chunkRows = scratch.chunkRows;
    let base: number;
    try {
      // memory.grow on a shared memory is atomic: the pages it returns are this user's alone.
      base = image.memory.grow(scratch.pages) * PAGE;
    } catch {
      // The image has no room left for another user (many stuck threads replaced): a copy of one's own.
      image = copyKernelImage(image, forest);
      base = image.memory.grow(scratch.pages) * PAGE;
    }
    this.imageBytes = image.bytes;
    this.scratchBytes = scratch.pages * PAGE;
    this.#valuesAt = base + scratch.valuesAt;
    this.#marginsAt = base + scratch.marginsAt;
    const instance = new WebAssembly.Instance(kernelModule(forest.precision), {
      env: { memory: image.memory },
    });
    this.#kernel = instance.exports as unknown as KernelExports;
    // The buffer as it is now, grown: this user's views reach its scratch.
    this.#f32 = new Float32Array(image.memory.buffer);
    this.#margins = forest.precision === "f32" ? this.#f32 : new Float64Array(image.memory.buffer);
    this.#kernel.setup(image.nodesAt, image.leavesAt, image.treesAt, image.setsAt, base + scratch.posAt);
  }

  /**
   * Adds every tree's leaves to `margins` (rows × groups, pre-filled with the initial margins; NaN
   * for min/max forests), for `rows` kernel rows (the input plan's columns).
   */
  accumulate(values: Float32Array, rows: number, margins: Float32Array | Float64Array): void {
    const nf = this.#numFeature;
    const groups = this.#groups;
    const f32 = this.#f32;
    const memoryMargins = this.#margins;
    const valuesIndex = this.#valuesAt >> 2;
    const marginsIndex = this.#marginsAt / memoryMargins.BYTES_PER_ELEMENT;
    for (let chunkStart = 0; chunkStart < rows; chunkStart += this.#chunkRows) {
      const chunkRows = Math.min(this.#chunkRows, rows - chunkStart);
      f32.set(values.subarray(chunkStart * nf, (chunkStart + chunkRows) * nf), valuesIndex);
      memoryMargins.set(
        margins.subarray(chunkStart * groups, (chunkStart + chunkRows) * groups),
        marginsIndex,
      );
      if (!this.#inWasm) this.#scoreInJs(chunkRows);
      else if (chunkRows === 1) this.#scoreRow();
      else {
        for (let b = 0; b < chunkRows; b += BLOCK_ROWS)
          this.#scoreBlock(b, Math.min(BLOCK_ROWS, chunkRows - b));
      }
      margins.set(
        memoryMargins.subarray(marginsIndex, marginsIndex + chunkRows * groups),
        chunkStart * groups,
      );
    }
  }

  #hasMissing(from: number, count: number): boolean {
    const f32 = this.#f32;
    for (let i = from; i < from + count; i++) if (Number.isNaN(f32[i])) return true;
    return false;
  }

  #scoreBlock(firstRow: number, m: number): void {
    const nf = this.#numFeature;
    const groups = this.#groups;
    const valuesByte = this.#valuesAt + firstRow * nf * 4;
    const marginsByte = this.#marginsAt + firstRow * groups * this.#margins.BYTES_PER_ELEMENT;
    const dense = this.#hasMissing(valuesByte >> 2, m * nf) ? 0 : 1;
    this.#kernel.scoreBlock(valuesByte, m, nf, 0, this.#numTrees, marginsByte, groups, dense);
  }

  #scoreRow(): void {
    const numTrees = this.#numTrees;
    if (this.#hasMissing(this.#valuesAt >> 2, this.#numFeature))
      this.#kernel.scoreRow(this.#valuesAt, 0, numTrees, this.#marginsAt, 0);
    else {
      const rest = this.#kernel.scoreRowDense4(this.#valuesAt, 0, numTrees, this.#marginsAt);
      this.#kernel.scoreRow(this.#valuesAt, rest, numTrees, this.#marginsAt, 1);
    }
  }

  /** A min / max forest's chunk of rows, all trees, by the JavaScript kernel on views of the scratch. */
  #scoreInJs(rows: number): void {
    const nf = this.#numFeature;
    const groups = this.#groups;
    const values = this.#f32.subarray(this.#valuesAt >> 2, (this.#valuesAt >> 2) + rows * nf);
    const at = this.#marginsAt / this.#margins.BYTES_PER_ELEMENT;
    const margins = this.#margins.subarray(at, at + rows * groups);
    accumulateMargins(this.#forest, values, nf, rows, margins, groups, 0, this.#numTrees);
  }
}
