/**
 * Hostile and broken ONNX graphs around an ensemble are refused at load with a ModelError naming
 * the node (its index, name and op) and the attribute or tensor: a preprocessing chain that does
 * not connect (a dangling input, a cycle, a node whose output nothing uses), absurdly many string
 * categories, a Scaler whose operands do not fit its input, ops forestd does not run; shared
 * subtrees that would copy without bound and trees deeper than the stack are refused or read in
 * bounded time. Random corruption of the graph fixtures never escapes as anything but a ModelError.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { MAX_VOCABULARY } from "../../model/formats/onnx/preprocess.js";
import { loadModel, ModelError, rowsToArray } from "../../model/index.js";
import { type AttributeValue, encodeModel, type NodeSpec, type TensorSpec } from "../helpers/onnx-encode.js";
import { ONNX_GRAPHS } from "../helpers/onnx-graph-fixtures.js";

function refuses(t: Test, input: Uint8Array, code: string, pattern: RegExp, what: string): void {
  t.throws(
    () => loadModel(input),
    { name: "ModelError", code: `FORESTD_ERR_MODEL_${code}`, message: pattern },
    what,
  );
}

/** A stump on feature 0 of `features` (the ensemble's input). */
function stump(features: string): NodeSpec {
  return {
    opType: "TreeEnsembleRegressor",
    domain: "ai.onnx.ml",
    name: "trees",
    inputs: [features],
    outputs: ["variable"],
    attributes: {
      n_targets: 1,
      nodes_treeids: [0, 0, 0],
      nodes_nodeids: [0, 1, 2],
      nodes_featureids: [0, 0, 0],
      nodes_modes: ["BRANCH_LEQ", "LEAF", "LEAF"],
      nodes_values: { floats: [0.5, 0, 0] },
      nodes_truenodeids: [1, 0, 0],
      nodes_falsenodeids: [2, 0, 0],
      target_treeids: [0, 0],
      target_nodeids: [1, 2],
      target_ids: [0, 0],
      target_weights: { floats: [1, 2] },
    },
  };
}

function graph(
  nodes: NodeSpec[],
  inputs: { name: string; elemType?: number; width: number }[] = [{ name: "x", width: 2 }],
  initializers: TensorSpec[] = [],
  outputs = [{ name: "variable" }],
): Uint8Array {
  return encodeModel({ nodes, inputs, initializers, outputs });
}

const ml = (
  opType: string,
  name: string,
  inputs: string[],
  outputs: string[],
  attributes: Record<string, AttributeValue> = {},
): NodeSpec => ({
  opType,
  domain: "ai.onnx.ml",
  name,
  inputs,
  outputs,
  attributes,
});

t.test("a well-formed chain loads: Scaler → ensemble", async (t) => {
  const model = loadModel(
    graph([
      ml("Scaler", "scale", ["x"], ["s"], { offset: { floats: [1, 0] }, scale: { floats: [2, 1] } }),
      stump("s"),
    ]),
  );
  t.same(
    [...model.predictBatch(Float64Array.of(1.2, 0, 1.3, 0), 2)],
    [1, 2],
    "(1.2 − 1)·2 ≤ 0.5, (1.3 − 1)·2 > 0.5",
  );
});

t.test("a preprocessing chain that does not connect is refused naming the node", async (t) => {
  refuses(
    t,
    graph([
      ml("Scaler", "scale", ["nowhere"], ["s"], { offset: { floats: [0, 0] }, scale: { floats: [1, 1] } }),
      stump("s"),
    ]),
    "INVALID",
    /graph\.node\[0\] "scale" \(ai\.onnx\.ml\.Scaler\) reads "nowhere", which no node, graph input or initializer provides/,
    "a dangling input",
  );
  refuses(
    t,
    graph([
      { opType: "Identity", name: "a", inputs: ["b_out"], outputs: ["a_out"] },
      { opType: "Identity", name: "b", inputs: ["a_out"], outputs: ["b_out"] },
      stump("a_out"),
    ]),
    "INVALID",
    /graph\.node\[\d\] "[ab]" \(ai\.onnx\.Identity\) is part of a cycle/,
    "a cycle between two nodes",
  );
  refuses(
    t,
    graph([{ opType: "Identity", name: "spare", inputs: ["x"], outputs: ["unused"] }, stump("x")]),
    "INVALID",
    /graph\.node\[0\] "spare" \(ai\.onnx\.Identity\) computes "unused", which no graph output uses/,
    "a node whose output nothing uses",
  );
  refuses(
    t,
    graph(
      [stump("x"), { opType: "Identity", name: "copy", inputs: ["x"], outputs: ["x2"] }],
      undefined,
      [],
      [{ name: "variable" }, { name: "x2" }],
    ),
    "UNSUPPORTED",
    /graph\.node\[1\] "copy" \(ai\.onnx\.Identity\) computes "x2" for a graph output without the ensemble/,
    "a graph output that bypasses the ensemble",
  );
  refuses(
    t,
    graph(
      [stump("x")],
      [
        { name: "x", width: 2 },
        { name: "ignored", width: 1 },
      ],
    ),
    "UNSUPPORTED",
    /graph input "ignored" is not read by any node/,
    "a graph input nothing reads",
  );
  refuses(
    t,
    graph([
      { opType: "Identity", name: "one", inputs: ["x"], outputs: ["y"] },
      { opType: "Identity", name: "two", inputs: ["x"], outputs: ["y"] },
      stump("y"),
    ]),
    "INVALID",
    /graph\.node\[1\] "two" \(ai\.onnx\.Identity\) computes "y", which graph\.node\[0\] "one" .* computes too/,
    "a tensor computed twice",
  );
});

t.test("string categories past the limit are refused naming the node and attribute", async (t) => {
  const many = Array.from({ length: MAX_VOCABULARY + 1 }, (_, i) => `c${i}`);
  refuses(
    t,
    graph(
      [ml("OneHotEncoder", "onehot", ["city"], ["hot"], { cats_strings: many, zeros: 1 }), stump("hot")],
      [{ name: "city", elemType: 8, width: 1 }],
    ),
    "TOO_LARGE",
    new RegExp(
      `graph\\.node\\[0\\] "onehot" \\(ai\\.onnx\\.ml\\.OneHotEncoder\\): cats_strings has ${MAX_VOCABULARY + 1} categories; the limit is ${MAX_VOCABULARY}`,
    ),
    "one encoder with too many categories",
  );
  // Two encoders of one column, each under the limit, together past it.
  const half = Array.from({ length: MAX_VOCABULARY / 2 + 1 }, (_, i) => `a${i}`);
  const other = Array.from({ length: MAX_VOCABULARY / 2 + 1 }, (_, i) => `b${i}`);
  refuses(
    t,
    graph(
      [
        ml("LabelEncoder", "first", ["city"], ["one"], {
          keys_strings: half,
          values_int64s: half.map((_, i) => i),
        }),
        ml("LabelEncoder", "second", ["city"], ["two"], {
          keys_strings: other,
          values_int64s: other.map((_, i) => i),
        }),
        {
          opType: "Concat",
          name: "both",
          inputs: ["one", "two"],
          outputs: ["codes"],
          attributes: { axis: 1 },
        },
        { opType: "Cast", name: "float", inputs: ["codes"], outputs: ["features"], attributes: { to: 1 } },
        stump("features"),
      ],
      [{ name: "city", elemType: 8, width: 1 }],
    ),
    "TOO_LARGE",
    /graph\.node\[1\] "second" \(ai\.onnx\.ml\.LabelEncoder\): keys_strings brings input column 0 past 1048576 string categories/,
    "two encoders of one column",
  );
});

t.test(
  "operands that do not fit their input, and ops forestd does not run, are refused by name",
  async (t) => {
    refuses(
      t,
      graph([
        ml("Scaler", "scale", ["x"], ["s"], { offset: { floats: [0, 0, 0] }, scale: { floats: [1, 1, 1] } }),
        stump("s"),
      ]),
      "INVALID",
      /graph\.node\[0\] "scale" \(ai\.onnx\.ml\.Scaler\): offset has 3 values and scale 3, but its input float tensor has 2 columns/,
      "a Scaler wider than its input",
    );
    refuses(
      t,
      graph([
        ml("Imputer", "fill", ["x"], ["f"], {
          imputed_value_floats: { floats: [1, 2, 3] },
          replaced_value_float: Number.NaN,
        }),
        stump("f"),
      ]),
      "INVALID",
      /"fill" \(ai\.onnx\.ml\.Imputer\): imputed_value_floats has 3 values for 2 columns/,
      "an Imputer wider than its input",
    );
    refuses(
      t,
      graph([{ opType: "MatMul", name: "mm", inputs: ["x", "w"], outputs: ["y"] }, stump("y")], undefined, [
        { name: "w", dataType: 1, dims: [2, 2], values: [1, 0, 0, 1] },
      ]),
      "UNSUPPORTED",
      /graph\.node\[0\] "mm" \(ai\.onnx\.MatMul\) is not served before the ensemble; forestd runs Scaler, Imputer/,
      "an unknown op before the ensemble",
    );
    refuses(
      t,
      graph(
        [stump("x"), { opType: "Exp", name: "exp", inputs: ["variable"], outputs: ["y"] }],
        undefined,
        [],
        [{ name: "y" }],
      ),
      "UNSUPPORTED",
      /graph\.node\[1\] "exp" \(ai\.onnx\.Exp\) is not served after the ensemble/,
      "an unknown op after the ensemble",
    );
    refuses(
      t,
      graph([
        { opType: "Cast", name: "trunc", inputs: ["x"], outputs: ["i"], attributes: { to: 7 } },
        { opType: "Cast", name: "back", inputs: ["i"], outputs: ["f"], attributes: { to: 1 } },
        stump("f"),
      ]),
      "UNSUPPORTED",
      /"trunc" \(ai\.onnx\.Cast\) casts float values to int64 \(truncating them\)/,
      "a truncating cast",
    );
    refuses(
      t,
      graph([
        ml("Imputer", "zeros", ["x"], ["f"], {
          imputed_value_floats: { floats: [1, 2] },
          replaced_value_float: 0,
        }),
        stump("f"),
      ]),
      "UNSUPPORTED",
      /"zeros" \(ai\.onnx\.ml\.Imputer\): replaced_value_float is 0/,
      "an Imputer of zeros",
    );
    refuses(
      t,
      graph([{ opType: "Sub", name: "minus", inputs: ["x", "x"], outputs: ["d"] }, stump("d")]),
      "UNSUPPORTED",
      /"minus" \(ai\.onnx\.Sub\): forestd serves Sub of a tensor and a constant/,
      "arithmetic between two tensors",
    );
    refuses(
      t,
      graph(
        [
          ml("LabelEncoder", "codes", ["s"], ["c"], { keys_strings: ["a", "a"], values_int64s: [0, 1] }),
          { opType: "Cast", name: "f", inputs: ["c"], outputs: ["cf"], attributes: { to: 1 } },
          stump("cf"),
        ],
        [{ name: "s", elemType: 8, width: 1 }],
      ),
      "INVALID",
      /"codes" \(ai\.onnx\.ml\.LabelEncoder\): keys_strings names a key twice/,
      "duplicate keys",
    );
    refuses(
      t,
      graph(
        [{ opType: "Reshape", name: "mix", inputs: ["x", "shape"], outputs: ["r"] }, stump("r")],
        undefined,
        [{ name: "shape", dataType: 7, dims: [2], values: [1, -1] }],
      ),
      "UNSUPPORTED",
      /"mix" \(ai\.onnx\.Reshape\) reshapes to a batch of 1 rows/,
      "a reshape that mixes rows",
    );
    refuses(
      t,
      graph(
        [
          { opType: "Gather", name: "g", inputs: ["x", "idx"], outputs: ["y"], attributes: { axis: 1 } },
          stump("y"),
        ],
        undefined,
        [{ name: "idx", dataType: 7, dims: [1], values: [5] }],
      ),
      "INVALID",
      /"g" \(ai\.onnx\.Gather\): index 5 is outside 0\.\.1/,
      "a Gather index past the input",
    );
  },
);

t.test("shared subtrees and deep trees are read or refused in bounded time", async (t) => {
  // 40 split nodes, each with both children the next one: 2^40 paths if copied naively.
  const n = 40;
  const ids = Array.from({ length: n + 1 }, (_, i) => i);
  const started = Date.now();
  refuses(
    t,
    encodeModel({
      nodes: [
        {
          opType: "TreeEnsembleRegressor",
          domain: "ai.onnx.ml",
          inputs: ["input"],
          outputs: ["variable"],
          attributes: {
            n_targets: 1,
            nodes_treeids: ids.map(() => 0),
            nodes_nodeids: ids,
            nodes_featureids: ids.map(() => 0),
            nodes_modes: ids.map((i) => (i < n ? "BRANCH_LEQ" : "LEAF")),
            nodes_values: { floats: ids.map((i) => i) },
            nodes_truenodeids: ids.map((i) => (i < n ? i + 1 : 0)),
            nodes_falsenodeids: ids.map((i) => (i < n ? i + 1 : 0)),
            target_treeids: [0],
            target_nodeids: [n],
            target_ids: [0],
            target_weights: { floats: [1] },
          },
        },
      ],
      outputs: [{ name: "variable" }],
    }),
    "TOO_LARGE",
    /tree 0 shares subtrees so much that it would take more than \d+ nodes/,
    "a diamond chain",
  );
  t.ok(Date.now() - started < 5000, `refused in ${Date.now() - started} ms`);

  // An opset-5 tree 100 000 splits deep: read without recursion.
  const depth = 100_000;
  const model = loadModel(
    encodeModel({
      nodes: [
        {
          opType: "TreeEnsemble",
          domain: "ai.onnx.ml",
          inputs: ["input"],
          outputs: ["variable"],
          attributes: {
            n_targets: 1,
            aggregate_function: 1,
            post_transform: 0,
            tree_roots: [0],
            nodes_featureids: Array.from({ length: depth }, () => 0),
            nodes_modes: { tensor: new Uint8Array(depth) },
            nodes_splits: { tensor: Float32Array.from({ length: depth }, (_, i) => depth - i) },
            nodes_truenodeids: Array.from({ length: depth }, (_, i) => (i + 1 < depth ? i + 1 : 0)),
            nodes_falsenodeids: Array.from({ length: depth }, (_, i) => i + 1),
            nodes_trueleafs: Array.from({ length: depth }, (_, i) => (i + 1 < depth ? 0 : 1)),
            nodes_falseleafs: Array.from({ length: depth }, () => 1),
            leaf_targetids: Array.from({ length: depth + 1 }, () => 0),
            leaf_weights: { tensor: Float32Array.from({ length: depth + 1 }, (_, i) => i) },
          },
        },
      ],
      outputs: [{ name: "variable" }],
      mlOpset: 5,
    }),
  );
  t.same([...model.predictBatch(Float32Array.of(0.5, 0), 1)], [0], "x = 0.5 walks all the way down");
});

t.test("random corruption of the graph fixtures never escapes as anything but a ModelError", async (t) => {
  let seed = 11;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  let refused = 0;
  let loaded = 0;
  for (const name of [
    "coltrans_num_str",
    "coltrans_ordinal_int64",
    "lgbm_multiclass_cat_many",
    "v5_member_double",
    "pipe_double_scaler_rf",
    "post_softmax",
  ]) {
    const original = readFileSync(join(ONNX_GRAPHS, `${name}.onnx`));
    for (let i = 0; i < 120; i++) {
      const corrupt = Uint8Array.from(original);
      const flips = 1 + rand(4);
      for (let f = 0; f < flips; f++) corrupt[rand(corrupt.length)] = rand(256);
      // Lengths changed too: a byte that is a length prefix, bumped.
      if (i % 7 === 0) corrupt[rand(corrupt.length)] ^= 0x80;
      const input = i % 5 === 0 ? corrupt.subarray(0, rand(corrupt.length)) : corrupt;
      try {
        const model = loadModel(input);
        const rows = Array.from({ length: 3 }, (_, r) =>
          model.inputs.map((c) => (c.vocabulary ? (c.vocabulary[r] ?? "zz") : r - 1)),
        );
        const values = rowsToArray(model, rows);
        const out = model.predictBatch(values, 3);
        if (out.length !== 3 * model.numOutputs) t.fail("wrong output size");
        model.labels(model.predictBatch(values, 3, { margin: true }), 3);
        loaded++;
      } catch (error) {
        if (
          !(error instanceof ModelError) &&
          !(error instanceof Error && error.name === "PredictInputError")
        ) {
          t.fail(`${name}: escaped as ${(error as Error).name}: ${(error as Error).message}`);
          return;
        }
        refused++;
      }
    }
  }
  t.ok(refused > 200, `${refused} corruptions refused with a ModelError (${loaded} were harmless)`);
});

t.test("a chain of 50 000 nodes before the ensemble is read without recursion", async (t) => {
  const n = 50_000;
  const nodes: NodeSpec[] = Array.from({ length: n }, (_, i) => ({
    opType: "Identity",
    name: `id${i}`,
    inputs: [i === 0 ? "x" : `t${i - 1}`],
    outputs: [`t${i}`],
  }));
  const model = loadModel(graph([...nodes, stump(`t${n - 1}`)]));
  t.same([...model.predictBatch(Float64Array.of(0.25, 0), 1)], [1], "the chain passes the row through");
});
