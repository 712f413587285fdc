/**
 * Runs the SIMD kernel (scripts/kernels/simd-kernel.ts, committed as simd-kernel-wasm.ts) over a
 * binned forest (binned-layout.ts): lays the forest out once in a shared WebAssembly memory (the
 * image: trees, nodes, leaves, bin descriptors, tables and cuts; buildSimdImage), which every
 * thread of the process may score with (a SimdImage posts to another thread without a copy, as the
 * walk kernel's KernelImage does). Each user (a scoring thread, the event loop) grows the memory
 * by a scratch region of its own (rows, bins, margins, the kernel's 256 bytes of scratch), then per
 * chunk of rows copies the rows in, bins them (bin-search.ts's tables), adds every tree's leaves to
 * the margins and copies the margins out. Nobody writes the image after it is built: no atomics.
 *
 * Rows are scored in blocks of 16 (the lanes of one v128) and trees in tiles: every block of a
 * chunk walks one tile of trees before the next tile starts, so a tile's nodes are read from L2
 * (or L1) once per block instead of the whole model from L3. Leaves are still added in model
 * order for every row: tiles and the trees in them go in order.
 *
 * The relaxed-SIMD build is used where the engine validates it (V8 has shipped relaxed SIMD since
 * 11.4: Node 22 and 24 enable it by default), else the plain SIMD build.
 */
import { binSearchFor } from "./bin-search.js";
import type { BinnedForest } from "./binned-layout.js";
import { SIMD_KERNEL_RELAXED_WASM_BASE64, SIMD_KERNEL_WASM_BASE64 } from "./simd-kernel-wasm.js";

type ScoreBlocks = (g0: number, g1: number, t0: number, t1: number, f64: number) => void;
type ScoreRow = (gp: number, mp: number, t0: number, t1: number, f64: number) => void;
type BinRows = (rows: number, rowBytes: number, count: number, descs: number, numDescs: number) => void;

interface SimdExports {
  setup(
    trees: number,
    bins: number,
    blockBins: number,
    margins: number,
    blockMargins: number,
    scratch: number,
    topLevels: number,
  ): void;
  [name: string]: unknown;
}

/** Bin descriptor fields (bytes), as scripts/kernels/simd-kernel.ts reads them. */
const DESC = {
  source: 0,
  flags: 4,
  left: 8,
  right: 12,
  cuts: 16,
  table: 20,
  cutsAt: 24,
  steps: 28,
  last: 32,
  variant: 36,
  lo: 40,
  scale: 48,
};
const DESC_BYTES = 64;
/** Halvings the kernel's binning functions write out; more take its looping variant. */
const UNROLLED_STEPS = 4;
const TREE_BYTES = 32;
const SCRATCH_BYTES = 256;
const PAGE = 65536;
/**
 * Scratch regions a shared image has room for, as in wasm-scorer.ts (every scoring thread, the
 * event loop, replacements of stuck threads); past it a user lays the image out again for itself.
 */
const MAX_USERS = 320;
/** Rows up to this many are walked one by one (scoreRow) instead of as a block of 16 lanes. */
const ROW_BY_ROW_MAX = 3;
/** Bins of one chunk (bytes): with a tile of trees, well inside L2. */
const CHUNK_BIN_BYTES = 128 << 10;
/** Rows copied in at once, at most. */
const CHUNK_ROWS_MAX = 2048;
/** A tile's nodes and leaves (bytes). */
const TILE_BYTES = 48 << 10;

const modules: { relaxed?: WebAssembly.Module | null; plain?: WebAssembly.Module } = {};

/** The relaxed-SIMD build when this engine validates it, else null. */
function relaxedModule(): WebAssembly.Module | null {
  if (modules.relaxed === undefined) {
    const bytes = Buffer.from(SIMD_KERNEL_RELAXED_WASM_BASE64, "base64");
    modules.relaxed = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return modules.relaxed;
}

function plainModule(): WebAssembly.Module {
  modules.plain ??= new WebAssembly.Module(Buffer.from(SIMD_KERNEL_WASM_BASE64, "base64"));
  return modules.plain;
}

/** Whether the relaxed-SIMD build runs here. */
export function relaxedSimdAvailable(): boolean {
  return relaxedModule() !== null;
}

export interface SimdImageOptions {
  /** For tests: a tile's bytes (small: a tree a tile). */
  tileBytes?: number;
}

/**
 * A binned forest laid out for the SIMD kernel in shared memory, with what a user needs to score it
 * (plain numbers: the whole object is structured-clone-able and shares its memory when posted).
 */
export interface SimdImage {
  readonly kind: "simd";
  readonly memory: WebAssembly.Memory;
  /** Bytes of the image (what a model's compiled size counts), before any scratch. */
  readonly bytes: number;
  readonly width: 8 | 16;
  readonly topLevels: number;
  readonly input: "f32" | "f64";
  readonly precision: "f32" | "f64";
  readonly numGroups: number;
  readonly numColumns: number;
  /** Values a row brings (the features the bin descriptors read). */
  readonly numFeature: number;
  readonly numBinColumns: number;
  readonly treesAt: number;
  readonly descsAt: number;
  /** Trees where each tile starts, then the number of trees. */
  readonly tiles: readonly number[];
  /** A one-line description of the layout, for ModelInfo.kernel. */
  readonly description: string;
}

/** The scratch one user of an image needs: rows per chunk, where each part goes, its pages. */
function scratchLayout(image: Omit<SimdImage, "memory" | "bytes" | "kind" | "description">) {
  const binBytes = image.width / 8;
  const valueBytes = image.precision === "f32" ? 4 : 8;
  const inputBytes = image.input === "f32" ? 4 : 8;
  // One spare column takes the bins of absent missing sides.
  const blockBins = (image.numColumns + 1) * 16 * binBytes;
  const blockMargins = image.numGroups * 16 * valueBytes;
  const rowBytes = Math.max(1, image.numFeature) * inputBytes;
  const byBins = Math.floor(CHUNK_BIN_BYTES / blockBins) * 16;
  const byRows = Math.floor((1 << 20) / rowBytes / 16) * 16;
  const chunkRows = Math.max(16, Math.min(CHUNK_ROWS_MAX, byBins, byRows));
  const blocks = chunkRows / 16;
  const { take, end } = regions();
  const scratchAt = take(SCRATCH_BYTES);
  const rowsAt = take(chunkRows * rowBytes, 8);
  const binsAt = take(blocks * blockBins, 64);
  const marginsAt = take(blocks * blockMargins, 64);
  return {
    chunkRows,
    rowBytes,
    blockBins,
    blockMargins,
    scratchAt,
    rowsAt,
    binsAt,
    marginsAt,
    pages: Math.max(1, Math.ceil(end() / PAGE)),
  };
}

/** Regions laid out one after another from offset 0, each aligned: `take` gives a region's offset, `end` the size so far. */
function regions(): { take(bytes: number, align?: number): number; end(): number } {
  let at = 0;
  return {
    take(bytes, align = 16) {
      at = Math.ceil(at / align) * align;
      const start = at;
      at += bytes;
      return start;
    },
    end: () => at,
  };
}

/** A scorer of `binned` with an image of its own (tests, benchmarks). */
export function simdScorerFor(
  binned: BinnedForest,
  numFeature: number,
  options: SimdScorerOptions & SimdImageOptions = {},
): SimdScorer {
  return new SimdScorer(buildSimdImage(binned, numFeature, options), options);
}

/** Lays `binned` out in a new shared memory, with room for MAX_USERS scratch regions after it. */
export function buildSimdImage(
  binned: BinnedForest,
  numFeature: number,
  options: SimdImageOptions = {},
): SimdImage {
  const w = binned.width;
  const numTrees = binned.steps.length;
  const valueBytes = binned.precision === "f32" ? 4 : 8;
  const inputBytes = binned.input === "f32" ? 4 : 8;
  const binBytes = w / 8;
  const topBytes = w === 8 ? 4 : 8;
  const deepBytes = w === 8 ? 4 : 8;
  const topSize = (1 << binned.topLevels) - 1;
  const numDeep = binned.deepStart[numTrees];
  const numLeaves = binned.leafStart[numTrees];

  const searches = binned.binColumns.map((c) => binSearchFor(c.cuts, binned.input));
  const { take, end } = regions();
  const treesAt = take(numTrees * TREE_BYTES);
  const topAt = take(numTrees * topSize * topBytes);
  const deepAt = take(numDeep * deepBytes);
  const leavesAt = take(numLeaves * valueBytes, 8);
  const descsAt = take(binned.binColumns.length * DESC_BYTES);
  const tableAt = searches.map((s) => take(s.buckets * binBytes, 8));
  const cutsAt = binned.binColumns.map((c, i) =>
    take((c.cuts.length + (1 << searches[i].steps)) * inputBytes, 8),
  );
  const bytes = Math.ceil(end() / 64) * 64;
  const params = {
    width: w,
    topLevels: binned.topLevels,
    input: binned.input,
    precision: binned.precision,
    numGroups: binned.numGroups,
    numColumns: binned.numColumns,
    numFeature,
    numBinColumns: binned.binColumns.length,
    treesAt,
    descsAt,
  };
  const initial = Math.max(1, Math.ceil(bytes / PAGE));
  const maximum = Math.min(65536, initial + scratchLayout({ ...params, tiles: [] }).pages * MAX_USERS);
  const memory = new WebAssembly.Memory({ initial, maximum, shared: true });

  const buffer = memory.buffer;
  const i32 = new Int32Array(buffer);
  const u8 = new Uint8Array(buffer);
  const dv = new DataView(buffer);
  const bias = w === 8 ? 128 : 32768;
  const biased = (t: number) => t - bias;

  // Trees and their nodes.
  const leaves = valueBytes === 4 ? new Float32Array(buffer) : new Float64Array(buffer);
  leaves.set(binned.leafValue, leavesAt / valueBytes);
  const slots = 1 << binned.topLevels;
  let tileBytes = 0;
  const tiles = [0];
  for (let t = 0; t < numTrees; t++) {
    const first = binned.deepStart[t];
    const count = binned.deepStart[t + 1] - first;
    const complete = binned.complete[t] === 1;
    const top = topAt + t * topSize * topBytes;
    const deep = deepAt + first * deepBytes;
    const leaf = leavesAt + binned.leafStart[t] * valueBytes;
    const e = (treesAt + t * TREE_BYTES) >> 2;
    i32[e] = top;
    // A complete tree's positions count from the root (1-based, breadth first): its first deep
    // node is position 2^topLevels, its first leaf 2^depth.
    i32[e + 1] = complete ? deep - slots * deepBytes : deep;
    i32[e + 2] = complete ? leaf - (1 << binned.depth[t]) * valueBytes : leaf;
    i32[e + 3] = binned.steps[t];
    i32[e + 4] = binned.group[t] * 16 * valueBytes;
    i32[e + 5] = complete ? 1 : 0;
    i32[e + 7] = binned.sharesWalk[t];
    for (let j = 0; j < topSize; j++) {
      const k = top + j * topBytes;
      const column = binned.topColumn[t * topSize + j] * 16 * binBytes;
      const threshold = biased(binned.topThreshold[t * topSize + j]);
      if (w === 8) {
        dv.setUint16(k, column, true);
        dv.setInt8(k + 2, threshold);
      } else {
        dv.setUint32(k, column, true);
        dv.setInt16(k + 4, threshold, true);
      }
    }
    for (let q = 0; q < count; q++) {
      const k = deep + q * deepBytes;
      const n = first + q;
      const threshold = biased(binned.deepThreshold[n]);
      const column = binned.deepColumn[n];
      // Complete: [threshold][0][column offset]; deeper trees: [threshold][column][left].
      if (w === 8) {
        dv.setInt8(k, threshold);
        if (complete) dv.setUint16(k + 2, column * 16, true);
        else {
          u8[k + 1] = column;
          dv.setUint16(k + 2, binned.deepLeft[n], true);
        }
      } else {
        dv.setInt16(k, threshold, true);
        if (complete) dv.setUint32(k + 4, column * 32, true);
        else {
          dv.setUint16(k + 2, column, true);
          dv.setUint32(k + 4, binned.deepLeft[n], true);
        }
      }
    }
    // A tree that shares the walk before it reads only its leaves, and stays in that tree's tile
    // (a block's walk ends are kept in scratch only while the kernel stays within one tile).
    const leafBytes = (binned.leafStart[t + 1] - binned.leafStart[t]) * valueBytes;
    const shares = binned.sharesWalk[t] === 1;
    const treeBytes = shares ? leafBytes : topSize * topBytes + count * deepBytes + leafBytes;
    if (!shares && tileBytes > 0 && tileBytes + treeBytes > (options.tileBytes ?? TILE_BYTES)) {
      tiles.push(t);
      tileBytes = 0;
    }
    tileBytes += treeBytes;
  }
  tiles.push(numTrees);
  // Which groups of four trees a single row walks together (the kernel's scoreRow).
  for (let t = 0; t + 4 <= numTrees; t++) {
    const four = [t, t + 1, t + 2, t + 3];
    const e = (treesAt + t * TREE_BYTES) >> 2;
    if (four.every((u) => binned.complete[u] === 1 && binned.steps[u] === binned.steps[t])) i32[e + 6] = 1;
    else if (four.every((u) => binned.complete[u] === 0)) i32[e + 6] = 2;
  }
  // Vector leaves: four trees `slots` apart, each the first of its slots (the rest share its walk),
  // walked once each for every slot (3: complete with the same steps, 4: deeper; slots << 8).
  const slotsFrom = (t: number) => {
    let n = 1;
    while (t + n < numTrees && binned.sharesWalk[t + n] === 1) n++;
    return n;
  };
  for (let t = 0; t < numTrees; t++) {
    if (binned.sharesWalk[t] === 1) continue;
    const slots = slotsFrom(t);
    if (slots < 2 || slots > 255 || t + 4 * slots > numTrees) continue;
    const four = [t, t + slots, t + 2 * slots, t + 3 * slots];
    if (!four.every((u) => binned.sharesWalk[u] === 0 && slotsFrom(u) === slots)) continue;
    const e = (treesAt + t * TREE_BYTES) >> 2;
    if (four.every((u) => binned.complete[u] === 1 && binned.steps[u] === binned.steps[t]))
      i32[e + 6] = 3 | (slots << 8);
    else if (four.every((u) => binned.complete[u] === 0)) i32[e + 6] = 4 | (slots << 8);
  }

  // Bin descriptors, tables and cuts.
  const spare = binned.numColumns * 16 * binBytes;
  binned.binColumns.forEach((column, i) => {
    const search = searches[i];
    const d = descsAt + i * DESC_BYTES;
    dv.setInt32(d + DESC.source, column.source * inputBytes, true);
    dv.setInt32(d + DESC.flags, (column.nanAsZero ? 1 : 0) | (column.zeroIsMissing ? 2 : 0), true);
    dv.setInt32(d + DESC.left, column.left >= 0 ? column.left * 16 * binBytes : spare, true);
    dv.setInt32(d + DESC.right, column.right >= 0 ? column.right * 16 * binBytes : spare, true);
    dv.setInt32(d + DESC.cuts, column.cuts.length, true);
    dv.setInt32(d + DESC.table, tableAt[i], true);
    dv.setInt32(d + DESC.cutsAt, cutsAt[i], true);
    dv.setInt32(d + DESC.steps, search.steps, true);
    dv.setInt32(d + DESC.last, search.buckets - 1, true);
    // The binning function: plain or with missing rules, then by halvings (the kernel's order).
    const flagged = column.nanAsZero || column.zeroIsMissing;
    dv.setInt32(
      d + DESC.variant,
      (flagged ? UNROLLED_STEPS + 2 : 0) + Math.min(search.steps, UNROLLED_STEPS + 1),
      true,
    );
    if (inputBytes === 4) {
      dv.setFloat32(d + DESC.lo, search.lo, true);
      dv.setFloat32(d + DESC.scale, search.scale, true);
    } else {
      dv.setFloat64(d + DESC.lo, search.lo, true);
      dv.setFloat64(d + DESC.scale, search.scale, true);
    }
    for (let b = 0; b < search.buckets; b++) {
      if (binBytes === 1) u8[tableAt[i] + b] = search.start[b];
      else dv.setUint16(tableAt[i] + 2 * b, search.start[b], true);
    }
    // Cuts, then NaN (passed by nothing) for the halvings that look past the last.
    const padded = column.cuts.length + (1 << search.steps);
    for (let c = 0; c < padded; c++) {
      const v = c < column.cuts.length ? column.cuts[c] : Number.NaN;
      if (inputBytes === 4) dv.setFloat32(cutsAt[i] + 4 * c, v, true);
      else dv.setFloat64(cutsAt[i] + 8 * c, v, true);
    }
  });
  const description = `SIMD, ${w}-bit bins, top ${binned.topLevels} levels 16 rows at a time`;
  return { kind: "simd", memory, bytes, ...params, tiles, description };
}

/** The image in a new shared memory of its own (its bytes copied), for a user the original has no room for. */
function copyImage(image: SimdImage): SimdImage {
  const initial = Math.max(1, Math.ceil(image.bytes / PAGE));
  const maximum = Math.min(65536, initial + scratchLayout(image).pages * MAX_USERS);
  const memory = new WebAssembly.Memory({ initial, maximum, shared: true });
  new Uint8Array(memory.buffer).set(new Uint8Array(image.memory.buffer, 0, image.bytes));
  return { ...image, memory };
}

export interface SimdScorerOptions {
  /** Use the relaxed-SIMD build (default: when available); false forces the plain SIMD build. */
  relaxed?: boolean;
}

export class SimdScorer {
  readonly #numFeature: number;
  readonly #groups: number;
  readonly #width: 8 | 16;
  readonly #numBinColumns: number;
  readonly #descsAt: number;
  readonly #f64: number;
  readonly #chunkRows: number;
  readonly #rowsAt: number;
  readonly #binsAt: number;
  readonly #blockBins: number;
  readonly #marginsAt: number;
  readonly #blockMargins: number;
  readonly #tiles: readonly number[];
  readonly #scoreBlocks: ScoreBlocks;
  readonly #scoreRow: ScoreRow;
  readonly #binRows: BinRows;
  readonly #rowsView: Float32Array | Float64Array;
  readonly #marginsView: Float32Array | Float64Array;
  /** Whether the relaxed-SIMD build runs. */
  readonly relaxed: boolean;
  /** Bytes of the image this scorer reads (shared with the image's other users). */
  readonly imageBytes: number;
  /** Bytes of this user's own scratch region. */
  readonly scratchBytes: number;

  /**
   * A scorer reading `image` (laid out by buildSimdImage, possibly in another thread) with a
   * scratch region of its own grown past it.
   */
  constructor(image: SimdImage, options: SimdScorerOptions = {}) {
    const scratch = scratchLayout(image);
    let base: number;
    try {
      // memory.grow on a shared memory is atomic: the pages it returns are this user's alone.
      base = image.memory.grow(scratch.pages) * PAGE;
    } catch {
      // The image has no room left for another user (many stuck threads replaced): a copy of one's own.
      image = copyImage(image);
      base = image.memory.grow(scratch.pages) * PAGE;
    }
    this.imageBytes = image.bytes;
    this.scratchBytes = scratch.pages * PAGE;
    this.#numFeature = image.numFeature;
    this.#groups = image.numGroups;
    this.#width = image.width;
    this.#numBinColumns = image.numBinColumns;
    this.#descsAt = image.descsAt;
    this.#f64 = image.precision === "f64" ? 1 : 0;
    this.#chunkRows = scratch.chunkRows;
    this.#blockBins = scratch.blockBins;
    this.#blockMargins = scratch.blockMargins;
    this.#rowsAt = base + scratch.rowsAt;
    this.#binsAt = base + scratch.binsAt;
    this.#marginsAt = base + scratch.marginsAt;
    this.#tiles = image.tiles;
    const relaxedModuleHere = (options.relaxed ?? true) ? relaxedModule() : null;
    this.relaxed = relaxedModuleHere !== null;
    const module = relaxedModuleHere ?? plainModule();
    const kernel = new WebAssembly.Instance(module, { env: { memory: image.memory } })
      .exports as unknown as SimdExports;
    const w = image.width;
    this.#scoreBlocks = kernel[`score${w}_${image.topLevels}`] as ScoreBlocks;
    this.#scoreRow = kernel[`scoreRow${w}`] as ScoreRow;
    this.#binRows = kernel[`bin${image.input === "f32" ? "F32" : "F64"}_${w}`] as BinRows;
    kernel.setup(
      image.treesAt,
      this.#binsAt,
      this.#blockBins,
      this.#marginsAt,
      this.#blockMargins,
      base + scratch.scratchAt,
      image.topLevels,
    );
    // The buffer as it is now, grown: this user's views reach its scratch.
    const buffer = image.memory.buffer;
    this.#rowsView = image.input === "f32" ? new Float32Array(buffer) : new Float64Array(buffer);
    this.#marginsView = image.precision === "f32" ? new Float32Array(buffer) : new Float64Array(buffer);
  }

  /**
   * Adds every tree's leaves to `margins` (rows × groups, pre-filled with the initial margins) for
   * `rows` rows of `features` (row-major, numFeature values per row, NaN = missing).
   */
  accumulate(
    features: Float32Array | Float64Array,
    rows: number,
    margins: Float32Array | Float64Array,
  ): void {
    const nf = this.#numFeature;
    const groups = this.#groups;
    const rowsView = this.#rowsView;
    const marginsView = this.#marginsView;
    const rowsIndex = this.#rowsAt / rowsView.BYTES_PER_ELEMENT;
    const marginsIndex = this.#marginsAt / marginsView.BYTES_PER_ELEMENT;
    const rowBytes = Math.max(1, nf) * rowsView.BYTES_PER_ELEMENT;
    const lastTree = this.#tiles[this.#tiles.length - 1];
    for (let start = 0; start < rows; start += this.#chunkRows) {
      const m = Math.min(this.#chunkRows, rows - start);
      const blocks = Math.ceil(m / 16);
      rowsView.set(features.subarray(start * nf, (start + m) * nf), rowsIndex);
      this.#binRows(this.#rowsAt, rowBytes, m, this.#descsAt, this.#numBinColumns);
      // Margins in blocks: per group, 16 lanes side by side (with one group, the rows' own order).
      if (groups === 1) marginsView.set(margins.subarray(start, start + m), marginsIndex);
      else
        for (let r = 0; r < m; r++)
          for (let g = 0; g < groups; g++)
            marginsView[marginsIndex + ((r >> 4) * groups + g) * 16 + (r & 15)] =
              margins[(start + r) * groups + g];
      if (m <= ROW_BY_ROW_MAX) {
        const binBytes = this.#width / 8;
        for (let r = 0; r < m; r++)
          this.#scoreRow(
            this.#binsAt + (r >> 4) * this.#blockBins + (r & 15) * binBytes,
            this.#marginsAt + (r >> 4) * this.#blockMargins + (r & 15) * marginsView.BYTES_PER_ELEMENT,
            0,
            lastTree,
            this.#f64,
          );
      } else {
        const tiles = this.#tiles;
        for (let i = 0; i + 1 < tiles.length; i++)
          this.#scoreBlocks(0, blocks, tiles[i], tiles[i + 1], this.#f64);
      }
      if (groups === 1) margins.set(marginsView.subarray(marginsIndex, marginsIndex + m), start);
      else
        for (let r = 0; r < m; r++)
          for (let g = 0; g < groups; g++)
            margins[(start + r) * groups + g] =
              marginsView[marginsIndex + ((r >> 4) * groups + g) * 16 + (r & 15)];
    }
  }
}
