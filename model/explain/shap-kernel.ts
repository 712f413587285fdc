/**
 * Runs model/shap-kernel.wat (TreeSHAP in native float32) over a forest: lays the forest and the
 * walk's tables out in WebAssembly memory once, then explains rows one at a time, copying each
 * row in and its values out.
 *
 * Contributions run wholly in the kernel. Interactions keep tree-shap.ts's plan (an unconditioned
 * pass whose per-tree terms are reused for trees that do not split on the conditioning feature)
 * here, and call the kernel per tree walk. Results are bit-identical to tree-shap.ts's walker,
 * which test/unit/shap-kernel.test.ts checks on random rows of several fixture kinds.
 */
import { MAX_CATEGORY } from "../kernels/layout.js";
import { SHAP_KERNEL_WASM_BASE64 } from "./shap-kernel-wasm.js";
import { interactionRow, type ShapForest, splitsOn } from "./tree-shap.js";

interface ShapExports {
  setup(header: number): void;
  treeShap(row: number, tree: number, condition: number, conditionFeature: number): void;
  addTree(out: number, tree: number, withMean: number): void;
  explainRow(row: number, treeList: number, count: number, baseMargin: number, out: number): void;
}

const PAGE = 65536;
/**
 * Leaves of one depth whose unwound sums the kernel runs together: one leaf's sums wait on the
 * latency of their float chains; several fill the CPU's pipelines.
 */
const LEAF_BATCH = 8;
const f = Math.fround;

let compiled: WebAssembly.Module | undefined;
function shapModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(Buffer.from(SHAP_KERNEL_WASM_BASE64, "base64"));
  return compiled;
}

/** Byte offsets of the kernel's regions, each 16-byte aligned, in the order `setup` reads them. */
class Layout {
  #end = 0;
  take(bytes: number): number {
    const at = this.#end;
    this.#end += Math.ceil(bytes / 16) * 16;
    return at;
  }
  get bytes(): number {
    return this.#end;
  }
}

export class ShapKernel {
  readonly #s: ShapForest;
  readonly #k: ShapExports;
  readonly #f32: Float32Array;
  readonly #row: number;
  readonly #out: number;
  readonly #diag: number;
  readonly #on: number;
  readonly #off: number;
  readonly #phi: number;
  /** Per group: byte offset of its tree list in kernel memory. */
  readonly #groupList: number[];
  // Interactions: each tree's weighted unconditioned terms, and which features any tree splits on.
  readonly #cacheStart: Int32Array;
  readonly #cacheFeat: Int32Array;
  readonly #cacheVal: Float32Array;
  readonly #used: Uint8Array;

  constructor(shap: ShapForest) {
    this.#s = shap;
    const forest = shap.forest;
    const nf = shap.numFeature;
    const numNodes = forest.numNodes;
    const numTrees = forest.roots.length;
    // Path frames and stack as tree-shap.ts sizes them (a frame per level, each one element longer).
    const maxd = forest.maxDepth + 2;
    const stride = maxd + 1;
    const pathElements = (maxd * (maxd + 1)) / 2 + 2 * maxd + 4;
    const stackEntries = 2 * maxd + 4;

    const layout = new Layout();
    const header = layout.take(24 * 4);
    const nodes = layout.take(numNodes * 24);
    const cats = layout.take(forest.catFeature.length * 8);
    const catBits = layout.take(forest.catBits.length * 4);
    const trees = layout.take(numTrees * 20);
    const features = layout.take(shap.treeFeatures.length * 4);
    const lists = layout.take(numTrees * 4);
    const inverse = layout.take((stride + 2) * 8);
    const ratio = layout.take(stride * stride * 4);
    const invRatio = layout.take(stride * stride * 8);
    const path = layout.take(pathElements * 16);
    const slotBytes = (maxd + 2) * 16;
    const jobs = layout.take(LEAF_BATCH * slotBytes);
    const jobInfo = layout.take(LEAF_BATCH * 8);
    const stack = layout.take(stackEntries * 32);
    // a group of four lanes per four elements (rounded up) of each pending leaf
    const groups = LEAF_BATCH * (Math.ceil((maxd + 2) / 4) + 1);
    const hot = layout.take(groups * 64);
    const cold = layout.take(groups * 64);
    const slotTotalBytes = (maxd + 2) * 4;
    const totalAt = layout.take(LEAF_BATCH * slotTotalBytes);
    const zeroWord = layout.take(4);
    this.#phi = layout.take((nf + 1) * 4);
    this.#row = layout.take(nf * 4);
    this.#out = layout.take((nf + 1) * 4);
    this.#diag = layout.take((nf + 1) * 4);
    this.#on = layout.take((nf + 1) * 4);
    this.#off = layout.take((nf + 1) * 4);

    const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(layout.bytes / PAGE)) });
    const instance = new WebAssembly.Instance(shapModule(), { env: { memory } });
    this.#k = instance.exports as unknown as ShapExports;
    const f32 = new Float32Array(memory.buffer);
    const i32 = new Int32Array(memory.buffer);
    const f64 = new Float64Array(memory.buffer);
    this.#f32 = f32;

    [
      nodes,
      cats,
      catBits,
      trees,
      inverse,
      ratio,
      invRatio,
      stride,
      path,
      stack,
      hot,
      cold,
      this.#phi,
      features,
      nf,
      MAX_CATEGORY,
      jobs,
      slotBytes,
      jobInfo,
      LEAF_BATCH,
      totalAt,
      slotTotalBytes,
      zeroWord,
    ].forEach((v, i) => {
      i32[(header >> 2) + i] = v;
    });

    const { feature, threshold: value, left, missingRight } = forest;
    for (let n = 0; n < numNodes; n++) {
      const k = (nodes >> 2) + n * 6;
      const split = shap.splitFeature[n];
      i32[k] = split;
      f32[k + 1] = split < 0 ? shap.leafValue[n] : feature[n] >= 0 ? value[n] : 0;
      i32[k + 2] = split < 0 ? 0 : left[n];
      i32[k + 3] = missingRight[n];
      i32[k + 4] = feature[n] <= -2 ? -2 - feature[n] : -1;
      f32[k + 5] = shap.zeroFraction[n];
    }
    for (let c = 0; c < forest.catFeature.length; c++) {
      i32[(cats >> 2) + 2 * c] = forest.catOffset[c];
      i32[(cats >> 2) + 2 * c + 1] = forest.catWords[c];
    }
    new Uint32Array(memory.buffer).set(forest.catBits, catBits >> 2);
    i32.set(shap.treeFeatures, features >> 2);
    for (let t = 0; t < numTrees; t++) {
      const k = (trees >> 2) + 5 * t;
      i32[k] = forest.roots[t];
      f32[k + 1] = shap.rootMean[t];
      f32[k + 2] = shap.treeWeight ? shap.treeWeight[t] : 1;
      i32[k + 3] = shap.treeFeatureStart[t];
      i32[k + 4] = shap.treeFeatureStart[t + 1];
    }
    this.#groupList = [];
    let listAt = lists;
    for (const group of shap.groupTrees) {
      this.#groupList.push(listAt);
      i32.set(group, listAt >> 2);
      listAt += group.length * 4;
    }
    for (let k = 1; k < stride + 2; k++) f64[(inverse >> 3) + k] = 1 / k;
    for (let d = 0; d < stride; d++) {
      for (let i = 0; i < d; i++) {
        const r = f((d - i) / (d + 1));
        f32[(ratio >> 2) + d * stride + i] = r;
        f64[(invRatio >> 3) + d * stride + i] = 1 / r;
      }
    }
    this.#k.setup(header);

    const maxTrees = Math.max(0, ...shap.groupTrees.map((g) => g.length));
    this.#cacheStart = new Int32Array(maxTrees + 1);
    this.#cacheFeat = new Int32Array(shap.treeFeatures.length);
    this.#cacheVal = new Float32Array(shap.treeFeatures.length);
    this.#used = new Uint8Array(nf + 1);
  }

  /**
   * XGBoost's `pred_contribs` for `rows` rows of `values`: rows × groups × (F + 1) into `out`,
   * each group's bias entry (last) starting from `baseMargins[group]`.
   */
  contribs(values: Float32Array, rows: number, baseMargins: Float32Array, out: Float32Array): void {
    const nf = this.#s.numFeature;
    const groups = this.#s.numGroups;
    const width = nf + 1;
    const f32 = this.#f32;
    const outIndex = this.#out >> 2;
    for (let r = 0; r < rows; r++) {
      f32.set(values.subarray(r * nf, (r + 1) * nf), this.#row >> 2);
      for (let g = 0; g < groups; g++) {
        const trees = this.#s.groupTrees[g];
        this.#k.explainRow(this.#row, this.#groupList[g], trees.length, baseMargins[g], this.#out);
        out.set(f32.subarray(outIndex, outIndex + width), (r * groups + g) * width);
      }
    }
  }

  /**
   * XGBoost's `pred_interactions` for `rows` rows: rows × groups × (F + 1)² into `out`, row i of
   * each matrix holding feature i's interactions and its main effect on the diagonal.
   */
  interactions(values: Float32Array, rows: number, baseMargins: Float32Array, out: Float32Array): void {
    const nf = this.#s.numFeature;
    const groups = this.#s.numGroups;
    const size = (nf + 1) * (nf + 1);
    for (let r = 0; r < rows; r++) {
      this.#f32.set(values.subarray(r * nf, (r + 1) * nf), this.#row >> 2);
      for (let g = 0; g < groups; g++) this.#interactRow(g, baseMargins[g], out, (r * groups + g) * size);
    }
  }

  /** tree-shap.ts's interactRow, the tree walks in the kernel (see there for why it is XGBoost's). */
  #interactRow(group: number, baseMargin: number, out: Float32Array, at: number): void {
    const s = this.#s;
    const k = this.#k;
    const nf = s.numFeature;
    const width = nf + 1;
    const trees = s.groupTrees[group];
    const f32 = this.#f32;
    const diag = f32.subarray(this.#diag >> 2, (this.#diag >> 2) + width);
    const on = f32.subarray(this.#on >> 2, (this.#on >> 2) + width);
    const off = f32.subarray(this.#off >> 2, (this.#off >> 2) + width);
    const phi = this.#phi >> 2;
    const cacheStart = this.#cacheStart;
    const cacheFeat = this.#cacheFeat;
    const cacheVal = this.#cacheVal;
    const used = this.#used;
    const row = this.#row;

    diag.fill(0);
    used.fill(0);
    let c = 0;
    for (let j = 0; j < trees.length; j++) {
      const t = trees[j];
      const w = s.treeWeight ? s.treeWeight[t] : 1;
      k.treeShap(row, t, 0, 0);
      cacheStart[j] = c;
      // its weighted terms, for the features it splits on (what addTree adds)
      for (let p = s.treeFeatureStart[t]; p < s.treeFeatureStart[t + 1]; p++) {
        const feature = s.treeFeatures[p];
        cacheFeat[c] = feature;
        cacheVal[c++] = f(f32[phi + feature] * w);
      }
      k.addTree(this.#diag, t, 1);
      for (let p = s.treeFeatureStart[t]; p < s.treeFeatureStart[t + 1]; p++) used[s.treeFeatures[p]] = 1;
    }
    cacheStart[trees.length] = c;
    diag[nf] += baseMargin;

    for (let i = 0; i <= nf; i++) {
      const rowAt = at + i * width;
      if (!used[i]) {
        // No tree splits on i: XGBoost's on and off passes are equal, so the row is 0 but the diagonal.
        out.fill(0, rowAt, rowAt + width);
        out[rowAt + i] = diag[i];
        continue;
      }
      on.fill(0);
      off.fill(0);
      for (let j = 0; j < trees.length; j++) {
        const t = trees[j];
        if (splitsOn(s, t, i)) {
          k.treeShap(row, t, 1, i);
          k.addTree(this.#on, t, 0);
          k.treeShap(row, t, -1, i);
          k.addTree(this.#off, t, 0);
        } else {
          for (let p = cacheStart[j]; p < cacheStart[j + 1]; p++) {
            on[cacheFeat[p]] += cacheVal[p];
            off[cacheFeat[p]] += cacheVal[p];
          }
        }
      }
      on[nf] += baseMargin;
      off[nf] += baseMargin;
      interactionRow(on, off, diag, i, nf, out, rowAt);
    }
  }
}
