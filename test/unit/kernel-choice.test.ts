/**
 * Which kernel scores a model: the SIMD kernel (binned rows) wherever the quantizer can express the
 * forest, else the walk kernel, with the reason in ModelInfo.kernel. The rule, read off the Forest
 * itself: trees combined by sum and no split testing equality or a set (EQ, NE, MEMBER, IN_SET,
 * NOT_IN_SET: the compiler lowers those to set splits, which the SIMD kernel has no instruction
 * for). Held on every committed fixture of every format; both kinds of fallback occur among them.
 * Where the SIMD kernel takes a forest without preprocessing, it and the walk kernel give the same
 * margins bit for bit on rows made of the forest's own thresholds, their neighbours, NaN and zeros.
 */
import { readFileSync } from "node:fs";
import t from "tap";
import { SIMD_DEPTH_MAX } from "../../model/compile/quantize.js";
import { ModelError } from "../../model/errors.js";
import { allocateTree } from "../../model/forest/build.js";
import { evaluateForest } from "../../model/forest/evaluate.js";
import { type Forest, type ForestTree, Test, ZERO_THRESHOLD } from "../../model/forest/forest.js";
import { readForest } from "../../model/index.js";
import { Model } from "../../model/model.js";
import { fixtures } from "../helpers/fixtures.js";
import { lightgbmFixtures } from "../helpers/lightgbm-fixtures.js";
import { onnxFixtures } from "../helpers/onnx-fixtures.js";
import { graphFixtures } from "../helpers/onnx-graph-fixtures.js";
import { sklearnFixtures } from "../helpers/sklearn-fixtures.js";

const SET_TESTS: ReadonlySet<number> = new Set([Test.EQ, Test.NE, Test.MEMBER, Test.IN_SET, Test.NOT_IN_SET]);

/** Levels from the root to the deepest leaf. */
function depthOf(tree: ForestTree): number {
  let deepest = 0;
  const stack: [number, number][] = [[0, 0]];
  while (stack.length > 0) {
    const [n, d] = stack.pop() as [number, number];
    if (tree.left[n] === -1) deepest = Math.max(deepest, d);
    else stack.push([tree.left[n], d + 1], [tree.right[n], d + 1]);
  }
  return deepest;
}

/** Why the walk kernel must score `forest`, or null when the SIMD kernel can. */
function walkReason(forest: Forest): string | null {
  if (forest.aggregate.reduce !== "sum") return `trees combine by ${forest.aggregate.reduce}`;
  for (const tree of forest.trees)
    for (let n = 0; n < tree.numNodes; n++)
      if (tree.left[n] !== -1 && SET_TESTS.has(tree.test[n])) return "the model has set splits";
  const depth = Math.max(...forest.trees.map(depthOf));
  if (depth > SIMD_DEPTH_MAX) return `trees ${depth} levels deep (more than ${SIMD_DEPTH_MAX})`;
  return null;
}

function allModels(): { name: string; bytes: Uint8Array }[] {
  return [
    ...fixtures().map((f) => ({ name: `xgboost/${f.name}`, bytes: readFileSync(f.files[0]) })),
    ...onnxFixtures().map((f) => ({ name: `onnx/${f.name}`, bytes: readFileSync(f.path) })),
    ...graphFixtures().map((f) => ({ name: `onnx-graph/${f.name}`, bytes: readFileSync(f.path) })),
    ...sklearnFixtures().map((f) => ({ name: `sklearn/${f.name}`, bytes: readFileSync(f.path) })),
    ...lightgbmFixtures().map((f) => ({ name: `lightgbm/${f.name}`, bytes: f.bytes() })),
  ];
}

/** The next double after x towards +Infinity (finite x). */
function nextUp(x: number): number {
  const f = new Float64Array([x === 0 ? 0 : x]);
  const u = new BigInt64Array(f.buffer);
  if (x === 0) return Number.MIN_VALUE;
  u[0] += x > 0 ? 1n : -1n;
  return f[0];
}

/** Rows whose values sit on and around the forest's thresholds, with NaN, zeros and tiny values. */
function boundaryRows(forest: Forest, count: number): Float64Array {
  const nf = forest.features.length;
  // Around LightGBM's zero (|x| <= float32 1e-35 is zero; the double 1e-35 is below it).
  const zeros = [0, -0, 1e-36, 1e-35, ZERO_THRESHOLD, nextUp(ZERO_THRESHOLD)];
  const pools: number[][] = Array.from({ length: nf }, () => [Number.NaN, ...zeros, ...zeros.map((z) => -z)]);
  for (const tree of forest.trees)
    for (let n = 0; n < tree.numNodes; n++) {
      const x = tree.threshold[n];
      if (tree.left[n] === -1 || !Number.isFinite(x)) continue;
      pools[tree.feature[n]].push(x, nextUp(x), -nextUp(-x), Math.fround(x));
    }
  let seed = 7;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const out = new Float64Array(count * nf);
  for (let r = 0; r < count; r++)
    for (let f = 0; f < nf; f++) out[r * nf + f] = pools[f][Math.floor(next() * pools[f].length)];
  return out;
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

t.test(
  "every fixture: SIMD where the forest allows it, the walk otherwise, and the same margins",
  async (t) => {
    const reasons = new Map<string, number>();
    let simd = 0;
    let compared = 0;
    for (const { name, bytes } of allModels()) {
      let forest: Forest;
      try {
        forest = readForest(bytes);
      } catch (error) {
        // Fixtures of what forestd refuses (LightGBM's linear trees): their own tests hold the refusal.
        if (error instanceof ModelError) continue;
        throw error;
      }
      const model = new Model(forest);
      const kernel = model.info().kernel;
      const reason = walkReason(forest);
      if (reason === null) {
        simd++;
        t.match(kernel, /^SIMD/, `${name}: ${kernel}`);
      } else {
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        t.equal(kernel, `walk (${reason})`, `${name}: ${kernel}`);
      }
      if (reason !== null || forest.preprocess.length > 0 || forest.inputs !== null) continue;
      // Rows of 1, 3 (each walked alone) and 300 (blocks of 16), in float64 and rounded to float32.
      const walk = new Model(forest, { kernel: "walk" });
      t.match(walk.info().kernel, /^walk \(chosen\)/, `${name}: the walk when asked for`);
      const rows = boundaryRows(forest, 300);
      const nf = forest.features.length;
      for (const values of [rows, Float32Array.from(rows)])
        for (const n of [1, 3, 300]) {
          const part = values.subarray(0, n * nf);
          const at = sameBits(
            model.predictBatch(part, n, { margin: true }),
            walk.predictBatch(part, n, { margin: true }),
          );
          if (at !== -1)
            t.fail(`${name}: ${n} ${values.constructor.name} rows: the kernels differ at margin ${at}`);
        }
      compared++;
    }
    t.ok(simd > 0, `${simd} fixtures scored by the SIMD kernel (${compared} compared with the walk)`);
    t.ok(reasons.get("the model has set splits"), "some fixtures fall back for set splits");
    t.ok(
      reasons.get("trees combine by min") || reasons.get("trees combine by max"),
      "some fixtures fall back for min/max",
    );
    t.pass(`fallbacks: ${JSON.stringify(Object.fromEntries(reasons))}`);
  },
);

t.test("a forest the SIMD kernel cannot express falls back to the walk and still scores it", async (t) => {
  // The first tree's root made a test of x == 2 (ONNX BRANCH_EQ): a set split once compiled.
  const withRoot = (test: number) => {
    const forest = readForest(readFileSync(fixtures()[0].files[0]));
    forest.trees[0].test[0] = test;
    forest.trees[0].threshold[0] = 2;
    return forest;
  };
  const forest = withRoot(Test.EQ);
  const eq = new Model(forest);
  t.equal(eq.info().kernel, "walk (the model has set splits)");
  t.match(new Model(withRoot(Test.GE)).info().kernel, /^SIMD/, "the same forest with x >= 2: SIMD");
  const nf = eq.numFeature;
  const rows = boundaryRows(forest, 200);
  const feature = forest.trees[0].feature[0];
  for (let r = 0; r < 200; r += 3) rows[r * nf + feature] = 2;
  const margins = eq.predictBatch(Float32Array.from(rows), 200, { margin: true });
  const reference = evaluateForest(forest, Float32Array.from(rows), 200);
  t.equal(sameBits(margins, reference), -1, "the walk's margins are the reference evaluator's sums");
});

t.test("trees deeper than SIMD_DEPTH_MAX are walked: the SIMD kernel takes them up to it", async (t) => {
  // A fixture forest whose first tree is replaced by a chain `depth` levels deep on feature 0:
  // node k splits at k (x < k left to a leaf of value k, else on down), the last right child a leaf.
  const withChain = (depth: number) => {
    const forest = readForest(readFileSync(fixtures()[0].files[0]));
    const chain = allocateTree(2 * depth + 1);
    for (let k = 0; k < depth; k++) {
      const node = 2 * k;
      chain.left[node] = node + 1;
      chain.right[node] = node + 2;
      chain.feature[node] = 0;
      chain.test[node] = Test.LT;
      chain.threshold[node] = k;
      chain.leafValue[node + 1] = k;
    }
    chain.leafValue[2 * depth] = depth;
    (forest.trees as ForestTree[])[0] = chain;
    return forest;
  };
  const deepest = withChain(SIMD_DEPTH_MAX);
  t.match(new Model(deepest).info().kernel, /^SIMD/, `${SIMD_DEPTH_MAX} levels: SIMD`);
  const deeper = withChain(SIMD_DEPTH_MAX + 1);
  const model = new Model(deeper);
  t.equal(
    model.info().kernel,
    `walk (trees ${SIMD_DEPTH_MAX + 1} levels deep (more than ${SIMD_DEPTH_MAX}))`,
  );
  t.equal(
    walkReason(deeper),
    `trees ${SIMD_DEPTH_MAX + 1} levels deep (more than ${SIMD_DEPTH_MAX})`,
    "the rule above says so too",
  );
  // Rows down every level of the chain (feature 0 from -1 to depth + 1), the rest NaN.
  const nf = model.numFeature;
  const n = SIMD_DEPTH_MAX + 3;
  const rows = new Float32Array(n * nf).fill(Number.NaN);
  for (let r = 0; r < n; r++) rows[r * nf] = r - 1;
  t.equal(
    sameBits(model.predictBatch(rows, n, { margin: true }), evaluateForest(deeper, rows, n)),
    -1,
    "the walk's margins are the reference evaluator's sums",
  );
  t.equal(
    sameBits(new Model(deepest).predictBatch(rows, n, { margin: true }), evaluateForest(deepest, rows, n)),
    -1,
    "and the SIMD kernel's at the limit",
  );
});
