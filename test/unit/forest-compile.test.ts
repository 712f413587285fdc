/**
 * The compiler and kernels against the Forest's meaning (model/forest/evaluate.ts): random forests
 * using every test (< <= > >= == != member, category in / not in set), every missing rule, float32
 * and float64 inputs and sums, vector leaves, tree weights, sum / min / max, scored on rows that
 * sit exactly on thresholds, one float step either side, NaN, ±0, tiny and huge values and
 * categories in and out of range: the compiled engine's sums equal the reference's bit for bit,
 * and so do the leaves it reaches. Every forest the SIMD kernel takes is scored by it too: both
 * builds (relaxed and plain SIMD), 8- and 16-bit bins, every number of top levels down to one (so
 * the deep walk takes up to four steps), batches of one row, three (walked row by row), 17 (a
 * block and a lane over) and 64, and a batch of thousands that spans several chunks.
 */
import t, { type Test } from "tap";
import { compileForest } from "../../model/compile/compile.js";
import { kernelRows } from "../../model/compile/input-plan.js";
import { type QuantizeOptions, quantizeForest } from "../../model/compile/quantize.js";
import { allocateTree } from "../../model/forest/build.js";
import { checkForest } from "../../model/forest/check.js";
import { evaluateForest, featuresOf, leafOf } from "../../model/forest/evaluate.js";
import type { Forest, ForestTree, Precision } from "../../model/forest/forest.js";
import { NodeFlag, Test as Split } from "../../model/forest/forest.js";
import { leafIndices } from "../../model/kernels/leaf-index.js";
import { relaxedSimdAvailable, simdScorerFor } from "../../model/kernels/simd-scorer.js";
import { WasmScorer } from "../../model/kernels/wasm-scorer.js";

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const TEST_CODES = [
  Split.LT,
  Split.LE,
  Split.GT,
  Split.GE,
  Split.EQ,
  Split.NE,
  Split.MEMBER,
  Split.IN_SET,
  Split.NOT_IN_SET,
];

interface Shape {
  input: Precision;
  accumulate: Precision;
  reduce: "sum" | "min" | "max";
  numFeature: number;
  numGroups: number;
  /** Which tests and flags to draw from. */
  tests: readonly number[];
  flags: boolean;
  vectorLeaves: boolean;
  weights: boolean;
  /**
   * Every tree's leaves this wide, and at least 8 trees (scikit-learn's forest classifiers): runs of
   * four trees with the same slots, which single rows walk once for every slot.
   */
  leafWidth?: number;
}

/** Thresholds a feature's splits draw from, so rows can land exactly on them. */
function thresholdPool(next: () => number, input: Precision): number[] {
  const pool: number[] = [0, -0, 1, -1, 0.1, 2.5, 1e-36, -1e-36, 3, 7, 1e30, -2.75, Number.NaN];
  for (let i = 0; i < 6; i++) pool.push((next() - 0.5) * 20);
  // float32 formats hold float32 thresholds; float64 ones any double.
  return input === "f32" ? pool.map(Math.fround) : pool;
}

function randomTree(next: () => number, shape: Shape, pools: number[][], depth: number): ForestTree {
  const width = shape.leafWidth ?? (shape.vectorLeaves ? 1 + Math.floor(next() * shape.numGroups) : 1);
  // A random full binary tree of at most `depth` levels, nodes numbered as created.
  const left: number[] = [];
  const right: number[] = [];
  const grow = (level: number): number => {
    const id = left.length;
    left.push(-1);
    right.push(-1);
    if (level < depth && (level === 0 || next() < 0.75)) {
      const l = grow(level + 1);
      const r = grow(level + 1);
      left[id] = l;
      right[id] = r;
    }
    return id;
  };
  grow(0);
  const tree = allocateTree(left.length, { leafWidth: width });
  const round = shape.accumulate === "f32" ? Math.fround : (x: number) => x;
  for (let n = 0; n < left.length; n++) {
    if (left[n] === -1) {
      for (let k = 0; k < width; k++) tree.leafValue[n * width + k] = round((next() - 0.5) * 4);
      continue;
    }
    tree.left[n] = left[n];
    tree.right[n] = right[n];
    const f = Math.floor(next() * shape.numFeature);
    tree.feature[n] = f;
    const test = shape.tests[Math.floor(next() * shape.tests.length)];
    tree.test[n] = test;
    let flags = next() < 0.5 ? NodeFlag.DEFAULT_LEFT : 0;
    if (shape.flags) {
      if (next() < 0.3) flags |= NodeFlag.ZERO_IS_MISSING;
      if (next() < 0.3) flags |= NodeFlag.NAN_AS_ZERO;
      if (next() < 0.5) flags |= NodeFlag.CATEGORY_TRUNCATES;
    }
    tree.flags[n] = flags;
    const pool = pools[f];
    tree.threshold[n] = pool[Math.floor(next() * pool.length)];
    if (test === Split.MEMBER) {
      const set = new Set<number>();
      for (let i = 0; i < 3; i++) {
        const v = pool[Math.floor(next() * pool.length)];
        if (!Number.isNaN(v)) set.add(v === 0 ? 0 : v);
      }
      tree.sets.set(n, Float64Array.from(set).sort());
    } else if (test === Split.IN_SET || test === Split.NOT_IN_SET) {
      const set = new Set<number>();
      const size = Math.floor(next() * 6);
      for (let i = 0; i < size; i++) set.add(Math.floor(next() * (next() < 0.2 ? 100 : 8)));
      tree.sets.set(n, Float64Array.from(set).sort());
    }
  }
  return tree;
}

function randomForest(seed: number, shape: Shape): Forest {
  const next = random(seed);
  const pools = Array.from({ length: shape.numFeature }, () => thresholdPool(next, shape.input));
  const numTrees = (shape.leafWidth ? 8 : 1) + Math.floor(next() * 12);
  const trees = Array.from({ length: numTrees }, () =>
    randomTree(next, shape, pools, 1 + Math.floor(next() * 5)),
  );
  const treeGroup = Int32Array.from(trees, (tree) =>
    Math.floor(next() * (shape.numGroups - tree.leafWidth + 1)),
  );
  const round = shape.accumulate === "f32" ? Math.fround : (x: number) => x;
  return {
    provenance: { format: "test", producer: null, details: {} },
    input: shape.input,
    accumulate: shape.accumulate,
    features: Array.from({ length: shape.numFeature }, () => ({
      name: null,
      kind: "numeric",
      formatType: null,
    })),
    inputs: null,
    preprocess: [],
    trees,
    treeGroup,
    treeWeight: shape.weights ? Float64Array.from(trees, () => round(0.1 + next())) : null,
    numGroups: shape.numGroups,
    aggregate: {
      reduce: shape.reduce,
      init: Float64Array.from({ length: shape.numGroups }, () =>
        shape.reduce === "sum" ? round(next()) : 0,
      ),
    },
    head: { family: "test" },
  };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
/** The value one representable step up or down (float32 or float64). */
function step(x: number, precision: Precision, up: boolean): number {
  if (!Number.isFinite(x)) return x;
  if (precision === "f32") {
    f32[0] = x;
    if (x === 0) return up ? 1.401298464324817e-45 : -1.401298464324817e-45;
    u32[0] += x > 0 === up ? 1 : -1;
    return f32[0];
  }
  f64[0] = x;
  if (x === 0) return up ? 5e-324 : -5e-324;
  u64[0] += x > 0 === up ? 1n : -1n;
  return f64[0];
}

/** Rows on, beside and away from every threshold, NaN, zeros and categories in and out of range. */
function rowsFor(forest: Forest, seed: number, count: number): Float64Array {
  const next = random(seed);
  const nf = forest.features.length;
  const values: number[][] = Array.from({ length: nf }, () => [
    Number.NaN,
    0,
    -0,
    1e-40,
    -0.5,
    2,
    9,
    150,
    2 ** 25,
  ]);
  for (const tree of forest.trees) {
    for (let n = 0; n < tree.numNodes; n++) {
      if (tree.left[n] === -1) continue;
      const list = values[tree.feature[n]];
      const t0 = tree.threshold[n];
      for (const p of ["f32", "f64"] as Precision[]) list.push(t0, step(t0, p, true), step(t0, p, false));
      for (const v of tree.sets.get(n) ?? []) list.push(v, v + 0.5, step(v, "f64", false));
    }
  }
  const out = new Float64Array(count * nf);
  for (let r = 0; r < count; r++)
    for (let f = 0; f < nf; f++) {
      const list = values[f];
      out[r * nf + f] = next() < 0.9 ? list[Math.floor(next() * list.length)] : (next() - 0.5) * 30;
    }
  return out;
}

/** Sums as the engine starts them: the initial margins (NaN for min / max). */
function initialSums(forest: Forest, shape: Shape, rows: number): Float32Array | Float64Array {
  const sums =
    shape.accumulate === "f32"
      ? new Float32Array(rows * shape.numGroups)
      : new Float64Array(rows * shape.numGroups);
  for (let r = 0; r < rows; r++)
    for (let g = 0; g < shape.numGroups; g++)
      sums[r * shape.numGroups + g] = shape.reduce === "sum" ? forest.aggregate.init[g] : Number.NaN;
  return sums;
}

/** Entries where the engine's sums differ from the reference's (first five). */
function differences(
  sums: Float32Array | Float64Array,
  expected: Float64Array | Float32Array,
  shape: Shape,
): string[] {
  // Groups no tree feeds stay NaN under min/max in the engine and 0 in the reference (its sums start there).
  const differ: string[] = [];
  for (let i = 0; i < sums.length && differ.length < 5; i++) {
    const a = Number.isNaN(sums[i]) && shape.reduce !== "sum" ? 0 : sums[i];
    if (!Object.is(a, expected[i % expected.length]))
      differ.push(`[${i}] engine ${sums[i]} reference ${expected[i % expected.length]}`);
  }
  return differ;
}

/** Scores `rows` rows in batches of `batch` with `accumulate` (the scorer's own entry). */
function scoreInBatches(
  accumulate: (values: Float32Array | Float64Array, rows: number, sums: Float32Array | Float64Array) => void,
  values: Float32Array | Float64Array,
  width: number,
  sums: Float32Array | Float64Array,
  groups: number,
  rows: number,
  batch: number,
): void {
  for (let r = 0; r < rows; r += batch) {
    const n = Math.min(batch, rows - r);
    accumulate(values.subarray(r * width, (r + n) * width), n, sums.subarray(r * groups, (r + n) * groups));
  }
}

const RELAXED = relaxedSimdAvailable() ? [true, false] : [false];

function check(t: Test, seed: number, shape: Shape): void {
  const forest = randomForest(seed, shape);
  checkForest(forest);
  const rows = 64;
  // Rows as the model's row type would carry them: float32 formats get float32 rows.
  let input: Float32Array | Float64Array = rowsFor(forest, seed + 1, rows);
  if (shape.input === "f32") input = Float32Array.from(input);
  const expected = evaluateForest(forest, input, rows);
  const compiled = compileForest(forest);
  const nf = forest.features.length;
  const kernel = kernelRows(compiled.plan, input, nf, rows);
  const scorer = new WasmScorer(compiled.forest);
  const width = compiled.plan.columns.length;
  for (const batch of [rows, 1]) {
    const sums = initialSums(forest, shape, rows);
    scoreInBatches(
      (v, n, s) => scorer.accumulate(v as Float32Array, n, s),
      kernel,
      width,
      sums,
      shape.numGroups,
      rows,
      batch,
    );
    t.same(
      differences(sums, expected, shape),
      [],
      `seed ${seed}, ${batch === 1 ? "row by row" : `${rows} rows at once`}: sums bit-identical`,
    );
  }

  // The SIMD kernel on the binned layout, where the forest allows it.
  const quantized = quantizeForest(forest, compiled);
  const simdTakes = shape.reduce === "sum" && !compiled.forest.categorical.some((c) => c === 1);
  t.equal("binned" in quantized, simdTakes, `seed ${seed}: the SIMD kernel takes it: ${simdTakes}`);
  if ("binned" in quantized) {
    // Each later slot of a vector leaf walks as its first (the kernel reuses that walk); no other tree.
    const slots = forest.trees.flatMap((tree) =>
      Array.from({ length: tree.leafWidth }, (_, k) => (k > 0 ? 1 : 0)),
    );
    t.same(Array.from(quantized.binned.sharesWalk), slots, `seed ${seed}: the trees that share a walk`);
    const wrong: string[] = [];
    // Every tree complete (the default for these shallow ones), none, or those of up to three levels.
    const variants: QuantizeOptions[] = [{}, { width: 16 }, { completeDepthMax: 0 }, { completeDepthMax: 3 }];
    for (let levels = 1; levels < quantized.binned.topLevels; levels++)
      variants.push({ topLevels: levels }, { topLevels: levels, completeDepthMax: 0 });
    variants.push({ width: 16, topLevels: 1 }, { width: 16, topLevels: 2, completeDepthMax: 3 });
    for (const options of variants) {
      const q = quantizeForest(forest, compiled, options);
      if (!("binned" in q)) throw new Error(q.refused);
      for (const relaxed of RELAXED) {
        const simd = simdScorerFor(q.binned, nf, { relaxed });
        for (const batch of [rows, 17, 3, 1]) {
          const sums = initialSums(forest, shape, rows);
          scoreInBatches(
            (v, n, s) => simd.accumulate(v, n, s),
            input,
            nf,
            sums,
            shape.numGroups,
            rows,
            batch,
          );
          const differ = differences(sums, expected, shape);
          if (differ.length > 0)
            wrong.push(
              `${JSON.stringify(options)}, relaxed ${relaxed}, batch ${batch}: ${differ.join("; ")}`,
            );
        }
      }
      // Thousands of rows at once: several chunks, each of them tree by tree (a tree a tile).
      const repeats = 80;
      const many = new (input.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(
        input.length * repeats,
      );
      for (let i = 0; i < repeats; i++) many.set(input, i * input.length);
      const sums = initialSums(forest, shape, rows * repeats);
      simdScorerFor(q.binned, nf, { tileBytes: 1 }).accumulate(many, rows * repeats, sums);
      const differ = differences(sums, expected, shape);
      if (differ.length > 0)
        wrong.push(`${q.binned.width}-bit, ${rows * repeats} rows: ${differ.join("; ")}`);
    }
    t.same(
      wrong.slice(0, 5),
      [],
      `seed ${seed}: SIMD kernel sums bit-identical (${variants.length} layouts)`,
    );
  }
  // Leaves: the first copy of each tree, against the reference walk.
  const leaves = new Float32Array(rows * forest.trees.length);
  leafIndices(compiled.forest, kernel, compiled.plan.columns.length, rows, leaves, (_t, n) => n);
  const wrong: string[] = [];
  for (let r = 0; r < rows; r++) {
    const row = featuresOf(forest, Float64Array.from(input.subarray(r * nf, (r + 1) * nf)));
    forest.trees.forEach((tree, i) => {
      const want = leafOf(tree, row);
      if (leaves[r * forest.trees.length + i] !== want)
        wrong.push(`row ${r} tree ${i}: ${leaves[r * forest.trees.length + i]} vs ${want}`);
    });
  }
  t.same(wrong.slice(0, 5), [], `seed ${seed}: leaves as the reference walk`);
}

const COMPARE = [Split.LT, Split.LE, Split.GT, Split.GE];
const SHAPES: [string, Shape][] = [
  [
    "float32, comparisons only (XGBoost, ONNX float)",
    {
      input: "f32",
      accumulate: "f32",
      reduce: "sum",
      numFeature: 4,
      numGroups: 2,
      tests: COMPARE,
      flags: false,
      vectorLeaves: false,
      weights: true,
    },
  ],
  [
    "float32 with every test and flag",
    {
      input: "f32",
      accumulate: "f32",
      reduce: "sum",
      numFeature: 3,
      numGroups: 3,
      tests: TEST_CODES,
      flags: true,
      vectorLeaves: true,
      weights: false,
    },
  ],
  [
    "float64 inputs and sums (LightGBM, HistGradientBoosting)",
    {
      input: "f64",
      accumulate: "f64",
      reduce: "sum",
      numFeature: 4,
      numGroups: 2,
      tests: TEST_CODES,
      flags: true,
      vectorLeaves: true,
      weights: true,
    },
  ],
  [
    "float32 inputs, float64 sums (scikit-learn trees)",
    {
      input: "f32",
      accumulate: "f64",
      reduce: "sum",
      numFeature: 3,
      numGroups: 3,
      tests: [Split.LE],
      flags: false,
      vectorLeaves: true,
      weights: true,
    },
  ],
  [
    "vector leaves all two wide, deep and shallow trees (scikit-learn's forest classifiers)",
    {
      input: "f32",
      accumulate: "f64",
      reduce: "sum",
      numFeature: 3,
      numGroups: 2,
      tests: [Split.LE],
      flags: false,
      vectorLeaves: true,
      weights: false,
      leafWidth: 2,
    },
  ],
  [
    "min and max (ONNX MIN / MAX)",
    {
      input: "f32",
      accumulate: "f32",
      reduce: "min",
      numFeature: 3,
      numGroups: 2,
      tests: COMPARE,
      flags: false,
      vectorLeaves: false,
      weights: false,
    },
  ],
  [
    "max, float64",
    {
      input: "f64",
      accumulate: "f64",
      reduce: "max",
      numFeature: 2,
      numGroups: 1,
      tests: TEST_CODES,
      flags: true,
      vectorLeaves: false,
      weights: false,
    },
  ],
];

for (const [name, shape] of SHAPES) {
  t.test(name, async (t) => {
    for (let seed = 1; seed <= Number(process.env.COMPILE_SEEDS ?? 40); seed++)
      check(t, seed * 7919 + shape.numFeature, shape);
  });
}

t.test("float32 thresholds moved exactly: x <= t64 for float32 x", async (t) => {
  // scikit-learn's trees compare float32(x) <= a float64 threshold between two float32s.
  const tree = allocateTree(3);
  tree.left[0] = 1;
  tree.right[0] = 2;
  tree.test[0] = Split.LE;
  tree.threshold[0] = 0.1; // not a float32
  tree.leafValue[1] = 1;
  tree.leafValue[2] = 2;
  const forest = randomForest(1, {
    input: "f32",
    accumulate: "f64",
    reduce: "sum",
    numFeature: 1,
    numGroups: 1,
    tests: COMPARE,
    flags: false,
    vectorLeaves: false,
    weights: false,
  });
  const one: Forest = {
    ...forest,
    trees: [tree],
    treeGroup: new Int32Array(1),
    treeWeight: null,
    aggregate: { reduce: "sum", init: new Float64Array(1) },
  };
  const below = Math.fround(0.1) < 0.1 ? Math.fround(0.1) : step(Math.fround(0.1), "f32", false);
  const above = step(below, "f32", true);
  const rows = Float32Array.from([below, above, Number.NaN]);
  const compiled = compileForest(one);
  t.ok(compiled.plan.identity, "float32 inputs need no bins");
  const sums = new Float64Array(3);
  new WasmScorer(compiled.forest).accumulate(kernelRows(compiled.plan, rows, 1, 3), 3, sums);
  t.same(Array.from(sums), [1, 2, 2], "the float32 below 0.1 goes left, the one above right, NaN right");
});
