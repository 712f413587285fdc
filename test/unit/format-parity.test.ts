/**
 * Every format's fixtures through one parity harness (test/helpers/parity-harness.ts): each model
 * loaded with loadModel (the compiled engine, as the server scores) and every output its head
 * offers held to the library's own recorded answers, bit for bit or within the ulp bound the
 * adapter states and explains. A new format is one adapter (test/helpers/parity-<format>.ts) and
 * one line here. First, the harness's judge on hand-made values, so that a lenient judge cannot
 * pass unnoticed (here rather than in a file of its own: a test process costs ~0.25 s of CPU).
 */
import t from "tap";
import type { ParityAdapter } from "../helpers/parity-harness.js";
import { judge, runParity, ulps } from "../helpers/parity-harness.js";
import { lightgbmParity } from "../helpers/parity-lightgbm.js";
import { onnxParity } from "../helpers/parity-onnx.js";
import { onnxGraphParity } from "../helpers/parity-onnx-graph.js";
import { sklearnParity } from "../helpers/parity-sklearn.js";
import { xgboostParity } from "../helpers/parity-xgboost.js";

const next32 = (x: number, k = 1) => {
  const f = new Float32Array([x]);
  new Int32Array(f.buffer)[0] += k;
  return f[0];
};
const source = "the library's";

t.test("the judge: ulps", async (t) => {
  t.equal(ulps(1, 1, true), 0);
  t.equal(ulps(1, next32(1, 3), true), 3, "float32 units");
  t.equal(ulps(1, 1 + Number.EPSILON, false), 1, "float64 units");
  t.equal(ulps(-next32(0, 1), next32(0, 1), true), 2, "across zero");
  t.equal(ulps(Number.NaN, Number.NaN, false), 0);
  t.equal(ulps(Number.NaN, 1, false), Infinity);
});

t.test("the judge: bit-identical unless a tolerance is given", async (t) => {
  const values = [0.5, next32(0.25)];
  t.ok(judge("margin", Float32Array.from(values), { values, source }).ok, "same bits pass");
  const off = judge("margin", Float32Array.of(0.5, next32(0.25, 2)), { values, source });
  t.notOk(off.ok, "1 ulp off fails");
  t.match(off.message, /margin: 2 values bit-identical to the library's \(1 of 2 beyond it, worst 1 ulp\)/);
  t.same(
    off.mismatches.map((m) => [m.index, m.ulps]),
    [[1, 1]],
  );
  t.notOk(judge("margin", Float64Array.of(-0), { values: [0], source }).ok, "-0 is not +0");
  t.notOk(judge("margin", Float64Array.of(1, 2), { values: [1], source }).ok, "lengths must agree");
});

t.test("the judge: an ulp bound, and an absolute one near zero", async (t) => {
  const tolerance = { ulps: 2, absolute: 1e-7, why: "exp" };
  const within = judge("prediction", Float32Array.of(next32(1, 2), 1e-8), {
    values: [1, 0],
    source,
    tolerance,
  });
  t.ok(within.ok, "2 ulp and 1e-8 pass");
  t.match(
    within.message,
    /within 2 ulp or 1e-7 of the library's \(2 of 2 not identical, worst \d+ ulp: exp\)/,
  );
  t.notOk(
    judge("prediction", Float32Array.of(next32(1, 3)), { values: [1], source, tolerance }).ok,
    "3 ulp fail",
  );
  t.ok(
    judge("prediction", Float64Array.of(1 + 2 * Number.EPSILON), {
      values: [1],
      source,
      tolerance: { ulps: 2, why: "" },
    }).ok,
    "float64 units for a Float64Array",
  );
});

t.test("the judge: labels and leaves exactly, whatever the tolerance", async (t) => {
  const tolerance = { ulps: 5, why: "ignored" };
  t.notOk(judge("leaf", Float32Array.of(4), { values: [5], source, tolerance }).ok, "a leaf one off fails");
  t.notOk(judge("label", ["1"], { values: [1], source }).ok, 'the label "1" is not 1');
  t.ok(judge("label", ["a", 2], { values: ["a", 2], source }).ok);
});
const ADAPTERS: Record<string, ParityAdapter> = {
  xgboost: xgboostParity,
  onnx: onnxParity,
  "onnx graphs": onnxGraphParity,
  sklearn: sklearnParity,
  lightgbm: lightgbmParity,
};

for (const [name, adapter] of Object.entries(ADAPTERS)) runParity(t, name, adapter);
