/**
 * Set (categorical) splits in the WebAssembly kernel: random forests mixing numeric and set
 * splits (and trees with none), compiled, scored by every entry of the kernel — scoreBlock's level
 * walk (dense and not), scoreRow (dense and not), scoreRowDense4 — in its float32 and float64
 * builds, bit for bit against the JavaScript kernel (score.ts's accumulateMargins /
 * categoricalStep) on kernel rows full of awkward categories (NaN, ±0, negatives, fractions,
 * 2^24 and past it, ±Infinity, categories past a set's last word), and end to end against the
 * Forest's reference semantics (evaluateForest).
 */
import t from "tap";
import { compileForest } from "../../model/compile/compile.js";
import { kernelRows } from "../../model/compile/input-plan.js";
import { allocateTree } from "../../model/forest/build.js";
import { checkForest } from "../../model/forest/check.js";
import { evaluateForest } from "../../model/forest/evaluate.js";
import type { Forest, ForestTree, Precision } from "../../model/forest/forest.js";
import { NodeFlag, Test } from "../../model/forest/forest.js";
import { KERNEL_F32_WASM_BASE64, KERNEL_F64_WASM_BASE64 } from "../../model/kernels/kernel-wasm.js";
import type { CompiledForest } from "../../model/kernels/layout.js";
import { accumulateMargins } from "../../model/kernels/score.js";
import {
  buildKernelImage,
  type KernelExports,
  kernelImageBytes,
  treeFlags,
  WasmScorer,
} from "../../model/kernels/wasm-scorer.js";

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

/** Categories sets draw from: small ones, word edges, and a few far ones (sets many words long). */
const SET_CATEGORIES = [0, 1, 2, 3, 5, 7, 30, 31, 32, 33, 63, 64, 95, 100, 1000, 4097, 2 ** 20, 2 ** 24 - 1];

/** Values a row's columns draw from: every way a category can be odd, and the sets' edges. */
const AWKWARD = [
  Number.NaN,
  0,
  -0,
  -0.5,
  -1,
  -31,
  -1e30,
  Number.NEGATIVE_INFINITY,
  Number.POSITIVE_INFINITY,
  1e-40,
  0.5,
  0.99999994,
  2.5,
  31.75,
  32.25,
  96,
  128, // past most sets' last word
  2 ** 20,
  2 ** 20 + 0.5,
  2 ** 24 - 1,
  2 ** 24, // MAX_CATEGORY: left
  2 ** 24 + 2,
  2 ** 31,
  2 ** 32,
  1e30,
];

interface Shape {
  input: Precision;
  accumulate: Precision;
  numFeature: number;
  numGroups: number;
}

function randomTree(next: () => number, shape: Shape, withSets: boolean, depth: number): ForestTree {
  const left: number[] = [];
  const right: number[] = [];
  const grow = (level: number): number => {
    const id = left.length;
    left.push(-1);
    right.push(-1);
    if (level < depth && (level === 0 || next() < 0.8)) {
      const l = grow(level + 1);
      const r = grow(level + 1);
      left[id] = l;
      right[id] = r;
    }
    return id;
  };
  grow(0);
  const tree = allocateTree(left.length);
  const round = shape.accumulate === "f32" ? Math.fround : (x: number) => x;
  for (let n = 0; n < left.length; n++) {
    if (left[n] === -1) {
      tree.leafValue[n] = round((next() - 0.5) * 4);
      continue;
    }
    tree.left[n] = left[n];
    tree.right[n] = right[n];
    tree.feature[n] = Math.floor(next() * shape.numFeature);
    let flags = next() < 0.5 ? NodeFlag.DEFAULT_LEFT : 0;
    if (withSets && next() < 0.5) {
      tree.test[n] = next() < 0.5 ? Test.IN_SET : Test.NOT_IN_SET;
      if (next() < 0.3) flags |= NodeFlag.CATEGORY_TRUNCATES;
      const set = new Set<number>();
      // An empty set now and then: every category goes the same way.
      const size = next() < 0.1 ? 0 : 1 + Math.floor(next() * 6);
      for (let i = 0; i < size; i++) {
        const far = next() < 0.15;
        set.add(far ? SET_CATEGORIES[Math.floor(next() * SET_CATEGORIES.length)] : Math.floor(next() * 40));
      }
      tree.sets.set(
        n,
        Float64Array.from(set).sort((a, b) => a - b),
      );
    } else {
      tree.test[n] = [Test.LT, Test.LE, Test.GE, Test.GT][Math.floor(next() * 4)];
      tree.threshold[n] = [0, 1.5, 7, 32, -2, 2 ** 24][Math.floor(next() * 6)];
    }
    tree.flags[n] = flags;
  }
  return tree;
}

/** 1–23 trees (so four-tree groups and their remainders both occur), with and without set splits. */
function randomForest(seed: number, shape: Shape): Forest {
  const next = random(seed);
  const numTrees = 1 + Math.floor(next() * 23);
  const trees = Array.from({ length: numTrees }, () =>
    randomTree(next, shape, next() < 0.7, 1 + Math.floor(next() * 6)),
  );
  const round = shape.accumulate === "f32" ? Math.fround : (x: number) => x;
  return {
    provenance: { format: "test", producer: null, details: {} },
    input: shape.input,
    accumulate: shape.accumulate,
    features: Array.from({ length: shape.numFeature }, () => ({
      name: null,
      kind: "categorical",
      formatType: null,
    })),
    inputs: null,
    preprocess: [],
    trees,
    treeGroup: Int32Array.from(trees, () => Math.floor(next() * shape.numGroups)),
    treeWeight: null,
    numGroups: shape.numGroups,
    aggregate: {
      reduce: "sum",
      init: Float64Array.from({ length: shape.numGroups }, () => round(next())),
    },
    head: { family: "test" },
  };
}

/** Rows of `width` values drawn from AWKWARD, the sets' members and their neighbours; `dense`: no NaN. */
function awkwardRows(
  forest: Forest,
  seed: number,
  rows: number,
  width: number,
  dense: boolean,
): Float32Array {
  const next = random(seed);
  const pool = [...AWKWARD];
  for (const tree of forest.trees)
    for (const set of tree.sets.values()) for (const c of set) pool.push(c, c + 0.75, c - 0.25);
  const usable = dense ? pool.filter((v) => !Number.isNaN(v)) : pool;
  const out = new Float32Array(rows * width);
  for (let i = 0; i < out.length; i++) out[i] = usable[Math.floor(next() * usable.length)];
  return out;
}

function initialSums(
  compiled: CompiledForest,
  init: Float64Array,
  rows: number,
): Float32Array | Float64Array {
  const g = compiled.numGroups;
  const sums = compiled.precision === "f32" ? new Float32Array(rows * g) : new Float64Array(rows * g);
  for (let r = 0; r < rows; r++) sums.set(init.subarray(0, g), r * g);
  return sums;
}

/** Indices where two sums differ as bits (NaN equal to NaN, -0 apart from 0), the first few. */
function differences(a: ArrayLike<number>, b: ArrayLike<number>): string[] {
  const out: string[] = [];
  for (let i = 0; i < a.length && out.length < 5; i++)
    if (!Object.is(a[i], b[i])) out.push(`[${i}] ${a[i]} vs ${b[i]}`);
  if (a.length !== b.length) out.push(`lengths ${a.length} vs ${b.length}`);
  return out;
}

/** The JavaScript kernel's sums: the reference the WebAssembly kernel must equal bit for bit. */
function jsSums(compiled: CompiledForest, init: Float64Array, values: Float32Array, rows: number) {
  const sums = initialSums(compiled, init, rows);
  const nf = compiled.numColumns;
  accumulateMargins(compiled, values, nf, rows, sums, compiled.numGroups, 0, compiled.roots.length);
  return sums;
}

/** WasmScorer's sums, `batch` rows per accumulate call. */
function wasmSums(
  compiled: CompiledForest,
  init: Float64Array,
  values: Float32Array,
  rows: number,
  batch: number,
  scorer = new WasmScorer(compiled),
) {
  const sums = initialSums(compiled, init, rows);
  const nf = compiled.numColumns;
  const g = compiled.numGroups;
  for (let r = 0; r < rows; r += batch) {
    const m = Math.min(batch, rows - r);
    scorer.accumulate(values.subarray(r * nf, (r + m) * nf), m, sums.subarray(r * g, (r + m) * g));
  }
  return sums;
}

const SHAPES: [string, Shape][] = [
  [
    "float32 inputs and sums (XGBoost categorical, ONNX float)",
    { input: "f32", accumulate: "f32", numFeature: 3, numGroups: 2 },
  ],
  ["float32 inputs, float64 sums", { input: "f32", accumulate: "f64", numFeature: 4, numGroups: 1 }],
  [
    "float64 inputs and sums (LightGBM, HistGradientBoosting)",
    { input: "f64", accumulate: "f64", numFeature: 3, numGroups: 3 },
  ],
];

const SEEDS = Number(process.env.WASM_SETS_SEEDS ?? 30);

for (const [name, shape] of SHAPES) {
  t.test(`${name}: the WebAssembly kernel equals the JavaScript kernel on kernel rows`, async (t) => {
    let setTrees = 0;
    let setNodes = 0;
    /** Trees by kernel flags: 0 plain, 1 sets, 2 unbalanced, 3 both (each walks its own loops). */
    const byFlags = [0, 0, 0, 0];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const forest = randomForest(seed * 104729 + shape.numFeature, shape);
      checkForest(forest);
      const compiled = compileForest(forest).forest;
      setTrees += compiled.categorical.reduce((a, b) => a + b, 0);
      setNodes += compiled.feature.filter((f) => f <= -2).length;
      for (let i = 0; i < compiled.roots.length; i++) byFlags[treeFlags(compiled, i)]++;
      const init = forest.aggregate.init;
      const nf = compiled.numColumns;
      // 203 rows: three blocks of 64 and a short one; the kernel's own columns, filled directly.
      const rows = 203;
      for (const dense of [false, true]) {
        const values = awkwardRows(forest, seed * 31 + (dense ? 1 : 0), rows, nf, dense);
        const want = jsSums(compiled, init, values, rows);
        const scorer = new WasmScorer(compiled);
        for (const batch of [rows, 7, 1]) {
          t.same(
            differences(wasmSums(compiled, init, values, rows, batch, scorer), want),
            [],
            `seed ${seed}, ${dense ? "no NaN" : "with NaN"}, ${batch} row(s) at a time`,
          );
        }
      }
    }
    t.ok(setTrees > SEEDS, `trees with set splits were scored (${setTrees}, ${setNodes} set nodes)`);
    t.ok(
      byFlags.every((n) => n > 0),
      `balanced and unbalanced trees, with and without sets (${byFlags.join(", ")})`,
    );
  });

  t.test(`${name}: compiled and scored equals evaluateForest`, async (t) => {
    for (let seed = 1; seed <= SEEDS; seed++) {
      const forest = randomForest(seed * 7919 + shape.numFeature, shape);
      const compiled = compileForest(forest);
      const rows = 150;
      const nf = forest.features.length;
      let input: Float32Array | Float64Array = Float64Array.from(
        awkwardRows(forest, seed, rows, nf, seed % 2 === 0),
      );
      // float64 formats see values no float32 holds: categories a hair below a whole number.
      if (shape.input === "f64") input = input.map((v, i) => (i % 5 === 0 ? v - 1e-9 : v));
      else input = Float32Array.from(input);
      const want = evaluateForest(forest, input, rows);
      const kernel = kernelRows(compiled.plan, input, nf, rows);
      for (const batch of [rows, 1]) {
        t.same(
          differences(wasmSums(compiled.forest, forest.aggregate.init, kernel, rows, batch), want),
          [],
          `seed ${seed}, ${batch} row(s) at a time`,
        );
      }
    }
  });
}

t.test("each kernel entry, called directly, walks set splits (float32 and float64 builds)", async (t) => {
  for (const accumulate of ["f32", "f64"] as Precision[]) {
    const shape: Shape = { input: "f32", accumulate, numFeature: 3, numGroups: 2 };
    for (let seed = 1; seed <= 10; seed++) {
      const forest = randomForest(seed * 65537, shape);
      const compiled = compileForest(forest).forest;
      const numTrees = compiled.roots.length;
      const image = buildKernelImage(compiled);
      t.equal(image.bytes, kernelImageBytes(compiled), "the image is the size kernelImageBytes says");
      const base = image.memory.grow(1) * 65536;
      const module = new WebAssembly.Module(
        Buffer.from(accumulate === "f32" ? KERNEL_F32_WASM_BASE64 : KERNEL_F64_WASM_BASE64, "base64"),
      );
      const kernel = new WebAssembly.Instance(module, { env: { memory: image.memory } })
        .exports as unknown as KernelExports;
      const valuesAt = base + 1024;
      const marginsAt = base + 8192;
      kernel.setup(image.nodesAt, image.leavesAt, image.treesAt, image.setsAt, base);
      const nf = compiled.numColumns;
      const g = compiled.numGroups;
      const rows = 41;
      const values = awkwardRows(forest, seed, rows, nf, false);
      const denseValues = awkwardRows(forest, seed + 1, rows, nf, true);
      const margins =
        accumulate === "f32"
          ? new Float32Array(image.memory.buffer, marginsAt, rows * g)
          : new Float64Array(image.memory.buffer, marginsAt, rows * g);
      const memoryValues = new Float32Array(image.memory.buffer, valuesAt, rows * nf);
      const run = (rowsIn: Float32Array, score: () => void) => {
        memoryValues.set(rowsIn);
        margins.set(initialSums(compiled, forest.aggregate.init, rows));
        score();
        return Array.from(margins);
      };
      const want = jsSums(compiled, forest.aggregate.init, values, rows);
      const wantDense = jsSums(compiled, forest.aggregate.init, denseValues, rows);
      const bytes = margins.BYTES_PER_ELEMENT;
      t.same(
        differences(
          run(values, () => kernel.scoreBlock(valuesAt, rows, nf, 0, numTrees, marginsAt, g, 0)),
          want,
        ),
        [],
        `${accumulate} seed ${seed}: scoreBlock`,
      );
      t.same(
        differences(
          run(denseValues, () => kernel.scoreBlock(valuesAt, rows, nf, 0, numTrees, marginsAt, g, 1)),
          wantDense,
        ),
        [],
        `${accumulate} seed ${seed}: scoreBlock, dense`,
      );
      const eachRow = (dense: number) => () => {
        for (let r = 0; r < rows; r++)
          kernel.scoreRow(valuesAt + r * nf * 4, 0, numTrees, marginsAt + r * g * bytes, dense);
      };
      t.same(differences(run(values, eachRow(0)), want), [], `${accumulate} seed ${seed}: scoreRow`);
      t.same(
        differences(run(denseValues, eachRow(1)), wantDense),
        [],
        `${accumulate} seed ${seed}: scoreRow, dense`,
      );
      const fours = () => {
        for (let r = 0; r < rows; r++) {
          const row = valuesAt + r * nf * 4;
          const out = marginsAt + r * g * bytes;
          const rest = kernel.scoreRowDense4(row, 0, numTrees, out);
          t.equal(rest, numTrees - (numTrees % 4), "scoreRowDense4 leaves the remainder of four");
          kernel.scoreRow(row, rest, numTrees, out, 1);
        }
      };
      t.same(
        differences(run(denseValues, fours), wantDense),
        [],
        `${accumulate} seed ${seed}: scoreRowDense4`,
      );
    }
  }
});

t.test("a set split's edges, one by one", async (t) => {
  // One tree: column 0 in {0, 5, 31, 32, 100}, NaN to the right; right leaf 1, left leaf 0.
  const tree = allocateTree(3);
  tree.left[0] = 1;
  tree.right[0] = 2;
  tree.test[0] = Test.NOT_IN_SET; // members go right
  tree.sets.set(0, Float64Array.of(0, 5, 31, 32, 100));
  tree.leafValue[1] = 0;
  tree.leafValue[2] = 1;
  const forest = randomForest(1, { input: "f32", accumulate: "f32", numFeature: 1, numGroups: 1 });
  const one: Forest = {
    ...forest,
    trees: [tree],
    treeGroup: new Int32Array(1),
    aggregate: { reduce: "sum", init: new Float64Array(1) },
  };
  const cases: [number, number, string][] = [
    [Number.NaN, 1, "NaN: its default side (right)"],
    [0, 1, "0 is a member"],
    [-0, 1, "-0 is category 0"],
    [-0.5, 0, "a negative fraction is no category"],
    [0.99999994, 1, "truncated to 0"],
    [5.5, 1, "truncated to 5"],
    [6, 0, "not a member"],
    [31.9, 1, "the last bit of the first word"],
    [32, 1, "the first bit of the second word"],
    [100, 1, "the fourth word"],
    [128, 0, "past the set's last word"],
    [2 ** 24 - 1, 0, "the largest category, not a member"],
    [2 ** 24, 0, "MAX_CATEGORY: no category"],
    [2 ** 24 + 100, 0, "past MAX_CATEGORY, even if its low bits would name a member"],
    [2 ** 32, 0, "a value whose truncation would wrap to 0"],
    [Number.POSITIVE_INFINITY, 0, "+Infinity"],
    [Number.NEGATIVE_INFINITY, 0, "-Infinity"],
  ];
  const compiled = compileForest(one);
  const values = Float32Array.from(cases, ([x]) => x);
  const want = evaluateForest(one, values, cases.length);
  for (const batch of [cases.length, 1]) {
    const got = wasmSums(
      compiled.forest,
      one.aggregate.init,
      kernelRows(compiled.plan, values, 1, cases.length),
      cases.length,
      batch,
    );
    cases.forEach(([x, side, why], i) => {
      t.equal(got[i], side, `${x} (${why}), ${batch} row(s) at a time`);
      t.equal(want[i], side, `${x}: the reference agrees`);
    });
  }
});

t.test(
  "tree flags: set splits, and unbalanced trees (leaves' mean depth a level or more short)",
  async (t) => {
    // A full tree of depth 2 (balanced) and a chain of depth 4 (leaves at 1, 2, 3, 4, 4: mean 2.8).
    const full = allocateTree(7);
    const chain = allocateTree(9);
    for (const [tree, splits] of [
      [
        full,
        [
          [0, 1, 2],
          [1, 3, 4],
          [2, 5, 6],
        ],
      ],
      [
        chain,
        [
          [0, 1, 2],
          [2, 3, 4],
          [4, 5, 6],
          [6, 7, 8],
        ],
      ],
    ] as const) {
      for (const [n, l, r] of splits) {
        tree.left[n] = l;
        tree.right[n] = r;
        tree.test[n] = Test.LT;
        tree.threshold[n] = n;
      }
      for (let n = 0; n < tree.numNodes; n++) if (tree.left[n] === -1) tree.leafValue[n] = n;
    }
    const withSet = allocateTree(3);
    withSet.left[0] = 1;
    withSet.right[0] = 2;
    withSet.test[0] = Test.IN_SET;
    withSet.sets.set(0, Float64Array.of(2));
    withSet.leafValue[2] = 5;
    const forest: Forest = {
      ...randomForest(1, { input: "f32", accumulate: "f32", numFeature: 1, numGroups: 1 }),
      trees: [full, chain, withSet],
      treeGroup: new Int32Array(3),
      treeWeight: null,
      aggregate: { reduce: "sum", init: new Float64Array(1) },
    };
    checkForest(forest);
    const compiled = compileForest(forest);
    t.same(
      [0, 1, 2].map((i) => treeFlags(compiled.forest, i)),
      [0, 2, 1],
      "full: none; chain: unbalanced; a lone set split: sets (balanced)",
    );
    const values = Float32Array.of(-1, 0.5, 1.5, 2, 2.5, 3.5, 4, 5, Number.NaN);
    const want = evaluateForest(forest, values, values.length);
    const kernel = kernelRows(compiled.plan, values, 1, values.length);
    for (const batch of [values.length, 1])
      t.same(
        differences(wasmSums(compiled.forest, forest.aggregate.init, kernel, values.length, batch), want),
        [],
        `${batch} row(s) at a time`,
      );
  },
);
