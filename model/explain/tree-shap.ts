/**
 * Exact TreeSHAP, as XGBoost 1.7 computes `pred_contribs` and `pred_interactions` on the CPU
 * (src/tree/tree_model.cc: ExtendPath, UnwindPath, UnwoundPathSum, TreeShap; src/predictor/
 * cpu_predictor.cc: PredictContribution, PredictInteractionContributions).
 *
 * Explanations are served by model/shap-kernel.wat (the same walk in WebAssembly, faster); this module
 * builds the per-model data both use (`buildShapForest`) and keeps the JavaScript walk as the readable
 * reference that test/unit/shap-kernel.test.ts holds the kernel to, bit for bit.
 *
 * Every arithmetic step is one float32 operation in XGBoost's order (`f` = Math.fround after each
 * operation; float64 holds a float32 product, sum or quotient exactly before rounding, so the
 * result is the float32 one). What makes it faster than XGBoost without changing any result:
 * - the cover ratios (`sum_hess[child] / sum_hess[node]`) are divided once per model, not per row;
 * - a division by a small whole number k is a multiplication by 1/k in float64, then rounded: the
 *   float64 error (< 2^-52) is far below the gap between x/k and a float32 rounding boundary
 *   (> 2^-25 / k), so the rounded result is the same;
 * - a tree's contributions are added only for the features it touched (XGBoost adds all F + 1);
 * - interactions condition only the trees that split on the conditioning feature: for any other
 *   tree XGBoost's conditioned pass does exactly the unconditioned one's operations, so its
 *   unconditioned result is reused (XGBoost re-walks every tree 2F + 3 times per row).
 */
import type { Forest } from "../forest/forest.js";
import type { CompiledForest } from "../kernels/layout.js";
import { categoricalStep } from "../kernels/score.js";

const f = Math.fround;

/** What the walk needs beyond the scoring layout, per compiled node. */
export interface ShapForest {
  readonly forest: CompiledForest;
  readonly numFeature: number;
  readonly numGroups: number;
  /** The feature any split reads (numerical or categorical); -1 for a leaf. */
  readonly splitFeature: Int32Array;
  /** float32 sum_hess[n] / sum_hess[parent] (XGBoost's hot/cold zero fraction); 1 for roots. */
  readonly zeroFraction: Float64Array;
  /** The leaf value as stored (dart weights are applied per tree, after the walk, as XGBoost does). */
  readonly leafValue: Float64Array;
  /** Per tree: XGBoost's node mean value of the root (FillNodeMeanValues), the tree's bias term. */
  readonly rootMean: Float64Array;
  /** Per tree: the dart weight, or null for gbtree (weight 1). */
  readonly treeWeight: Float64Array | null;
  /** Per group: its trees in model order. */
  readonly groupTrees: readonly Int32Array[];
  /** Per tree: the distinct features it splits on, in `treeFeatures[treeFeatureStart[t]..[t+1])`. */
  readonly treeFeatureStart: Int32Array;
  readonly treeFeatures: Int32Array;
}

/** The deepest trees TreeSHAP walks: its path buffers grow with the square of the depth. */
export const MAX_SHAP_DEPTH = 1000;

/** Why a model cannot be explained, or null when it can. */
export function shapUnsupportedReason(spec: Forest, forest: CompiledForest): string | null {
  const t = spec.trees.findIndex((tree) => tree.cover === null);
  if (t !== -1)
    return `tree ${t} has no sum_hessian (node cover), which TreeSHAP needs; re-save the model with XGBoost's save_model`;
  if (forest.maxDepth > MAX_SHAP_DEPTH)
    return `its deepest tree has ${forest.maxDepth} levels; SHAP values are computed for trees up to ${MAX_SHAP_DEPTH} deep`;
  return null;
}

/**
 * The walk's data for a forest whose compiled trees are its own trees one for one (scalar leaves)
 * and whose kernel row is its feature row (an identity input plan): XGBoost's case.
 */
export function buildShapForest(spec: Forest, forest: CompiledForest): ShapForest {
  const n = forest.numNodes;
  const splitFeature = new Int32Array(n).fill(-1);
  const zeroFraction = new Float64Array(n).fill(1);
  const leafValue = new Float64Array(n);
  const cover = new Float64Array(n);
  const numTrees = spec.trees.length;
  const rootMean = new Float64Array(numTrees);
  const featureLists: number[][] = [];

  for (let t = 0; t < numTrees; t++) {
    const tree = spec.trees[forest.treeOf[t]];
    const hess = tree.cover;
    if (!hess) throw new Error(shapUnsupportedReason(spec, forest) ?? "no sum_hessian");
    const root = forest.roots[t];
    const end = t + 1 < numTrees ? forest.roots[t + 1] : n;
    const features = new Set<number>();
    for (let c = root; c < end; c++) {
      const id = forest.nodeId[c];
      cover[c] = f(hess[id]);
      if (tree.left[id] === -1) leafValue[c] = f(tree.leafValue[id]);
      else {
        splitFeature[c] = tree.feature[id];
        features.add(tree.feature[id]);
      }
    }
    for (let c = root; c < end; c++) {
      if (splitFeature[c] < 0) continue;
      const l = forest.left[c];
      zeroFraction[l] = f(cover[l] / cover[c]);
      zeroFraction[l + 1] = f(cover[l + 1] / cover[c]);
    }
    rootMean[t] = nodeMean(forest, cover, leafValue, splitFeature, root);
    featureLists.push([...features].sort((a, b) => a - b));
  }

  const treeFeatureStart = new Int32Array(numTrees + 1);
  featureLists.forEach((list, t) => {
    treeFeatureStart[t + 1] = treeFeatureStart[t] + list.length;
  });
  const treeFeatures = Int32Array.from(featureLists.flat());
  const byGroup: number[][] = Array.from({ length: spec.numGroups }, () => []);
  forest.groups.forEach((g, t) => {
    byGroup[g].push(t);
  });
  return {
    forest,
    numFeature: spec.features.length,
    numGroups: spec.numGroups,
    splitFeature,
    zeroFraction,
    leafValue,
    rootMean,
    treeWeight: spec.treeWeight ? Float64Array.from(spec.treeWeight, f) : null,
    groupTrees: byGroup.map((trees) => Int32Array.from(trees)),
    treeFeatureStart,
    treeFeatures,
  };
}

/** XGBoost's FillNodeMeanValues: (mean(left)·cover(left) + mean(right)·cover(right)) / cover, in float32. */
function nodeMean(
  forest: CompiledForest,
  cover: Float64Array,
  leafValue: Float64Array,
  splitFeature: Int32Array,
  node: number,
): number {
  if (splitFeature[node] < 0) return leafValue[node];
  const l = forest.left[node];
  const left = nodeMean(forest, cover, leafValue, splitFeature, l);
  const right = nodeMean(forest, cover, leafValue, splitFeature, l + 1);
  return f(f(f(left * cover[l]) + f(right * cover[l + 1])) / cover[node]);
}

/** 1/k in float64 for the small whole-number divisors of the path arithmetic. */
const MAX_DIVISOR = MAX_SHAP_DEPTH + 8;
const INVERSE = Float64Array.from({ length: MAX_DIVISOR + 1 }, (_, k) => 1 / k);

/**
 * One walker per thread: the path stack and per-tree scratch, sized for the forest once.
 * `explainRow` fills a row's contributions; `interactRow` its interaction matrix.
 */
export class TreeShapWalker {
  readonly forest: ShapForest;
  readonly #s: ShapForest;
  // XGBoost's PathElement array, as four columns; frames are stacked as in TreeShap.
  readonly #feat: Int32Array;
  readonly #zero: Float64Array;
  readonly #one: Float64Array;
  readonly #pw: Float64Array;
  /** (d - i) / (d + 1) in float32, at d * stride + i. */
  readonly #ratio: Float64Array;
  readonly #stride: number;
  // One tree's contributions (XGBoost's this_tree_contribs), and which features it touched.
  readonly #phi: Float64Array;
  readonly #touched: Int32Array;
  readonly #isTouched: Uint8Array;
  #numTouched = 0;
  // Per path element at a leaf: UnwoundPathSum's running state.
  readonly #nextOne: Float64Array;
  readonly #total: Float64Array;
  // The walk's explicit stack: one entry per pending child (XGBoost's recursion arguments).
  readonly #stackNode: Int32Array;
  readonly #stackDepth: Int32Array;
  readonly #stackBase: Int32Array;
  readonly #stackFeature: Int32Array;
  readonly #stackZero: Float64Array;
  readonly #stackOne: Float64Array;
  readonly #stackFraction: Float64Array;

  constructor(shap: ShapForest) {
    this.#s = shap;
    this.forest = shap;
    const maxd = shap.forest.maxDepth + 2;
    if (maxd + 1 > MAX_DIVISOR) throw new RangeError(`trees deeper than ${MAX_DIVISOR - 3} levels`);
    const size = (maxd * (maxd + 1)) / 2 + maxd + 2;
    this.#feat = new Int32Array(size);
    this.#zero = new Float64Array(size);
    this.#one = new Float64Array(size);
    this.#pw = new Float64Array(size);
    this.#stride = maxd + 1;
    this.#ratio = new Float64Array(this.#stride * this.#stride);
    for (let d = 0; d < this.#stride; d++)
      for (let i = 0; i < d; i++) this.#ratio[d * this.#stride + i] = f((d - i) / (d + 1));
    this.#phi = new Float64Array(shap.numFeature + 1);
    this.#touched = new Int32Array(shap.numFeature + 1);
    this.#isTouched = new Uint8Array(shap.numFeature + 1);
    this.#nextOne = new Float64Array(maxd + 1);
    this.#total = new Float64Array(maxd + 1);
    const stack = 2 * maxd + 2;
    this.#stackNode = new Int32Array(stack);
    this.#stackDepth = new Int32Array(stack);
    this.#stackBase = new Int32Array(stack);
    this.#stackFeature = new Int32Array(stack);
    this.#stackZero = new Float64Array(stack);
    this.#stackOne = new Float64Array(stack);
    this.#stackFraction = new Float64Array(stack);
  }

  /**
   * XGBoost's PredictContribution for one row (`values[rowBase .. rowBase + F)`) and one group:
   * writes F + 1 values at `out[at ..]`, the last being the bias (base margin + tree means).
   */
  explainRow(
    values: Float32Array,
    rowBase: number,
    group: number,
    baseMargin: number,
    out: Float32Array | Float64Array,
    at: number,
  ): void {
    const s = this.#s;
    const nf = s.numFeature;
    for (let k = 0; k <= nf; k++) out[at + k] = 0;
    const trees = s.groupTrees[group];
    for (let j = 0; j < trees.length; j++) {
      const t = trees[j];
      this.#treeShap(values, rowBase, t, 0, 0);
      this.#addTree(out, at, s.treeWeight ? s.treeWeight[t] : 1, nf, t, true);
    }
    out[at + nf] = f(out[at + nf] + baseMargin);
  }

  /**
   * XGBoost's PredictInteractionContributions for one row and group: (F + 1)² values at `out[at ..]`,
   * row i holding feature i's interactions and its main effect on the diagonal.
   */
  interactRow(
    values: Float32Array,
    rowBase: number,
    group: number,
    baseMargin: number,
    out: Float32Array,
    at: number,
    scratch: InteractionScratch,
  ): void {
    const s = this.#s;
    const nf = s.numFeature;
    const width = nf + 1;
    const trees = s.groupTrees[group];
    const { diag, on, off, cacheStart, cacheFeat, cacheVal, used } = scratch;
    // The unconditioned pass: the diagonal's source, and each tree's weighted terms for reuse.
    for (let k = 0; k <= nf; k++) diag[k] = 0;
    used.fill(0);
    let c = 0;
    for (let j = 0; j < trees.length; j++) {
      const t = trees[j];
      const w = s.treeWeight ? s.treeWeight[t] : 1;
      this.#treeShap(values, rowBase, t, 0, 0);
      cacheStart[j] = c;
      for (let q = 0; q < this.#numTouched; q++) {
        const k = this.#touched[q];
        if (k === nf) continue; // the tree mean: unconditioned passes only
        cacheFeat[c] = k;
        cacheVal[c++] = f(this.#phi[k] * w);
      }
      this.#addTree(diag, 0, w, nf, t, true);
      for (let p = s.treeFeatureStart[t]; p < s.treeFeatureStart[t + 1]; p++) used[s.treeFeatures[p]] = 1;
    }
    cacheStart[trees.length] = c;
    diag[nf] = f(diag[nf] + baseMargin);

    for (let i = 0; i <= nf; i++) {
      const row = at + i * width;
      if (!used[i]) {
        // No tree splits on i: XGBoost's on and off passes are equal, so the row is 0 but the diagonal.
        for (let k = 0; k <= nf; k++) out[row + k] = 0;
        out[row + i] = diag[i];
        continue;
      }
      for (let k = 0; k <= nf; k++) {
        on[k] = 0;
        off[k] = 0;
      }
      for (let j = 0; j < trees.length; j++) {
        const t = trees[j];
        if (splitsOn(s, t, i)) {
          const w = s.treeWeight ? s.treeWeight[t] : 1;
          this.#treeShap(values, rowBase, t, 1, i);
          this.#addTree(on, 0, w, nf, t, false);
          this.#treeShap(values, rowBase, t, -1, i);
          this.#addTree(off, 0, w, nf, t, false);
        } else {
          for (let p = cacheStart[j]; p < cacheStart[j + 1]; p++) {
            const k = cacheFeat[p];
            on[k] = f(on[k] + cacheVal[p]);
            off[k] = f(off[k] + cacheVal[p]);
          }
        }
      }
      on[nf] = f(on[nf] + baseMargin);
      off[nf] = f(off[nf] + baseMargin);
      interactionRow(on, off, diag, i, nf, out, row);
    }
  }

  /** p_contribs[k] += this_tree_contribs[k] * weight, for the features the tree touched; clears them. */
  #addTree(
    out: Float32Array | Float64Array,
    at: number,
    w: number,
    nf: number,
    t: number,
    withMean: boolean,
  ): void {
    if (withMean) this.#phi[nf] = f(this.#phi[nf] + this.#s.rootMean[t]);
    if (withMean && !this.#isTouched[nf]) {
      this.#isTouched[nf] = 1;
      this.#touched[this.#numTouched++] = nf;
    }
    for (let q = 0; q < this.#numTouched; q++) {
      const k = this.#touched[q];
      out[at + k] = f(out[at + k] + f(this.#phi[k] * w));
      this.#phi[k] = 0;
      this.#isTouched[k] = 0;
    }
    this.#numTouched = 0;
  }

  /**
   * XGBoost's CalculateContributions minus the mean: TreeShap from the root into #phi.
   *
   * XGBoost recurses; this walks the same nodes in the same order (hot child, then cold) with an
   * explicit stack, because a recursive call with float arguments allocates each one in V8. Each
   * child's path frame sits above its parent's (as in XGBoost), so the cold child still finds its
   * parent's frame intact after the hot subtree.
   */
  #treeShap(values: Float32Array, rowBase: number, t: number, condition: number, conditionFeature: number) {
    const s = this.#s;
    const forest = s.forest;
    const { feature: code, left, threshold: value, missingRight } = forest;
    const { splitFeature, zeroFraction: zf, leafValue } = s;
    const feat = this.#feat;
    const zero = this.#zero;
    const one = this.#one;
    const pw = this.#pw;
    const ratio = this.#ratio;
    const stride = this.#stride;
    const phi = this.#phi;
    const touched = this.#touched;
    const isTouched = this.#isTouched;
    const sNode = this.#stackNode;
    const sDepth = this.#stackDepth;
    const sBase = this.#stackBase;
    const sFeature = this.#stackFeature;
    const sZero = this.#stackZero;
    const sOne = this.#stackOne;
    const sFraction = this.#stackFraction;
    let top = 0;
    sNode[0] = forest.roots[t];
    sDepth[0] = 0;
    sBase[0] = 0;
    sFeature[0] = -1;
    sZero[0] = 1;
    sOne[0] = 1;
    sFraction[0] = 1;
    top = 1;
    while (top > 0) {
      top--;
      const node = sNode[top];
      let depth = sDepth[top];
      const parentBase = sBase[top];
      const parentFeature = sFeature[top];
      const parentZero = sZero[top];
      const parentOne = sOne[top];
      const conditionFraction = sFraction[top];
      if (conditionFraction === 0) continue;
      // extend the unique path: a copy of the parent's, one frame up
      const base = parentBase + depth + 1;
      for (let i = 0; i <= depth; i++) {
        feat[base + i] = feat[parentBase + i];
        zero[base + i] = zero[parentBase + i];
        one[base + i] = one[parentBase + i];
        pw[base + i] = pw[parentBase + i];
      }
      if (condition === 0 || conditionFeature !== parentFeature) {
        // ExtendPath(unique_path, depth, parentZero, parentOne, parentFeature)
        const d = depth;
        feat[base + d] = parentFeature;
        zero[base + d] = parentZero;
        one[base + d] = parentOne;
        pw[base + d] = d === 0 ? 1 : 0;
        const inv = INVERSE[d + 1];
        for (let i = d - 1; i >= 0; i--) {
          pw[base + i + 1] = f(pw[base + i + 1] + f(f(f(parentOne * pw[base + i]) * (i + 1)) * inv));
          pw[base + i] = f(f(f(parentZero * pw[base + i]) * (d - i)) * inv);
        }
      }
      const split = splitFeature[node];

      if (split < 0) {
        const leaf = leafValue[node];
        const d = depth;
        const r = d * stride;
        // UnwoundPathSum(unique_path, d, p) for every p at once: the same operations per p, in
        // the same order, but the d independent chains interleave instead of running one by one.
        const nextOne = this.#nextOne;
        const total = this.#total;
        for (let p = 1; p <= d; p++) {
          nextOne[p] = pw[base + d];
          total[p] = 0;
        }
        for (let i = d - 1; i >= 0; i--) {
          const pwi = pw[base + i];
          const rt = ratio[r + i];
          const inv = INVERSE[i + 1];
          for (let p = 1; p <= d; p++) {
            const oneFraction = one[base + p];
            const zeroFraction = zero[base + p];
            if (oneFraction !== 0) {
              // one fractions are 0 or 1, so (i + 1) * one_fraction is the whole number i + 1
              const tmp =
                oneFraction === 1
                  ? f(f(nextOne[p] * (d + 1)) * inv)
                  : f(f(nextOne[p] * (d + 1)) / f((i + 1) * oneFraction));
              total[p] = f(total[p] + tmp);
              nextOne[p] = f(pwi - f(f(tmp * zeroFraction) * rt));
            } else if (zeroFraction !== 0) {
              total[p] = f(total[p] + f(f(pwi / zeroFraction) / rt));
            }
          }
        }
        for (let p = 1; p <= d; p++) {
          const k = feat[base + p];
          const term = f(f(f(total[p] * f(one[base + p] - zero[base + p])) * leaf) * conditionFraction);
          phi[k] = f(phi[k] + term);
          if (isTouched[k] === 0) {
            isTouched[k] = 1;
            touched[this.#numTouched++] = k;
          }
        }
        continue;
      }

      // the child x follows (XGBoost's GetNextNode<has_missing, has_categorical>)
      const l = left[node];
      const c = code[node];
      let hot: number;
      const x = values[rowBase + split];
      if (c >= 0) hot = x < value[node] ? l : Number.isNaN(x) ? l + missingRight[node] : l + 1;
      else hot = categoricalStep(forest, -2 - c, node, x);
      const cold = hot === l ? l + 1 : l;
      const hotZero = zf[hot];
      const coldZero = zf[cold];
      let incomingZero = 1;
      let incomingOne = 1;
      // already split on this feature? undo that split so this node can redo it
      let pathIndex = 0;
      for (; pathIndex <= depth; pathIndex++) if (feat[base + pathIndex] === split) break;
      if (pathIndex !== depth + 1) {
        incomingZero = zero[base + pathIndex];
        incomingOne = one[base + pathIndex];
        this.#unwind(base, depth, pathIndex);
        depth -= 1;
      }
      let hotFraction = conditionFraction;
      let coldFraction = conditionFraction;
      if (condition > 0 && split === conditionFeature) {
        coldFraction = 0;
        depth -= 1;
      } else if (condition < 0 && split === conditionFeature) {
        hotFraction = f(hotFraction * hotZero);
        coldFraction = f(coldFraction * coldZero);
        depth -= 1;
      }
      // cold below hot on the stack: hot's whole subtree is walked first, as XGBoost recurses
      sNode[top] = cold;
      sDepth[top] = depth + 1;
      sBase[top] = base;
      sFeature[top] = split;
      sZero[top] = f(coldZero * incomingZero);
      sOne[top] = 0;
      sFraction[top] = coldFraction;
      top++;
      sNode[top] = hot;
      sDepth[top] = depth + 1;
      sBase[top] = base;
      sFeature[top] = split;
      sZero[top] = f(hotZero * incomingZero);
      sOne[top] = incomingOne;
      sFraction[top] = hotFraction;
      top++;
    }
  }

  #unwind(base: number, d: number, pathIndex: number): void {
    const pw = this.#pw;
    const oneFraction = this.#one[base + pathIndex];
    const zeroFraction = this.#zero[base + pathIndex];
    let nextOne = pw[base + d];
    const inv = INVERSE[d + 1];
    for (let i = d - 1; i >= 0; i--) {
      if (oneFraction !== 0) {
        const tmp = pw[base + i];
        const scaled = f(nextOne * (d + 1));
        pw[base + i] = oneFraction === 1 ? f(scaled * INVERSE[i + 1]) : f(scaled / f((i + 1) * oneFraction));
        nextOne = f(tmp - f(f(f(pw[base + i] * zeroFraction) * (d - i)) * inv));
      } else {
        pw[base + i] = f(f(pw[base + i] * (d + 1)) / f(zeroFraction * (d - i)));
      }
    }
    for (let i = pathIndex; i < d; i++) {
      this.#feat[base + i] = this.#feat[base + i + 1];
      this.#zero[base + i] = this.#zero[base + i + 1];
      this.#one[base + i] = this.#one[base + i + 1];
    }
  }
}

/**
 * Row i of XGBoost's interaction matrix from its passes conditioned on feature i (`on`, `off`) and
 * the unconditioned one (`diag`): (on − off) / 2 off the diagonal, and on it the main effect less
 * the row's interactions, each step a float32 operation in XGBoost's order. Shared with
 * shap-kernel.ts, whose passes run in WebAssembly.
 */
export function interactionRow(
  on: ArrayLike<number>,
  off: ArrayLike<number>,
  diag: ArrayLike<number>,
  i: number,
  nf: number,
  out: Float32Array,
  at: number,
): void {
  let sum = 0;
  for (let k = 0; k <= nf; k++) {
    if (k === i) {
      sum = f(sum + diag[k]);
    } else {
      const v = f(f(on[k] - off[k]) / 2);
      out[at + k] = v;
      sum = f(sum - v);
    }
  }
  out[at + i] = sum;
}

/** Whether tree t splits on `feature` (its sorted feature list). */
export function splitsOn(s: ShapForest, t: number, feature: number): boolean {
  for (let p = s.treeFeatureStart[t]; p < s.treeFeatureStart[t + 1]; p++) {
    const k = s.treeFeatures[p];
    if (k === feature) return true;
    if (k > feature) return false;
  }
  return false;
}

/** Buffers `interactRow` reuses across rows. */
export interface InteractionScratch {
  readonly diag: Float64Array;
  readonly on: Float64Array;
  readonly off: Float64Array;
  readonly cacheStart: Int32Array;
  readonly cacheFeat: Int32Array;
  readonly cacheVal: Float64Array;
  readonly used: Uint8Array;
}

export function interactionScratch(s: ShapForest): InteractionScratch {
  const maxTrees = Math.max(0, ...s.groupTrees.map((g) => g.length));
  const width = s.numFeature + 1;
  return {
    diag: new Float64Array(width),
    on: new Float64Array(width),
    off: new Float64Array(width),
    cacheStart: new Int32Array(maxTrees + 1),
    cacheFeat: new Int32Array(s.treeFeatures.length),
    cacheVal: new Float64Array(s.treeFeatures.length),
    used: new Uint8Array(width),
  };
}
