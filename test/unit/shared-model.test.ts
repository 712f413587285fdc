/**
 * A model shared (Model.share: its arrays in one SharedArrayBuffer, its kernel image in a shared
 * WebAssembly memory) and rebuilt elsewhere (Model.fromShared, after a structured clone as a
 * postMessage to another thread makes) scores every fixture of every format bit for bit as the
 * model it came from: predictions, margins, row by row, leaf indices and SHAP values where the
 * model has them (those build the Forest's trees from the shared tables on first use). The clone
 * shares the memory: nothing is copied; users each get scratch of their own.
 */
import { readFileSync } from "node:fs";
import t, { type Test } from "tap";
import { loadModel, type Model, readForest, rowsToArray } from "../../model/index.js";
import { Model as ModelClass } from "../../model/model.js";
import { fixtures } from "../helpers/fixtures.js";
import { lightgbmFixtures } from "../helpers/lightgbm-fixtures.js";
import { onnxFixtures } from "../helpers/onnx-fixtures.js";
import { sklearnFixtures } from "../helpers/sklearn-fixtures.js";

function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function check(t: Test, name: string, model: Model, rows: unknown[]) {
  const shared = structuredClone(model.share());
  const copy = ModelClass.fromShared(shared);
  const values = rowsToArray(model, rows);
  const n = rows.length;
  t.ok(
    same(copy.predictBatch(values.slice(), n), model.predictBatch(values.slice(), n)),
    `${name}: predictions`,
  );
  t.ok(
    same(
      copy.predictBatch(values.slice(), n, { margin: true }),
      model.predictBatch(values.slice(), n, { margin: true }),
    ),
    `${name}: margins`,
  );
  const nf = model.numFeature;
  let rowByRow = true;
  for (let r = 0; r < n; r++) {
    const one = values.slice(r * nf, (r + 1) * nf);
    if (!same(copy.predictBatch(one, 1, { margin: true }), model.predictBatch(one, 1, { margin: true })))
      rowByRow = false;
  }
  t.ok(rowByRow, `${name}: row by row`);
  if (model.unavailable("leaf") === null)
    t.ok(
      same(copy.predictLeaf(values.slice(), n), model.predictLeaf(values.slice(), n)),
      `${name}: leaf indices`,
    );
  if (model.unavailable("contribs") === null)
    t.ok(
      same(copy.predictContribs(values.slice(), n), model.predictContribs(values.slice(), n)),
      `${name}: SHAP`,
    );
  t.same(copy.info(), model.info(), `${name}: the same facts`);
  t.equal(copy.compiledBytes, shared.bytes, `${name}: its bytes are the shared memory's`);
}

t.test("XGBoost fixtures", async (t) => {
  for (const { name, expected, files } of fixtures()) check(t, name, loadModel(files[0]), expected.rows);
});

t.test("ONNX fixtures", async (t) => {
  for (const { name, path, expected } of onnxFixtures()) check(t, name, loadModel(path), expected.rows);
});

t.test("scikit-learn fixtures", async (t) => {
  for (const { name, path, expected } of sklearnFixtures()) check(t, name, loadModel(path), expected.rows);
});

t.test("LightGBM fixtures", async (t) => {
  for (const f of lightgbmFixtures()) {
    if (f.name === "linear_tree") continue; // refused by name: test/unit/lightgbm-errors.test.ts
    // pandas_categorical's rows name their categories; the others are by position, null missing.
    check(t, f.name, loadModel(f.bytes()), f.expected.rows_by_name ?? f.expected.rows);
  }
});

t.test("shared, not copied: the clone reads the same memory; each user has its own scratch", async (t) => {
  const bytes = readFileSync(fixtures()[0].files[0]);
  // The walk kernel's scratch is one page; the SIMD kernel's holds a chunk of rows, their bins and
  // margins (at most 2 048 rows of this model's 1 MiB-bounded rows: a few pages).
  for (const [kernel, most] of [
    ["walk", 64 * 1024],
    ["simd", 4 * 64 * 1024],
  ] as const) {
    const model = new ModelClass(readForest(bytes), { kernel });
    t.equal(model.info().kernel.startsWith("SIMD"), kernel === "simd", `${kernel}: ${model.info().kernel}`);
    const shared = model.share();
    t.equal(shared.kernel.kind, kernel, `${kernel}: the shared image is the ${kernel} kernel's`);
    const clone = structuredClone(shared);
    t.not(clone.arena, shared.arena, "a new SharedArrayBuffer object...");
    new Uint8Array(clone.arena)[0] ^= 0xff;
    t.equal(new Uint8Array(shared.arena)[0], new Uint8Array(clone.arena)[0], "...over the same memory");
    new Uint8Array(clone.arena)[0] ^= 0xff;
    const before = shared.kernel.memory.buffer.byteLength;
    const copies = [ModelClass.fromShared(clone), ModelClass.fromShared(clone)];
    const after = shared.kernel.memory.buffer.byteLength;
    t.ok(after > before, `${kernel}: each user grew the kernel memory by its scratch`);
    t.ok(
      (after - before) / 2 <= most,
      `${kernel}: a user's scratch is at most ${most / 1024} KiB (${(after - before) / 2} bytes)`,
    );
    // Both copies score in the same memory, each in its own scratch, and agree with the original.
    const rows = 40;
    const values = new Float32Array(rows * model.numFeature).map((_, i) => ((i * 7919) % 113) / 17 - 3);
    const expected = model.predictBatch(values, rows, { margin: true });
    for (const copy of copies) t.same(copy.predictBatch(values, rows, { margin: true }), expected);
  }
});
