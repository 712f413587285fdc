/**
 * What a loaded model holds, and what loading leaves behind (issue #27: a 94 MB joblib file held
 * in under 3× its size): the file's bytes are freed once the Forest is read, unless the Forest
 * views them; a model whose head explains nothing keeps no trees, and frees the trees of a Forest
 * it owns; the compiled layout is shared as it is, not copied; a helper thread asked to end when
 * idle ends, and starts again on the next request. Predictions stay those of the fixtures.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { RequestThread } from "../../contract/request-thread.js";
import { compileForest } from "../../model/compile/compile.js";
import { kernelRows } from "../../model/compile/input-plan.js";
import { allocateTree } from "../../model/forest/build.js";
import { evaluateForest, featuresOf, leafOf } from "../../model/forest/evaluate.js";
import type { Forest } from "../../model/forest/forest.js";
import { releaseInput, releaseTrees } from "../../model/forest/release.js";
import { readForest } from "../../model/formats/index.js";
import { loadModel, rowsToArray } from "../../model/index.js";
import type { CompiledForest } from "../../model/kernels/layout.js";
import { buildKernelImage, WasmScorer } from "../../model/kernels/wasm-scorer.js";
import { Model } from "../../model/model.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";
import { rowsToFloat64, SKLEARN_FIXTURES } from "../helpers/sklearn-fixtures.js";

const RF = join(SKLEARN_FIXTURES, "rf_clf_binary.joblib");
const RF_EXPECTED = JSON.parse(
  readFileSync(join(SKLEARN_FIXTURES, "rf_clf_binary.expected.json"), "utf8"),
) as {
  rows: (number | null)[][];
  predict_proba: number[][];
};
const XGB = join(FIXTURES, "binary_logistic.json");

/** A Forest of one tree whose threshold array is a view of `buffer` (as a zero-copy reader might make). */
function forestViewing(buffer: ArrayBuffer): Forest {
  const tree = allocateTree(1);
  return {
    ...readForest(readFileSync(XGB)),
    trees: [{ ...tree, threshold: new Float64Array(buffer, 0, 1) }],
  };
}

t.test("a file's bytes are freed once read, unless the Forest views them", async (t) => {
  const bytes = new Uint8Array(readFileSync(RF));
  const forest = readForest(bytes);
  releaseInput(bytes, forest);
  t.equal(bytes.buffer.byteLength, 0, "the bytes' buffer is detached");
  t.ok(forest.trees[0].left.length > 0, "the Forest is whole");

  const viewed = new Uint8Array(64);
  releaseInput(viewed, forestViewing(viewed.buffer));
  t.equal(viewed.buffer.byteLength, 64, "bytes the Forest views are left to the collector");

  const whole = new Uint8Array(readFileSync(RF));
  const part = whole.subarray(0, whole.length - 1);
  releaseInput(part, forest);
  t.equal(whole.buffer.byteLength, whole.length, "bytes that are part of a larger buffer are left alone");
});

t.test("loadModel reads a path's bytes itself: the check sees them, and may refuse them", async (t) => {
  let seen = 0;
  const model = loadModel(RF, (bytes) => {
    seen = bytes.length;
  });
  t.equal(seen, readFileSync(RF).length, "the check saw the file's bytes");
  const proba = model.predictBatch(rowsToArray(model, RF_EXPECTED.rows), RF_EXPECTED.rows.length);
  t.same(Array.from(proba), RF_EXPECTED.predict_proba.flat(), "and the model answers as scikit-learn did");
  t.throws(
    () =>
      loadModel(RF, () => {
        throw new Error("digest mismatch");
      }),
    /digest mismatch/,
    "a check that throws refuses the file",
  );
});

t.test("a model whose head explains nothing keeps no trees; an owned Forest's are freed", async (t) => {
  const rows = rowsToFloat64(RF_EXPECTED.rows);
  const n = RF_EXPECTED.rows.length;

  const kept = readForest(readFileSync(RF));
  const reference = evaluateForest(kept, rows, n);
  const model = new Model(kept);
  t.ok(kept.trees[0].left.length > 0, "a Forest the caller still holds is left whole");
  t.same(evaluateForest(kept, rows, n), reference, "and still evaluates the same");

  const owned = readForest(readFileSync(RF));
  const ownedModel = Model.compileOwned(owned);
  t.equal(owned.trees[0].left.length, 0, "an owned Forest's trees are freed (detached)");
  t.equal(ownedModel.numTrees, kept.trees.length, "the model still counts its trees");
  for (const [name, m] of [
    ["kept", model],
    ["owned", ownedModel],
  ] as const) {
    const header = m.share().header as { trees: { count: number } };
    t.equal(header.trees.count, 0, `${name}: no tree tables are shared`);
  }
  t.equal(ownedModel.compiledBytes, model.compiledBytes, "both hold the compiled layout and image only");

  const values = rowsToArray(model, RF_EXPECTED.rows);
  t.same(Array.from(ownedModel.predictBatch(values, n)), RF_EXPECTED.predict_proba.flat(), "predictions");
  t.same(
    Array.from(ownedModel.predictLeaf(values, n)),
    Array.from(model.predictLeaf(values, n)),
    "leaf indices, from the compiled layout",
  );
  const shared = Model.fromShared(structuredClone(ownedModel.share()));
  t.same(Array.from(shared.predictLeaf(values, n)), Array.from(model.predictLeaf(values, n)), "shared too");
  t.equal(shared.numTrees, kept.trees.length, "with its tree count");
});

t.test("a model that explains keeps its trees, even when it owns them", async (t) => {
  const forest = readForest(readFileSync(XGB));
  const model = Model.compileOwned(forest);
  t.ok(forest.trees[0].left.length > 0, "XGBoost's trees are kept (TreeSHAP walks them)");
  t.equal(model.unavailable("contribs"), null, "and the model explains");
});

t.test("releaseTrees frees the trees' buffers, but not one the kept Forest views", async (t) => {
  const buffer = new ArrayBuffer(64);
  const forest = forestViewing(buffer);
  const slab = new ArrayBuffer(64);
  const tree = { ...forest.trees[0], leafValue: new Float64Array(slab, 8, 2) };
  const two: Forest = { ...forest, trees: [tree] };
  const kept: Forest = { ...two, trees: [], treeWeight: new Float64Array(buffer, 8, 1) };
  releaseTrees(two, kept);
  t.equal(buffer.byteLength, 64, "a buffer the kept Forest views is left alone");
  t.equal(slab.byteLength, 0, "a buffer the trees view in part is freed");
  t.equal(tree.left.length, 0, "an array of its own is freed");
  releaseTrees(two, kept);
  t.pass("freeing twice is harmless");
});

t.test("the compiled layout is shared as it is: sharing copies only the small arrays", async (t) => {
  const model = loadModel(XGB);
  const shared = model.share();
  const header = shared.header as { compiled: { forest: { feature: unknown } } };
  const feature = header.compiled.forest.feature as Int32Array;
  t.ok(feature instanceof Int32Array, "the layout's arrays are in the header as themselves");
  t.ok(feature.buffer instanceof SharedArrayBuffer, "over shared memory");
  t.ok(
    shared.arena.byteLength < shared.bytes / 10,
    `the arena holds the small arrays only (${shared.arena.byteLength} of ${shared.bytes} bytes)`,
  );
  const clone = structuredClone(shared);
  const cloneFeature = (clone.header as typeof header).compiled.forest.feature as Int32Array;
  const at = feature.findIndex((f) => f > 0);
  feature[at] += 1;
  t.equal(cloneFeature[at], feature[at], "a clone reads the same memory, not a copy");
  feature[at] -= 1;
  t.equal(Model.fromShared(clone).compiledBytes, shared.bytes, "and counts the bytes shared");
});

t.test("a model that explains nothing keeps its nodes in the kernel image only", async (t) => {
  const forest = readForest(readFileSync(RF));
  const rows = rowsToFloat64(RF_EXPECTED.rows);
  const n = RF_EXPECTED.rows.length;
  const want: number[] = [];
  for (let r = 0; r < n; r++) {
    const row = featuresOf(forest, rows.subarray(r * 3, (r + 1) * 3));
    for (const tree of forest.trees) want.push(leafOf(tree, row));
  }
  type Header = { compiled: { forest: { feature: Int32Array; imageOnly: boolean } } };
  // Scored by the walk: its image holds the nodes, and the leaf index walks the image.
  const walked = Model.compileOwned(readForest(readFileSync(RF)), { kernel: "walk" });
  t.match(walked.info().kernel, /^walk/);
  const header = walked.share().header as Header;
  t.equal(
    header.compiled.forest.imageOnly,
    true,
    "scikit-learn's forest on the walk: nodes in the image only",
  );
  t.equal(header.compiled.forest.feature.length, 0, "no node arrays beside it");
  const values = rowsToArray(walked, RF_EXPECTED.rows);
  // The reference's leaves, from the model and from a thread's copy of it.
  const leavesAgree = (model: Model, where: string) => {
    t.same(
      Array.from(model.predictLeaf(values, n)),
      want,
      `leaf indices walked in ${where}: the reference's`,
    );
    const copy = Model.fromShared(structuredClone(model.share()));
    t.same(Array.from(copy.predictLeaf(values, n)), want, `and in a thread's copy (${where})`);
  };
  leavesAgree(walked, "the image");
  // Scored by the SIMD kernel (its default): the image holds binned trees, so the node arrays stay
  // for the leaf index, in shared memory.
  const model = loadModel(RF);
  t.match(model.info().kernel, /^SIMD/);
  const simd = model.share().header as Header;
  t.equal(
    simd.compiled.forest.imageOnly,
    false,
    "on the SIMD kernel the node arrays stay: the leaf index reads them",
  );
  t.ok(simd.compiled.forest.feature.buffer instanceof SharedArrayBuffer, "in shared memory");
  leavesAgree(model, "the arrays");
  const xgb = loadModel(XGB).share().header as Header;
  t.equal(xgb.compiled.forest.imageOnly, false, "XGBoost's keeps them (TreeSHAP reads them)");
});

t.test("a scorer past the image's room copies the image, nodes and all", async (t) => {
  const forest = readForest(readFileSync(RF));
  const compiled = compileForest(forest, { shared: true });
  const image = buildKernelImage(compiled.forest);
  const imageOnly: CompiledForest = {
    ...compiled.forest,
    feature: new Int32Array(0),
    threshold: new Float32Array(0),
    leaf: new Float64Array(0),
    left: new Int32Array(0),
    missingRight: new Uint8Array(0),
    imageOnly: true,
  };
  t.throws(
    () => buildKernelImage(imageOnly),
    /kernel image only/,
    "an image-only forest cannot be laid out again",
  );
  const rows = kernelRows(compiled.plan, rowsToFloat64(RF_EXPECTED.rows), 3, RF_EXPECTED.rows.length);
  const n = RF_EXPECTED.rows.length;
  const sums = (scorer: WasmScorer) => {
    const out = new Float64Array(n * compiled.forest.numGroups);
    scorer.accumulate(rows, n, out);
    return Array.from(out);
  };
  const before = image.memory.buffer.byteLength;
  const want = sums(new WasmScorer(compiled.forest, image));
  const scratch = image.memory.buffer.byteLength - before;
  let last: WasmScorer | null = null;
  for (let i = 0; i < 330; i++) last = new WasmScorer(imageOnly, image);
  const users = (image.memory.buffer.byteLength - before) / scratch;
  t.ok(users < 331, `the image made room for ${users} users; the others copied it`);
  t.same(sums(last!), want, "and scores as the first");
});

t.test("a thread asked to end when idle ends, and the next request starts another", async (t) => {
  const module = () => join(ROOT, "test", "fixtures", "threads", "echo-thread.mjs");
  const thread = new RequestThread<{ id: number }, { id: number; threadId: number; answered: number }>(
    module,
    () => ({ id: 0, threadId: -1, answered: -1 }),
    { endAfterIdleMs: 50 },
  );
  t.teardown(() => thread.close());
  const first = await thread.ask((id) => ({ id }));
  const second = await thread.ask((id) => ({ id }));
  t.equal(second.threadId, first.threadId, "requests close together share the thread");
  t.equal(second.answered, 2);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const third = await thread.ask((id) => ({ id }));
  t.not(third.threadId, first.threadId, "after the idle time, a new thread answers");
  t.equal(third.answered, 1, "with nothing of the old one's");

  const kept = new RequestThread<{ id: number }, { id: number; threadId: number; answered: number }>(
    module,
    () => ({ id: 0, threadId: -1, answered: -1 }),
  );
  t.teardown(() => kept.close());
  const a = await kept.ask((id) => ({ id }));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const b = await kept.ask((id) => ({ id }));
  t.equal(b.threadId, a.threadId, "without endAfterIdleMs the thread stays");
});
