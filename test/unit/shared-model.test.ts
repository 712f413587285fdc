/**
 * A model shared (Model.share: its arrays in one SharedArrayBuffer, its kernel image in a shared
 * WebAssembly memory) and rebuilt elsewhere (Model.fromShared, after a structured clone as a
 * postMessage to another thread makes) scores every fixture of every format bit for bit as the
 * model it came from: predictions, margins, row by row, leaf indices and SHAP values where the
 * model has them (those build the Forest's trees from the shared tables on first use). The clone
 * shares the memory: nothing is copied; users each get scratch of their own.
 */
import t, { type Test } from "tap";
import { loadModel, type Model, rowsToArray } from "../../model/index.js";
import { Model as ModelClass } from "../../model/model.js";
import { fixtures } from "../helpers/fixtures.js";
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

t.test("shared, not copied: the clone reads the same memory; each user has its own scratch", async (t) => {
  const model = loadModel(fixtures()[0].files[0]);
  const shared = model.share();
  const clone = structuredClone(shared);
  t.not(clone.arena, shared.arena, "a new SharedArrayBuffer object...");
  new Uint8Array(clone.arena)[0] ^= 0xff;
  t.equal(new Uint8Array(shared.arena)[0], new Uint8Array(clone.arena)[0], "...over the same memory");
  new Uint8Array(clone.arena)[0] ^= 0xff;
  const before = shared.kernel.memory.buffer.byteLength;
  ModelClass.fromShared(clone);
  ModelClass.fromShared(clone);
  const after = shared.kernel.memory.buffer.byteLength;
  t.ok(after > before, "each user grew the kernel memory by its scratch");
  t.ok(
    (after - before) / 2 <= 64 * 1024,
    `a user's scratch is one 64 KiB page (${(after - before) / 2} bytes)`,
  );
});
