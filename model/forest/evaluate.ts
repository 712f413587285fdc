/**
 * The Forest's meaning, as plain code: preprocessing, each split's own test, leaves summed in the
 * forest's precision. Slow on purpose (one row, one node at a time, no lowering), it is the
 * reference the compiled kernels are tested against, and what a new format's reader can be checked
 * with before anything is compiled. Never on the serving path.
 */
import { PredictInputError } from "../errors.js";
import type { ColumnSpan, Forest, ForestTree, Precision, PreprocessStep } from "./forest.js";
import { NodeFlag, Test, ZERO_THRESHOLD } from "./forest.js";

const fround = Math.fround;

export function roundTo(precision: Precision, x: number): number {
  return precision === "f32" ? fround(x) : x;
}

/** Whether `x` is in `set` (sorted, distinct), by binary search. */
function inSorted(set: Float64Array, x: number): boolean {
  let lo = 0;
  let hi = set.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (set[mid] === x) return true;
    if (set[mid] < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** The category a value names under a set test, or -1 when it names none. */
export function categoryOf(x: number, truncates: boolean, maxCategory = 2 ** 24): number {
  if (!truncates && x < 0) return -1;
  const c = Math.trunc(x);
  return c < 0 || c >= maxCategory ? -1 : c;
}

/** Which child node `n` sends a row whose feature value (already rounded to the input precision) is `x`. */
export function childOf(tree: ForestTree, n: number, x: number): number {
  const flags = tree.flags[n];
  const left = tree.left[n];
  const right = tree.right[n];
  const toDefault = flags & NodeFlag.DEFAULT_LEFT ? left : right;
  if (Number.isNaN(x)) {
    if (!(flags & NodeFlag.NAN_AS_ZERO)) return toDefault;
    x = 0;
  }
  const test = tree.test[n];
  const setTest = test === Test.IN_SET || test === Test.NOT_IN_SET;
  if (flags & NodeFlag.ZERO_IS_MISSING && !setTest && x >= -ZERO_THRESHOLD && x <= ZERO_THRESHOLD)
    return toDefault;
  const t = tree.threshold[n];
  let yes: boolean;
  switch (test) {
    case Test.LT:
      yes = x < t;
      break;
    case Test.LE:
      yes = x <= t;
      break;
    case Test.GT:
      yes = x > t;
      break;
    case Test.GE:
      yes = x >= t;
      break;
    case Test.EQ:
      yes = x === t;
      break;
    case Test.NE:
      yes = x !== t;
      break;
    case Test.MEMBER:
      yes = inSorted(tree.sets.get(n)!, x);
      break;
    default: {
      const c = categoryOf(x, (flags & NodeFlag.CATEGORY_TRUNCATES) !== 0);
      const member = c >= 0 && inSorted(tree.sets.get(n)!, c);
      yes = test === Test.IN_SET ? member : !member;
    }
  }
  return yes ? left : right;
}

/** The leaf `row` (features, rounded to the input precision) reaches in `tree`. */
export function leafOf(tree: ForestTree, row: Float64Array, at = 0): number {
  let n = 0;
  while (tree.left[n] !== -1) n = childOf(tree, n, row[at + tree.feature[n]]);
  return n;
}

/**
 * One row's inputs (numInputs values, NaN = missing) → the forest's features, by the
 * preprocessing steps, then rounded to the input precision. Throws PredictInputError for a row a
 * step refuses (an unknown category under OneHotEncoder's handle_unknown="error").
 */
export function featuresOf(forest: Forest, inputs: Float64Array): Float64Array {
  let v = inputs;
  for (const step of forest.preprocess) v = applyStep(step, v);
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = roundTo(forest.input, v[i]);
  return out;
}

export function applyStep(step: PreprocessStep, v: Float64Array): Float64Array {
  switch (step.kind) {
    case "elementwise": {
      const p = step.precision;
      const out = Float64Array.from(v, (x) => roundTo(p, x));
      for (const { op, operand } of step.ops) {
        for (let c = 0; c < out.length; c++) {
          const a = out[c];
          const b = roundTo(p, operand[c]);
          out[c] = roundTo(p, op === "add" ? a + b : op === "sub" ? a - b : op === "mul" ? a * b : a / b);
        }
      }
      return out;
    }
    case "impute": {
      const out = v.slice();
      const byValue = !Number.isNaN(step.missingValue);
      for (let c = 0; c < out.length; c++)
        if (Number.isNaN(out[c]) || (byValue && out[c] === step.missingValue)) out[c] = step.values[c];
      return out;
    }
    case "select":
      return Float64Array.from(step.columns, (c) => v[c]);
    case "oneHot": {
      const k = step.categories.length;
      const out = new Float64Array(v.length - 1 + k);
      out.set(v.subarray(0, step.column), 0);
      const x = v[step.column];
      let hit = false;
      for (let j = 0; j < k; j++) {
        const same = step.categories[j] === x;
        out[step.column + j] = same ? 1 : 0;
        hit ||= same;
      }
      if (!hit && step.unknown === "error")
        throw new PredictInputError(`column ${step.column}: ${x} is not one of the encoder's categories`);
      out.set(v.subarray(step.column + 1), step.column + k);
      return out;
    }
    case "lookup": {
      const out = v.slice();
      const x = out[step.column];
      out[step.column] =
        Number.isInteger(x) && x >= 0 && x < step.table.length ? step.table[x] : step.fallback;
      return out;
    }
    case "normalize": {
      if (step.span) return inSpan(step.span, v, (part) => applyStep({ ...step, span: undefined }, part));
      if (step.formula === "onnxruntime") return onnxruntimeNormalize(step.norm, v);
      const p = step.precision;
      let norm = 0;
      for (const x of v) {
        const a = Math.abs(x);
        norm =
          step.norm === "MAX"
            ? Math.max(norm, a)
            : roundTo(p, norm + (step.norm === "L2" ? roundTo(p, a * a) : a));
      }
      if (step.norm === "L2") norm = roundTo(p, Math.sqrt(norm));
      if (norm === 0) return v.slice();
      return Float64Array.from(v, (x) => roundTo(p, x / norm));
    }
    case "binarize":
      if (step.span) return inSpan(step.span, v, (part) => applyStep({ ...step, span: undefined }, part));
      return Float64Array.from(v, (x, c) => {
        if (Number.isNaN(x) && step.nan === "error")
          throw new PredictInputError(`column ${c}: the binarizer refuses NaN (as onnxruntime's does)`);
        return roundTo(step.precision, x) > step.threshold ? 1 : 0;
      });
    case "cast":
      if (step.span) return inSpan(step.span, v, (part) => applyStep({ ...step, span: undefined }, part));
      return Float64Array.from(v, (x) => roundTo(step.precision, x));
  }
}

/** `v` with columns [from, from + count) replaced by what `apply` makes of them. */
function inSpan(
  span: ColumnSpan,
  v: Float64Array,
  apply: (part: Float64Array) => Float64Array,
): Float64Array {
  const out = v.slice();
  out.set(apply(v.subarray(span.from, span.from + span.count)), span.from);
  return out;
}

/** onnxruntime's Normalizer (ml/normalizer.cc): float32 throughout, one rounding per C++ float operation. */
export function onnxruntimeNormalize(norm: "L1" | "L2" | "MAX", v: Float64Array): Float64Array {
  const f = Math.fround;
  const out = new Float64Array(v.length);
  if (norm === "MAX") {
    let max = -3.4028234663852886e38;
    // std::max(max, x) keeps max when x is NaN.
    for (const x of v) if (max < f(x)) max = f(x);
    for (let i = 0; i < v.length; i++) out[i] = max !== 0 ? f(f(v[i]) / max) : f(v[i]);
    return out;
  }
  if (norm === "L1") {
    let sum = 0;
    for (const x of v) sum = f(sum + f(Math.abs(x)));
    for (let i = 0; i < v.length; i++) out[i] = sum !== 0 ? f(f(v[i]) / sum) : f(v[i]);
    return out;
  }
  // L2: x² in the input's type, rounded to float32, summed in float32; out = ±√(x² / Σ).
  let sum = 0;
  const squares = Float64Array.from(v, (x) => f(x * x));
  for (const q of squares) sum = f(sum + q);
  for (let i = 0; i < v.length; i++) {
    if (sum === 0) out[i] = f(v[i]);
    else {
      const r = f(Math.sqrt(f(squares[i] / sum)));
      out[i] = v[i] < 0 ? -r : r;
    }
  }
  return out;
}

/**
 * The trees' sums for `rows` rows of inputs (row-major, numInputs each): rows × numGroups, in the
 * accumulate precision (Float32Array for f32), before the head finishes them.
 */
export function evaluateForest(
  forest: Forest,
  inputs: Float64Array | Float32Array,
  rows: number,
): Float32Array | Float64Array {
  const numInputs = forest.inputs?.length ?? forest.features.length;
  if (inputs.length !== rows * numInputs)
    throw new PredictInputError(
      `inputs has ${inputs.length} values; ${rows} rows × ${numInputs} need ${rows * numInputs}`,
    );
  const p = forest.accumulate;
  const groups = forest.numGroups;
  const sums = p === "f32" ? new Float32Array(rows * groups) : new Float64Array(rows * groups);
  const seen = new Uint8Array(groups);
  for (let r = 0; r < rows; r++) {
    const row = featuresOf(forest, Float64Array.from(inputs.subarray(r * numInputs, (r + 1) * numInputs)));
    const at = r * groups;
    seen.fill(0);
    if (forest.aggregate.reduce === "sum")
      for (let g = 0; g < groups; g++) sums[at + g] = forest.aggregate.init[g];
    forest.trees.forEach((tree, t) => {
      const leaf = leafOf(tree, row);
      const weight = forest.treeWeight ? roundTo(p, forest.treeWeight[t]) : 1;
      const g0 = forest.treeGroup[t];
      for (let k = 0; k < tree.leafWidth; k++) {
        let v = roundTo(p, tree.leafValue[leaf * tree.leafWidth + k]);
        if (forest.treeWeight) v = roundTo(p, v * weight);
        const i = at + g0 + k;
        if (forest.aggregate.reduce === "sum") sums[i] = roundTo(p, sums[i] + v);
        else if (!seen[g0 + k]) {
          sums[i] = v;
          seen[g0 + k] = 1;
        } else sums[i] = forest.aggregate.reduce === "min" ? Math.min(sums[i], v) : Math.max(sums[i], v);
      }
    });
  }
  return sums;
}
