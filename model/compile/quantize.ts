/**
 * The quantizer: a compiled forest (compile.ts's layout, every split "x >= t goes right" on an input
 * plan column) → the binned layout the SIMD kernel walks (kernels/binned-layout.ts), where every
 * split is "bin > k" on small integers.
 *
 * Exact by construction: a column's cuts are the thresholds its splits use, carried back to the
 * feature's own values in the input precision, so bin(x) > k ⇔ x >= cut k ⇔ the compiled split's
 * own test. For a float32 column (XGBoost, ONNX float) the cuts are the compiled thresholds
 * themselves. For a bins column (float64 inputs, zero-as-missing) a threshold j means "passes the
 * plan's cut j - 1" (its bins count cuts passed), and that cut, ">= t" or "> t", becomes ">= c" in
 * the input precision: c = t, or the next float64 (float32) after t. Missing values (NaN, and what
 * the plan's missing rules make missing) take a column's missing side at every split.
 *
 * Forests the binned kernel does not run (set splits, min/max, more than 65 535 cuts on one
 * column, trees deeper than SIMD_DEPTH_MAX) are refused with the reason; the model then runs on the compiled layout's own kernels.
 */
import type { Forest } from "../forest/forest.js";
import { type BinColumn, type BinnedForest, neverRight } from "../kernels/binned-layout.js";
import type { CompiledModel } from "./compile.js";
import { nextUp32 } from "./compile.js";

/** Most levels evaluated 16 rows at a time (below, rows walk one step at a time). */
export const TOP_LEVELS_MAX = 5;
/**
 * Trees at most this deep are stored complete (every position of every level, 2^depth leaves),
 * so a step is "twice the position, plus one if right" with no child to load; deeper ones keep
 * their own nodes with left children.
 */
const COMPLETE_DEPTH_MAX = 10;
/** 8-bit bins: at most 255 cuts a column; node columns are one byte, left children 16 bits. */
const MAX_CUTS_8 = 255;
const MAX_COLUMNS_8 = 256;
const MAX_DEEP_8 = 1 << 16;
const MAX_CUTS_16 = 65535;
const MAX_COLUMNS_16 = 1 << 16;
/**
 * Deepest tree the SIMD kernel takes. Deeper trees are fully grown ones (scikit-learn's forests,
 * ~30 levels, a million nodes and more, float64 thresholds): binning them doubled a 94 MB model's
 * load time (1.3 → 2.8 s) and took its peak memory from 2.4× to 3.9× the file, holding the node
 * arrays beside the binned image for the leaf index (104 MiB against the walk's 70), while rows
 * stop ~11 levels down, far below the top levels the SIMD kernel evaluates 16 rows at a time.
 * LightGBM's leaf-wise trees (22 levels on the 500 × 63-leaf bench model) stay under it.
 */
export const SIMD_DEPTH_MAX = 24;

export type Quantized = { readonly binned: BinnedForest } | { readonly refused: string };

/** For tests: 16-bit bins for a forest that fits 8-bit ones, fewer top levels, fewer complete trees. */
export interface QuantizeOptions {
  width?: 16;
  topLevels?: number;
  completeDepthMax?: number;
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** The float64 right after `t` (towards +Infinity); t finite or -Infinity. */
function nextUp64(t: number): number {
  if (t === Number.NEGATIVE_INFINITY) return -Number.MAX_VALUE;
  if (t === 0) return Number.MIN_VALUE;
  f64[0] = t;
  u64[0] += t > 0 ? 1n : -1n;
  return f64[0];
}

/** The smallest float32 >= t (t not NaN). */
function atLeast32(t: number): number {
  const r = Math.fround(t);
  return r < t ? nextUp32(r) : r;
}

/**
 * The cut "x >= c" in `input` precision equal to "x >= t" (strict false) or "x > t" (strict true)
 * for every x of that precision; NaN when no x passes it.
 */
function asCut(t: number, strict: boolean, input: "f32" | "f64"): number {
  if (Number.isNaN(t)) return Number.NaN;
  if (input === "f64") {
    if (!strict) return t;
    return t === Number.POSITIVE_INFINITY ? Number.NaN : nextUp64(t);
  }
  const r = atLeast32(t);
  if (!strict || r > t) return r;
  return r === Number.POSITIVE_INFINITY ? Number.NaN : nextUp32(r);
}

export function quantizeForest(
  forest: Forest,
  compiled: CompiledModel,
  options: QuantizeOptions = {},
): Quantized {
  const layout = compiled.forest;
  const plan = compiled.plan;
  if (layout.reduce !== "sum") return { refused: `trees combine by ${layout.reduce}` };
  if (layout.categorical.some((c) => c === 1)) return { refused: "the model has set splits" };
  if (layout.maxDepth > SIMD_DEPTH_MAX)
    return { refused: `trees ${layout.maxDepth} levels deep (more than ${SIMD_DEPTH_MAX})` };
  const input = forest.input;

  // The cut each split's threshold means, per plan column (Infinity-free NaN = no value passes).
  const numNodes = layout.numNodes;
  const cutOf = new Float64Array(numNodes);
  const cutsByColumn = new Map<number, Set<number>>();
  const keys = new Map<number, number>();
  for (let n = 0; n < numNodes; n++) {
    const p = layout.feature[n];
    if (p < 0) continue;
    const column = plan.columns[p];
    const t = layout.threshold[n];
    let cut: number;
    if (column.mode === "direct") cut = t;
    else if (column.mode === "bins") {
      // Right when the plan's bin >= t: when x passes the plan's cut t - 1.
      if (t <= 0) cut = Number.NEGATIVE_INFINITY;
      else if (t > column.cuts.length || Number.isNaN(t)) cut = Number.NaN;
      else cut = asCut(column.cuts[t - 1], column.strict[t - 1] === 1, input);
    } else return { refused: "the model has set splits" };
    cutOf[n] = cut;
    let cuts = cutsByColumn.get(p);
    if (!cuts) {
      cuts = new Set();
      cutsByColumn.set(p, cuts);
    }
    cuts.add(cut);
    const key = p * 2 + layout.missingRight[n];
    if (!keys.has(key)) keys.set(key, keys.size);
  }

  // Columns: each plan column binned once, written to one kernel column per missing side.
  const binColumns: BinColumn[] = [];
  const sortedCuts = new Map<number, Float64Array>();
  let maxCuts = 0;
  for (const [p, set] of cutsByColumn) {
    // Ascending, NaN (passed by nothing) last.
    const cuts = Float64Array.from(set).sort((a, b) => (Number.isNaN(a) ? 1 : Number.isNaN(b) ? -1 : a - b));
    sortedCuts.set(p, cuts);
    if (cuts.length > maxCuts) maxCuts = cuts.length;
    const column = plan.columns[p];
    const bins = column.mode === "bins" ? column : null;
    binColumns.push({
      source: column.source,
      cuts,
      nanAsZero: bins?.nanAsZero ?? false,
      zeroIsMissing: bins?.zeroIsMissing ?? false,
      left: keys.get(p * 2) ?? -1,
      right: keys.get(p * 2 + 1) ?? -1,
    });
  }
  const numColumns = keys.size;

  const numTrees = layout.roots.length;
  const topLevels = Math.max(1, Math.min(layout.maxDepth, options.topLevels ?? TOP_LEVELS_MAX));
  const topSize = (1 << topLevels) - 1;
  const slots = 1 << topLevels;
  const isLeaf = (n: number) => layout.feature[n] < 0;
  const columnOf = (n: number) => keys.get(layout.feature[n] * 2 + layout.missingRight[n])!;
  const thresholdOf = (n: number) => {
    const cuts = sortedCuts.get(layout.feature[n])!;
    const c = cutOf[n];
    // Binary search for c (NaN sorts last).
    let lo = 0;
    let hi = cuts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const v = cuts[mid];
      if (Number.isNaN(c) ? !Number.isNaN(v) : v < c) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  let width: 8 | 16 = maxCuts <= MAX_CUTS_8 && numColumns <= MAX_COLUMNS_8 && !options.width ? 8 : 16;
  if (maxCuts > MAX_CUTS_16) return { refused: `a feature is compared with ${maxCuts} distinct cut points` };
  if (numColumns > MAX_COLUMNS_16) return { refused: `the model reads ${numColumns} columns` };

  // Per tree, the node at each position of a complete tree (node j's children 2j + 1 and 2j + 2;
  // under a leaf above the last level, the leaf again): the top levels always, and the whole tree
  // when it is shallow enough to store complete.
  const topColumn = new Int32Array(numTrees * topSize);
  const topNode = new Int32Array(numTrees * topSize);
  const topThreshold = new Int32Array(numTrees * topSize);
  const complete = new Uint8Array(numTrees);
  const depth = new Int32Array(numTrees);
  const steps = new Int32Array(numTrees);
  const deepNodes: Int32Array[] = [];
  const leafNodes: Int32Array[] = [];
  const deepStart = new Int32Array(numTrees + 1);
  const leafStart = new Int32Array(numTrees + 1);
  for (let t = 0; t < numTrees; t++) {
    const d = Math.max(layout.depths[t], topLevels);
    const full = d <= (options.completeDepthMax ?? COMPLETE_DEPTH_MAX);
    const levels = full ? d : topLevels;
    const position = new Int32Array((1 << (levels + 1)) - 1);
    position[0] = layout.roots[t];
    for (let j = 0; j < (1 << levels) - 1; j++) {
      const n = position[j];
      const leaf = isLeaf(n);
      position[2 * j + 1] = leaf ? n : layout.left[n];
      position[2 * j + 2] = leaf ? n : layout.left[n] + 1;
    }
    topNode.set(position.subarray(0, topSize), t * topSize);
    if (full) {
      // Levels below the top, then the leaves' level, every position filled.
      complete[t] = 1;
      depth[t] = d;
      steps[t] = d - topLevels;
      deepNodes.push(position.slice(topSize, (1 << d) - 1));
      leafNodes.push(position.slice((1 << d) - 1));
    } else {
      // The slots' nodes first, then their descendants breadth first (siblings together).
      const order: number[] = Array.from(position.subarray(topSize));
      for (let q = 0; q < order.length; q++) {
        const n = order[q];
        if (!isLeaf(n)) order.push(layout.left[n], layout.left[n] + 1);
      }
      if (order.length > MAX_DEEP_8) width = 16;
      depth[t] = layout.depths[t];
      steps[t] = Math.max(0, layout.depths[t] - topLevels);
      deepNodes.push(Int32Array.from(order));
      leafNodes.push(Int32Array.from(order));
    }
    deepStart[t + 1] = deepStart[t] + deepNodes[t].length;
    leafStart[t + 1] = leafStart[t] + leafNodes[t].length;
  }
  const never = neverRight(width);
  for (let i = 0; i < topNode.length; i++) {
    const n = topNode[i];
    if (isLeaf(n)) topThreshold[i] = never;
    else {
      topColumn[i] = columnOf(n);
      topThreshold[i] = thresholdOf(n);
    }
  }

  const deepColumn = new Int32Array(deepStart[numTrees]);
  const deepThreshold = new Int32Array(deepStart[numTrees]);
  const deepLeft = new Int32Array(deepStart[numTrees]);
  const leafValue =
    layout.precision === "f32"
      ? new Float32Array(leafStart[numTrees])
      : new Float64Array(leafStart[numTrees]);
  for (let t = 0; t < numTrees; t++) {
    const nodes = deepNodes[t];
    const base = deepStart[t];
    // A pointer tree's node's left child is where its children were queued: count as above.
    let next = slots;
    for (let q = 0; q < nodes.length; q++) {
      const n = nodes[q];
      const at = base + q;
      if (isLeaf(n)) {
        deepThreshold[at] = never;
        deepLeft[at] = q;
      } else {
        deepColumn[at] = columnOf(n);
        deepThreshold[at] = thresholdOf(n);
        if (!complete[t]) {
          deepLeft[at] = next;
          next += 2;
        }
      }
    }
    leafNodes[t].forEach((n, q) => {
      if (isLeaf(n)) leafValue[leafStart[t] + q] = layout.leaf[n];
    });
  }

  // The compiler lays every slot of a Forest tree out alike (the same reachable nodes in the same
  // order, splits lowered once), so consecutive compiled trees of one Forest tree walk alike; held
  // here node by node rather than assumed.
  const sameRange = (a: Int32Array, from: number, to: number, size: number) => {
    for (let i = 0; i < size; i++) if (a[from + i] !== a[to + i]) return false;
    return true;
  };
  const sharesWalk = new Uint8Array(numTrees);
  for (let t = 1; t < numTrees; t++) {
    if (layout.treeOf[t] !== layout.treeOf[t - 1]) continue;
    const count = deepStart[t + 1] - deepStart[t];
    const alike =
      complete[t] === complete[t - 1] &&
      depth[t] === depth[t - 1] &&
      steps[t] === steps[t - 1] &&
      count === deepStart[t] - deepStart[t - 1] &&
      sameRange(topColumn, (t - 1) * topSize, t * topSize, topSize) &&
      sameRange(topThreshold, (t - 1) * topSize, t * topSize, topSize) &&
      sameRange(deepColumn, deepStart[t - 1], deepStart[t], count) &&
      sameRange(deepThreshold, deepStart[t - 1], deepStart[t], count) &&
      sameRange(deepLeft, deepStart[t - 1], deepStart[t], count);
    sharesWalk[t] = alike ? 1 : 0;
  }

  return {
    binned: {
      width,
      input,
      precision: layout.precision,
      numGroups: layout.numGroups,
      numColumns,
      binColumns,
      topLevels,
      topColumn,
      topThreshold,
      complete,
      depth,
      steps,
      deepStart,
      deepColumn,
      deepThreshold,
      deepLeft,
      leafStart,
      leafValue,
      group: Int32Array.from(layout.groups),
      sharesWalk,
    },
  };
}
