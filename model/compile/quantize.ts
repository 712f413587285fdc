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
 * column) are refused with the reason; the model then runs on the compiled layout's own kernels.
 */
import type { Forest } from "../forest/forest.js";
import { type BinColumn, type BinnedForest, neverRight } from "../kernels/binned-layout.js";
import type { CompiledModel } from "./compile.js";
import { nextUp32 } from "./compile.js";

/** Most levels evaluated 16 rows at a time (below, rows walk one step at a time). */
export const TOP_LEVELS_MAX = 5;
/** 8-bit bins: at most 255 cuts a column; node columns are one byte, left children 16 bits. */
const MAX_CUTS_8 = 255;
const MAX_COLUMNS_8 = 256;
const MAX_DEEP_8 = 1 << 16;
const MAX_CUTS_16 = 65535;
const MAX_COLUMNS_16 = 1 << 16;

export type Quantized = { readonly binned: BinnedForest } | { readonly refused: string };

/** For tests: make a forest that fits 8-bit bins use 16-bit ones, or fewer top levels. */
export interface QuantizeOptions {
  width?: 16;
  topLevels?: number;
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

  // Top levels: per tree, the node at each position of a complete tree (padding under early leaves).
  const topColumn = new Int32Array(numTrees * topSize);
  const topNode = new Int32Array(numTrees * topSize);
  const topThreshold = new Int32Array(numTrees * topSize);
  const deepOrder: Int32Array[] = [];
  const steps = new Int32Array(numTrees);
  const deepStart = new Int32Array(numTrees + 1);
  const position = new Int32Array(topSize + slots);
  for (let t = 0; t < numTrees; t++) {
    position[0] = layout.roots[t];
    for (let j = 0; j < topSize; j++) {
      const n = position[j];
      topNode[t * topSize + j] = n;
      if (isLeaf(n)) {
        position[2 * j + 1] = n;
        position[2 * j + 2] = n;
      } else {
        position[2 * j + 1] = layout.left[n];
        position[2 * j + 2] = layout.left[n] + 1;
      }
    }
    // Deep nodes: the slots' nodes first, then their descendants breadth first (siblings together).
    const order: number[] = Array.from(position.subarray(topSize, topSize + slots));
    for (let q = 0; q < order.length; q++) {
      const n = order[q];
      if (!isLeaf(n)) order.push(layout.left[n], layout.left[n] + 1);
    }
    deepOrder.push(Int32Array.from(order));
    deepStart[t + 1] = deepStart[t] + order.length;
    if (order.length > MAX_DEEP_8) width = 16;
    steps[t] = Math.max(0, layout.depths[t] - topLevels);
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

  const numDeep = deepStart[numTrees];
  const deepColumn = new Int32Array(numDeep);
  const deepThreshold = new Int32Array(numDeep);
  const deepLeft = new Int32Array(numDeep);
  const deepLeaf = layout.precision === "f32" ? new Float32Array(numDeep) : new Float64Array(numDeep);
  for (let t = 0; t < numTrees; t++) {
    const order = deepOrder[t];
    const base = deepStart[t];
    // A node's left child is where its children were queued: count as the walk above did.
    let next = slots;
    for (let q = 0; q < order.length; q++) {
      const n = order[q];
      const at = base + q;
      if (isLeaf(n)) {
        deepThreshold[at] = never;
        deepLeft[at] = q;
        deepLeaf[at] = layout.leaf[n];
      } else {
        deepColumn[at] = columnOf(n);
        deepThreshold[at] = thresholdOf(n);
        deepLeft[at] = next;
        next += 2;
      }
    }
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
      deepStart,
      deepColumn,
      deepThreshold,
      deepLeft,
      deepLeaf,
      steps,
      group: Int32Array.from(layout.groups),
    },
  };
}
