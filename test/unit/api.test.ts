/** The programmatic API: loadModel from every kind of source, metadata, and input checks. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import t from "tap";
import { defaultModelPath, loadModel, PredictInputError, rowsToArray } from "../../model/index.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";

t.test("the package entry exports the API", async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  t.equal(pkg.exports["."].default, "./dist/model/index.js");
  t.equal(pkg.bin.forestd, "./dist/cli/forestd.js");
});

t.test("sources: path, URL, bytes, ArrayBuffer; JSON and UBJSON alike", async (t) => {
  const path = join(FIXTURES, "multi_softprob.json");
  const bytes = readFileSync(path);
  const ubj = readFileSync(join(FIXTURES, "multi_softprob.ubj"));
  const row = new Float32Array([1, -2, 3, Number.NaN, 5, 6]);
  const expected = loadModel(path).predictBatch(row, 1);
  for (const [what, source] of [
    ["URL", pathToFileURL(path)],
    ["Buffer", bytes],
    ["ArrayBuffer", bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)],
    ["UBJSON bytes", ubj],
  ] as const) {
    t.same(loadModel(source).predictBatch(row, 1), expected, what);
  }
});

t.test("metadata", async (t) => {
  const model = loadModel(join(FIXTURES, "multi_softprob.json"));
  t.equal(model.numFeature, 6);
  t.equal(model.numOutputs, 3);
  t.equal(model.objective, "multi:softprob");
  t.equal(model.numClass, 3);
  t.equal(model.numTrees, 36);
  t.same(model.featureNames, ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]);
  t.equal(model.featureIndex("gamma"), 2);
  t.equal(model.featureIndex("omega"), -1);
  t.equal(model.info().details.xgboostVersion, "1.7.4");
  const softmax = loadModel(join(FIXTURES, "multi_softmax.json"));
  t.equal(softmax.numOutputs, 1, "multi:softmax answers one class index per row");
  t.equal(softmax.outputWidth({ margin: true }), 3, "and three margins");
  const info = loadModel(defaultModelPath()).info();
  t.match(info, {
    objective: "binary:logistic",
    numFeature: 3,
    numTrees: 50,
    maxDepth: 3,
    featureNames: ["height", "weight", "shoe_size"],
  });
  t.ok(info.numNodes > info.numLeaves && info.numLeaves > 50, "node counts");
});

t.test("rows by name equal rows by position", async (t) => {
  const model = loadModel(defaultModelPath());
  const byName = rowsToArray(model, [{ height: 180, weight: 80, shoe_size: 44 }, { weight: 70 }]);
  const byPosition = rowsToArray(model, [
    [180, 80, 44],
    [null, 70, null],
  ]);
  t.same(model.predictBatch(byName, 2), model.predictBatch(byPosition, 2));
  t.throws(() => rowsToArray(model, [{ height: 1, hair: 2 }]), {
    code: "FORESTD_ERR_INVALID_ROW",
    message: /row 0: unknown feature "hair"/,
  });
  t.throws(
    () =>
      rowsToArray(model, [
        [1, 2, 3],
        [1, "2", 3],
      ]),
    { message: /row 1, feature 1 \("weight"\): expected a number or null, got the string "2"/ },
  );
  t.throws(() => rowsToArray(model, [[1, 2]]), {
    message: /row 0 has 2 values; the model takes 3 features/,
  });
  t.throws(() => rowsToArray(model, [7]), { message: /row 0 must be an array or an object/ });
  const unnamed = loadModel(join(FIXTURES, "binary_hinge.json"));
  t.equal(rowsToArray(unnamed, [{ f2: 1 }])[2], 1, "unnamed models answer to f0, f1, ...");
});

t.test("predictBatch checks its input", async (t) => {
  const model = loadModel(defaultModelPath());
  t.throws(() => model.predictBatch(new Float32Array(5), 2), PredictInputError);
  t.throws(() => model.predictBatch(new Int32Array(3) as unknown as Float32Array, 1), {
    message: /must be a Float32Array or a Float64Array/,
  });
  const row = [180, 80.3, 44];
  t.same(
    model.predictBatch(Float64Array.from(row), 1),
    model.predictBatch(Float32Array.from(row), 1),
    "float64 rows score as the float32 rows XGBoost would make of them",
  );
  t.throws(() => model.predictBatch(new Float32Array(3), 1.5), { message: /whole number/ });
  t.same(model.predictBatch(new Float32Array(0), 0), new Float32Array(0), "zero rows, zero outputs");
});

t.test("large batches span several WebAssembly chunks and keep row order", async (t) => {
  const model = loadModel(join(FIXTURES, "deep_trees.json"));
  const rows = 9000;
  const values = new Float32Array(rows * model.numFeature);
  for (let i = 0; i < values.length; i++) values[i] = i % 7 === 0 ? Number.NaN : Math.sin(i) * 20;
  const all = model.predictBatch(values, rows);
  const nf = model.numFeature;
  for (const r of [0, 1, 4095, 4096, 4097, 8191, 8999]) {
    t.equal(model.predictBatch(values.subarray(r * nf, (r + 1) * nf), 1)[0], all[r], `row ${r}`);
  }
});
