/**
 * The WebAssembly TreeSHAP kernel (model/shap-kernel.wat) against tree-shap.ts's JavaScript walker,
 * the reference that follows XGBoost step by step: bit for bit, on every explanation fixture model
 * and the small bench model, on rows far beyond the fixtures' (values mixed across rows, missing
 * values, categories outside the sets), contributions and interactions.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import t, { type Test } from "tap";
import { compileForest } from "../../model/compile/compile.js";
import { ShapKernel } from "../../model/explain/shap-kernel.js";
import { buildShapForest, interactionScratch, TreeShapWalker } from "../../model/explain/tree-shap.js";
import { readForest } from "../../model/formats/index.js";
import { explainFixtures } from "../helpers/explain-fixtures.js";
import { ROOT } from "../helpers/fixtures.js";

function forestOf(bytes: Uint8Array) {
  const spec = readForest(bytes);
  return { spec, shap: buildShapForest(spec, compileForest(spec).forest) };
}

/** Rows made from the fixture's values, shuffled across rows, with missing and odd values mixed in. */
function mixedRows(source: (number | null)[][], numFeature: number, count: number): Float32Array {
  let seed = 7;
  const next = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const odd = [Number.NaN, -1, 0, 0.5, 3.7, 1e7, -2.5e-3];
  const out = new Float32Array(count * numFeature);
  for (let r = 0; r < count; r++) {
    for (let k = 0; k < numFeature; k++) {
      const u = next();
      const from = source[Math.floor(next() * source.length)]?.[k] ?? null;
      out[r * numFeature + k] =
        u < 0.1 ? odd[Math.floor(next() * odd.length)] : from === null ? Number.NaN : from;
    }
  }
  return out;
}

function sameBits(t: Test, actual: Float32Array, expected: ArrayLike<number>, what: string): void {
  let differ = 0;
  let first = "";
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], Math.fround(expected[i]))) {
      if (differ++ === 0) first = `at ${i}: ${actual[i]} vs ${expected[i]}`;
    }
  }
  t.equal(differ, 0, `${what}: ${expected.length} values bit-identical to the walker's ${first}`);
}

function check(
  t: Test,
  bytes: Uint8Array,
  source: (number | null)[][],
  rows: number,
  interactionRows: number,
) {
  const { spec, shap } = forestOf(bytes);
  const nf = spec.features.length;
  const groups = spec.numGroups;
  const baseMargins = Float32Array.from({ length: groups }, (_, g) => (g + 1) * 0.25);
  const x = mixedRows(source, nf, rows);
  const kernel = new ShapKernel(shap);
  const walker = new TreeShapWalker(shap);

  const contribs = new Float32Array(rows * groups * (nf + 1));
  kernel.contribs(x, rows, baseMargins, contribs);
  const reference = new Float32Array(contribs.length);
  for (let r = 0; r < rows; r++)
    for (let g = 0; g < groups; g++)
      walker.explainRow(x, r * nf, g, baseMargins[g], reference, (r * groups + g) * (nf + 1));
  sameBits(t, contribs, reference, "contributions");

  const size = (nf + 1) ** 2;
  const interactions = new Float32Array(interactionRows * groups * size);
  kernel.interactions(x.subarray(0, interactionRows * nf), interactionRows, baseMargins, interactions);
  const expected = new Float32Array(interactions.length);
  const scratch = interactionScratch(shap);
  for (let r = 0; r < interactionRows; r++)
    for (let g = 0; g < groups; g++)
      walker.interactRow(x, r * nf, g, baseMargins[g], expected, (r * groups + g) * size, scratch);
  sameBits(t, interactions, expected, "interactions");
}

for (const { name, file, expected } of explainFixtures()) {
  t.test(name, async (t) => check(t, readFileSync(file), expected.rows, 60, 3));
}

t.test("the small bench model (200 trees, depth 6, 30 features)", async (t) => {
  const bytes = gunzipSync(readFileSync(join(ROOT, "test", "fixtures", "bench", "small.json.gz")));
  let seed = 3;
  const normal = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return (seed / 2 ** 32) * 4 - 2;
  };
  const source = Array.from({ length: 50 }, () => Array.from({ length: 30 }, normal));
  check(t, bytes, source, 40, 2);
});
