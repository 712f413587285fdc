/**
 * Hostile and corrupt ONNX files are refused at load with a ModelError that names the attribute
 * and index (or the op and where it stands): never a hang, a crash, or a model that loads and
 * answers wrongly later.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { looksLikeOnnx } from "../../model/formats/onnx/index.js";
import { loadModel, ModelError } from "../../model/index.js";
import { type AttributeValue, encodeModel, stumpRegressor } from "../helpers/onnx-encode.js";
import { ONNX_FIXTURES } from "../helpers/onnx-fixtures.js";

function refuses(t: Test, input: Uint8Array, code: string, pattern: RegExp, what: string): void {
  t.throws(() => loadModel(input), { name: "ModelError", code, message: pattern }, what);
}

t.test("a well-formed stump loads and scores", async (t) => {
  const model = loadModel(stumpRegressor());
  t.same([...model.predictBatch(Float32Array.of(0.5, 0, 0.6, 0, Number.NaN, 0), 3)], [1, 2, 2]);
});

const attributeCases: [string, Record<string, AttributeValue>, string, RegExp][] = [
  [
    "mismatched lengths",
    { nodes_modes: ["BRANCH_LEQ", "LEAF"] },
    "INVALID",
    /nodes_modes has 2 entries but nodes_treeids has 3/,
  ],
  [
    "true child out of range",
    { nodes_truenodeids: [7, 0, 0] },
    "INVALID",
    /nodes_truenodeids\[0\]: tree 0 has no node 7/,
  ],
  [
    "negative false child",
    { nodes_falsenodeids: [-1, 0, 0] },
    "INVALID",
    /nodes_falsenodeids\[0\]: tree 0 has no node -1/,
  ],
  [
    "a cycle",
    {
      nodes_modes: ["BRANCH_LEQ", "BRANCH_LEQ", "LEAF"],
      nodes_truenodeids: [1, 0, 0],
      nodes_falsenodeids: [2, 2, 0],
    },
    "INVALID",
    /nodes_truenodeids\[1\]: node 0 of tree 0 leads back to node 1 \(a cycle\)/,
  ],
  [
    "a node not reachable",
    { nodes_truenodeids: [2, 0, 0] },
    "INVALID",
    /nodes_falsenodeids\[0\].*reached twice|not reachable/,
  ],
  [
    "unknown mode",
    { nodes_modes: ["BRANCH_SOMETIMES", "LEAF", "LEAF"] },
    "INVALID",
    /nodes_modes\[0\] is "BRANCH_SOMETIMES"/,
  ],
  [
    "opset 5's BRANCH_MEMBER in an opset-3 ensemble",
    { nodes_modes: ["BRANCH_MEMBER", "LEAF", "LEAF"] },
    "INVALID",
    /nodes_modes\[0\] is "BRANCH_MEMBER", not an ONNX node mode/,
  ],
  [
    "duplicate node id",
    { nodes_nodeids: [0, 1, 1] },
    "INVALID",
    /nodes_nodeids\[2\]: node 1 of tree 0 appears twice/,
  ],
  [
    "weight on a missing node",
    { target_nodeids: [1, 9] },
    "INVALID",
    /target_nodeids\[1\]: tree 0 has no node 9/,
  ],
  [
    "target id out of range",
    { target_ids: [0, 3] },
    "INVALID",
    /target_ids\[1\] is 3; the model has 1 targets/,
  ],
  [
    "feature beyond the input",
    { nodes_featureids: [5, 0, 0] },
    "INVALID",
    /splits on feature 5 but its input "input" has 2 columns/,
  ],
  ["negative feature", { nodes_featureids: [-3, 0, 0] }, "INVALID", /nodes_featureids\[0\] is -3/],
  ["unknown post_transform", { post_transform: "CUBE" }, "INVALID", /post_transform "CUBE"/],
  [
    "MIN with a target no leaf feeds",
    { aggregate_function: "MIN", n_targets: 2 },
    "UNSUPPORTED",
    /no leaf feeds target 1; forestd serves MIN when every target is fed/,
  ],
  ["no targets", { n_targets: 0 }, "INVALID", /n_targets is 0/],
  [
    "base_values of the wrong length",
    { base_values: { floats: [1, 2] } },
    "INVALID",
    /base_values has 2 values; it must have 0 or 1/,
  ],
  [
    "trees not contiguous",
    {
      nodes_treeids: [0, 1, 0],
      target_treeids: [0, 0],
    },
    "INVALID",
    /nodes_treeids\[2\]: the nodes of tree 0 are not contiguous/,
  ],
];

t.test("bad tree attributes name the attribute and index", async (t) => {
  for (const [what, overrides, code, pattern] of attributeCases)
    refuses(t, stumpRegressor(overrides), `FORESTD_ERR_MODEL_${code}`, pattern, what);
});

t.test("graphs beyond one ensemble and its pass-through nodes are refused by op and place", async (t) => {
  refuses(
    t,
    stumpRegressor({}, [{ opType: "Add", name: "plus", inputs: ["variable", "variable"], outputs: ["y"] }]),
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /graph\.node\[1\] "plus" \(ai\.onnx\.Add\) is not served/,
    "an Add after the ensemble",
  );
  refuses(
    t,
    stumpRegressor({}, [{ opType: "Cast", inputs: ["variable"], outputs: ["y"], attributes: { to: 11 } }]),
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /casts to double/,
    "a Cast that changes the type",
  );
  const ok = loadModel(stumpRegressor({}, [{ opType: "Identity", inputs: ["variable"], outputs: ["y"] }]));
  t.same(
    ok.info().details.outputs,
    [{ name: "y", carries: "values", zipmap: false }],
    "Identity passes through",
  );
  refuses(
    t,
    encodeModel({ nodes: [], outputs: [{ name: "y" }] }),
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /no TreeEnsembleClassifier, TreeEnsembleRegressor or TreeEnsemble node/,
    "no ensemble",
  );
  refuses(
    t,
    encodeModel({
      nodes: [{ opType: "TreeEnsembleRegressor", domain: "ai.onnx.ml", inputs: ["input"], outputs: ["v"] }],
      input: { name: "input", elemType: 8, width: 2 },
      outputs: [{ name: "v" }],
    }),
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /graph input "input" is a string tensor; a tree ensemble reads float or double tensors/,
    "a string input straight into the ensemble",
  );
});

t.test("ONNX is told apart by content (snapshots have no .onnx extension)", async (t) => {
  const bytes = stumpRegressor();
  t.ok(looksLikeOnnx(bytes), "opens with ir_version");
  t.ok(looksLikeOnnx(bytes.subarray(2)), "without ir_version: opens with producer_name");
  t.notOk(looksLikeOnnx(new TextEncoder().encode('{"learner": {}}')), "JSON is not ONNX");
  t.notOk(looksLikeOnnx(Uint8Array.of(0x7b, 0x69, 0x07)), "UBJSON is not ONNX");
  t.equal(loadModel(bytes.subarray(2)).format, "onnx", "loads without ir_version");
});

t.test("broken protobuf: truncation, absurd lengths, bad wire types", async (t) => {
  const good = stumpRegressor();
  refuses(
    t,
    good.subarray(0, good.length - 5),
    "FORESTD_ERR_MODEL_SYNTAX",
    /needs \d+ bytes but only \d+ remain|truncated/,
    "truncated",
  );
  // ir_version, then field 7 (graph) claiming 2^40 bytes.
  const absurd = Uint8Array.of(0x08, 0x08, 0x3a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20);
  refuses(
    t,
    absurd,
    "FORESTD_ERR_MODEL_SYNTAX",
    /graph|field 7 needs 1099511627776 bytes/,
    "an absurd length",
  );
  refuses(t, Uint8Array.of(0x08, 0x08, 0x3b), "FORESTD_ERR_MODEL_SYNTAX", /wire type 3/, "a group wire type");
  refuses(t, Uint8Array.of(0x08, 0x08, 0x12, 0x00), "FORESTD_ERR_MODEL_SYNTAX", /no graph/, "no graph");
});

t.test("random corruption never escapes as anything but a ModelError", async (t) => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  let refused = 0;
  let loaded = 0;
  for (const name of ["hgb_binary_nan", "rf_multiclass_strings", "dt_binary_zipmap"]) {
    const original = readFileSync(join(ONNX_FIXTURES, `${name}.onnx`));
    for (let i = 0; i < 150; i++) {
      const corrupt = Uint8Array.from(original);
      const flips = 1 + rand(4);
      for (let f = 0; f < flips; f++) corrupt[rand(corrupt.length)] = rand(256);
      const input = i % 5 === 0 ? corrupt.subarray(0, rand(corrupt.length)) : corrupt;
      try {
        const model = loadModel(input);
        const out = model.predictBatch(new Float32Array(model.numFeature * 3).fill(0.5), 3);
        if (out.length !== 3 * model.numOutputs) t.fail("wrong output size");
        model.labels(model.predictBatch(new Float32Array(model.numFeature * 3), 3, { margin: true }), 3);
        loaded++;
      } catch (error) {
        if (!(error instanceof ModelError)) {
          t.fail(`escaped as ${(error as Error).name}: ${(error as Error).message}`);
          return;
        }
        refused++;
      }
    }
  }
  t.ok(refused > 100, `${refused} corruptions refused with a ModelError (${loaded} were harmless)`);
});
