/**
 * ONNX semantics beyond float LEQ/LT/GTE/GT ensembles, checked against onnxruntime-node itself (run
 * live, one thread) on random models and rows (seeded): BRANCH_EQ chains sharing their true child
 * (onnxmltools' categorical splits) and NEQ nodes; opset-5 BRANCH_MEMBER sets, small (exact) and
 * big (a truncating int32 lookup), float and double; double-precision ensembles with
 * *_as_tensor attributes and rows one float64 step either side of each threshold; MIN / MAX
 * aggregates; and the transforms' exp (glibc's expf, not correctly rounded) on thousands of
 * scores. Outputs bit-identical, labels equal.
 */
import * as ort from "onnxruntime-node";
import t, { type Test } from "tap";
import { loadModel, rowsToArray } from "../../model/index.js";
import { type AttributeValue, encodeModel } from "../helpers/onnx-encode.js";

let seed = 7041;
const rand = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};
const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)];

interface Run {
  bytes: Uint8Array;
  rows: (number | null)[][];
  double: boolean;
  output: string;
  label?: string;
  /** A column onnxruntime leaves unwritten (its value is whatever memory held), not compared. */
  unwritten?: number;
}

/** Runs the model in onnxruntime and in forestd; outputs must agree bit for bit. */
async function compare(t: Test, what: string, run: Run): Promise<void> {
  const { bytes, rows, double } = run;
  const width = rows[0].length;
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const flat = rows.flat().map((v) => (v === null ? Number.NaN : v));
  const x = double
    ? new ort.Tensor("float64", Float64Array.from(flat), [rows.length, width])
    : new ort.Tensor("float32", Float32Array.from(flat), [rows.length, width]);
  const result = await session.run({ input: x });
  await session.release();
  const model = loadModel(bytes);
  const values = rowsToArray(model, rows);
  const margins = model.predictBatch(values, rows.length, { margin: true });
  const outputs = model.transform(margins, rows.length);
  const truth = Array.from(result[run.output].data as Float32Array | Float64Array);
  const columns = model.numOutputs;
  const mismatches = [...outputs].flatMap((v, i) =>
    Object.is(v, truth[i]) || i % columns === run.unwritten ? [] : [{ i, forestd: v, onnxruntime: truth[i] }],
  );
  t.same(
    mismatches.slice(0, 5),
    [],
    `${what}: ${outputs.length} outputs bit-identical (${mismatches.length} differ)`,
  );
  if (process.env.DEBUG_ONNX && mismatches.length > 0) {
    const w = columns;
    const r = Math.floor(mismatches[0].i / w);
    t.comment(
      JSON.stringify({
        margins: [...margins.subarray(r * model.numMarginOutputs, (r + 1) * model.numMarginOutputs)],
        ours: [...outputs.subarray(r * w, (r + 1) * w)],
        ort: truth.slice(r * w, (r + 1) * w),
      }),
    );
  }
  if (run.label) {
    const labels = Array.from(result[run.label].data as BigInt64Array, Number);
    t.same(model.labels(margins, rows.length), labels, `${what}: labels equal`);
  }
}

/** Opset-3 attribute lists, built node by node. */
class V3 {
  readonly a = {
    treeids: [] as number[],
    nodeids: [] as number[],
    featureids: [] as number[],
    modes: [] as string[],
    values: [] as number[],
    trues: [] as number[],
    falses: [] as number[],
    missing: [] as number[],
  };
  readonly w = {
    treeids: [] as number[],
    nodeids: [] as number[],
    ids: [] as number[],
    weights: [] as number[],
  };
  next = 0;

  split(tree: number, mode: string, feature: number, value: number, missing: number): number {
    const id = this.next++;
    const a = this.a;
    a.treeids.push(tree);
    a.nodeids.push(id);
    a.featureids.push(feature);
    a.modes.push(mode);
    a.values.push(value);
    a.trues.push(-1);
    a.falses.push(-1);
    a.missing.push(missing);
    return a.nodeids.length - 1;
  }

  leaf(tree: number, weights: number[]): number {
    const at = this.split(tree, "LEAF", 0, 0, 0);
    weights.forEach((value, target) => {
      this.w.treeids.push(tree);
      this.w.nodeids.push(this.a.nodeids[at]);
      this.w.ids.push(target);
      this.w.weights.push(value);
    });
    return at;
  }

  link(at: number, yes: number, no: number): void {
    this.a.trues[at] = this.a.nodeids[yes];
    this.a.falses[at] = this.a.nodeids[no];
  }

  attributes(
    targets: number,
    double: boolean,
    extra: Record<string, AttributeValue>,
  ): Record<string, AttributeValue> {
    const numbers = (name: string, v: number[]): Record<string, AttributeValue> =>
      double ? { [`${name}_as_tensor`]: { tensor: Float64Array.from(v) } } : { [name]: { floats: v } };
    return {
      n_targets: targets,
      nodes_treeids: this.a.treeids,
      nodes_nodeids: this.a.nodeids,
      nodes_featureids: this.a.featureids,
      nodes_modes: this.a.modes,
      ...numbers("nodes_values", this.a.values),
      nodes_truenodeids: this.a.trues,
      nodes_falsenodeids: this.a.falses,
      nodes_missing_value_tracks_true: this.a.missing,
      target_treeids: this.w.treeids,
      target_nodeids: this.w.nodeids,
      target_ids: this.w.ids,
      ...numbers("target_weights", this.w.weights),
      ...extra,
    };
  }
}

function regressor(
  attributes: Record<string, AttributeValue>,
  width: number,
  double: boolean,
  mlOpset = 3,
): Uint8Array {
  return encodeModel({
    nodes: [
      {
        opType: "TreeEnsembleRegressor",
        domain: "ai.onnx.ml",
        inputs: ["input"],
        outputs: ["variable"],
        attributes,
      },
    ],
    input: { name: "input", elemType: double ? 11 : 1, width },
    outputs: [{ name: "variable" }],
    mlOpset,
  });
}

const weight = () => Math.fround((rand(4000) - 2000) / 977);

t.test(
  "BRANCH_EQ chains sharing their true child, NEQ and LEQ nodes (onnxmltools' categorical splits)",
  async (t) => {
    const CATEGORIES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 2.5];
    for (let m = 0; m < 16; m++) {
      const b = new V3();
      const targets = pick([1, 2]);
      const trees = 2 + rand(4);
      for (let tree = 0; tree < trees; tree++) {
        b.next = 0;
        const grow = (depth: number): number => {
          if (depth === 0 || rand(5) === 0) return b.leaf(tree, Array.from({ length: targets }, weight));
          const kind = pick(["chain", "chain", "neq", "leq", "eq"]);
          const feature = rand(3);
          const missing = rand(2);
          if (kind === "chain") {
            // x in {v1..vk} → shared child, else the rest: k nodes, each true → the same subtree.
            const values = [...new Set(Array.from({ length: 2 + rand(4) }, () => pick(CATEGORIES)))];
            const nodes = values.map((v) => b.split(tree, "BRANCH_EQ", feature, v, missing));
            const shared = grow(depth - 1);
            const rest = grow(depth - 1);
            nodes.forEach((at, i) => {
              b.link(at, shared, i + 1 < nodes.length ? nodes[i + 1] : rest);
            });
            return nodes[0];
          }
          const mode = kind === "neq" ? "BRANCH_NEQ" : kind === "leq" ? "BRANCH_LEQ" : "BRANCH_EQ";
          const at = b.split(
            tree,
            mode,
            feature,
            kind === "leq" ? pick([0.5, 2.5, 4, 7.25]) : pick(CATEGORIES),
            missing,
          );
          b.link(at, grow(depth - 1), grow(depth - 1));
          return at;
        };
        grow(3);
      }
      const rows: (number | null)[][] = [];
      const values = [...CATEGORIES, null, -1, -0, 10, 1e9, Math.fround(3.0000002), 0.5, 4, 7.25];
      for (let r = 0; r < 120; r++) rows.push([pick(values), pick(values), pick(values)]);
      const double = rand(3) === 0;
      await compare(t, `model ${m} (${double ? "double" : "float"}, ${targets} target(s))`, {
        bytes: regressor(b.attributes(targets, double, {}), 3, double),
        rows,
        double,
        output: "variable",
      });
    }
  },
);

t.test(
  "opset 5 BRANCH_MEMBER: small sets (exact) and big sets (truncated int32 lookup), float and double",
  async (t) => {
    for (let m = 0; m < 12; m++) {
      const double = m % 2 === 1;
      const node = {
        featureids: [] as number[],
        modes: [] as number[],
        splits: [] as number[],
        trues: [] as number[],
        falses: [] as number[],
        trueLeafs: [] as number[],
        falseLeafs: [] as number[],
        missing: [] as number[],
      };
      const leaves: number[] = [];
      const members: number[] = [];
      const roots: number[] = [];
      const grow = (depth: number): [number, boolean] => {
        if (depth === 0) {
          leaves.push(weight());
          return [leaves.length - 1, true];
        }
        const i = node.featureids.length;
        const big = rand(2) === 0;
        const member = rand(4) !== 0;
        node.featureids.push(rand(2));
        node.modes.push(member ? 6 : 0);
        node.splits.push(member ? 0 : pick([1.5, 20, 40.5]));
        node.missing.push(rand(2));
        if (member) {
          const set = big
            ? Array.from({ length: 5 + rand(40) }, () => rand(64))
            : Array.from({ length: 1 + rand(8) }, () => pick([0, 1, 2, 3, 5, 8, 13, 21, 30, 0.5, 2.75]));
          members.push(...set, Number.NaN);
        }
        node.trues.push(0);
        node.falses.push(0);
        node.trueLeafs.push(0);
        node.falseLeafs.push(0);
        const [yes, yesLeaf] = grow(depth - 1);
        const [no, noLeaf] = grow(depth - 1);
        node.trues[i] = yes;
        node.falses[i] = no;
        node.trueLeafs[i] = yesLeaf ? 1 : 0;
        node.falseLeafs[i] = noLeaf ? 1 : 0;
        return [i, false];
      };
      for (let tree = 0; tree < 3; tree++) roots.push(grow(3)[0]);
      const tensor = (v: number[]) => ({ tensor: double ? Float64Array.from(v) : Float32Array.from(v) });
      const bytes = encodeModel({
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
              tree_roots: roots,
              nodes_featureids: node.featureids,
              nodes_modes: { tensor: Uint8Array.from(node.modes) },
              nodes_splits: tensor(node.splits),
              nodes_truenodeids: node.trues,
              nodes_falsenodeids: node.falses,
              nodes_trueleafs: node.trueLeafs,
              nodes_falseleafs: node.falseLeafs,
              nodes_missing_value_tracks_true: node.missing,
              leaf_targetids: leaves.map(() => 0),
              leaf_weights: tensor(leaves),
              membership_values: tensor(members),
            },
          },
        ],
        input: { name: "input", elemType: double ? 11 : 1, width: 2 },
        outputs: [{ name: "variable", elemType: double ? 11 : 1 }],
        mlOpset: 5,
      });
      const values = [
        0,
        1,
        2,
        2.5,
        2.75,
        3,
        5,
        7.5,
        13,
        21.9,
        30,
        31,
        40.5,
        63,
        64,
        -0.5,
        -1,
        -0,
        1e9,
        2 ** 31,
        null,
      ];
      const rows: (number | null)[][] = [];
      for (let r = 0; r < 150; r++) rows.push([pick(values), pick(values)]);
      await compare(t, `model ${m} (${double ? "double" : "float"})`, {
        bytes,
        rows,
        double,
        output: "variable",
      });
    }
  },
);

t.test("double inputs: *_as_tensor thresholds and weights, rows one float64 step either side", async (t) => {
  const next = (x: number, up: boolean) => {
    const v = new DataView(new ArrayBuffer(8));
    v.setFloat64(0, x);
    const bits = v.getBigInt64(0);
    v.setBigInt64(0, bits + (x > 0 === up ? 1n : -1n) * (x === 0 ? 0n : 1n));
    return x === 0 ? (up ? 5e-324 : -5e-324) : v.getFloat64(0);
  };
  for (let m = 0; m < 10; m++) {
    const b = new V3();
    const thresholds = Array.from({ length: 6 }, () => (rand(100000) - 50000) / 3333.3333);
    const targets = pick([1, 2]);
    for (let tree = 0; tree < 4; tree++) {
      b.next = 0;
      const grow = (depth: number): number => {
        if (depth === 0)
          return b.leaf(
            tree,
            Array.from({ length: targets }, () => (rand(100000) - 50000) / 7777.7),
          );
        const at = b.split(
          tree,
          pick(["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"]),
          rand(2),
          pick(thresholds),
          rand(2),
        );
        b.link(at, grow(depth - 1), grow(depth - 1));
        return at;
      };
      grow(3);
    }
    const rows: (number | null)[][] = [];
    for (const th of thresholds)
      for (const v of [next(th, false), th, next(th, true)]) rows.push([v, pick(thresholds)]);
    rows.push([null, thresholds[0]], [thresholds[1], null]);
    const aggregate = pick(["SUM", "AVERAGE", "MIN", "MAX"]);
    await compare(t, `model ${m} (${aggregate})`, {
      bytes: regressor(
        b.attributes(targets, true, {
          aggregate_function: aggregate,
          base_values_as_tensor: { tensor: Float64Array.from({ length: targets }, (_, k) => k / 3) },
        }),
        2,
        true,
      ),
      rows,
      double: true,
      output: "variable",
    });
  }
});

t.test("MIN and MAX aggregates, float", async (t) => {
  for (let m = 0; m < 10; m++) {
    const b = new V3();
    const targets = pick([1, 2, 3]);
    for (let tree = 0; tree < 2 + rand(5); tree++) {
      b.next = 0;
      const grow = (depth: number): number => {
        if (depth === 0) return b.leaf(tree, Array.from({ length: targets }, weight));
        const at = b.split(tree, "BRANCH_LEQ", rand(2), pick([-1, 0, 0.5, 2]), rand(2));
        b.link(at, grow(depth - 1), grow(depth - 1));
        return at;
      };
      grow(2 + rand(2));
    }
    const rows: (number | null)[][] = [];
    for (let r = 0; r < 60; r++)
      rows.push([pick([-2, -1, 0, 0.5, 1, 2, 3, null]), pick([-1, 0, 0.5, 2, 5, null])]);
    const aggregate = pick(["MIN", "MAX"]);
    const base: Record<string, AttributeValue> =
      rand(2) === 0 ? { base_values: { floats: Array.from({ length: targets }, (_, k) => k - 1) } } : {};
    await compare(t, `model ${m} (${aggregate}, ${targets} target(s))`, {
      bytes: regressor(b.attributes(targets, false, { aggregate_function: aggregate, ...base }), 2, false),
      rows,
      double: false,
      output: "variable",
    });
  }
});

t.test(
  "transforms on thousands of scores: onnxruntime's exp and log are glibc's expf and logf",
  async (t) => {
    // One tree whose leaves carry the scores; row i reaches leaf i (x <= i + 0.5 chain).
    const count = 3000;
    for (const [post, classes] of [
      ["LOGISTIC", 2],
      ["SOFTMAX", 3],
      ["SOFTMAX_ZERO", 3],
      ["LOGISTIC", 3],
      ["PROBIT", 3],
    ] as const) {
      const b = new V3();
      // PROBIT reads probabilities: scores in (0, 1) (its logf sees (1 − x)(1 + x) for x = 2p − 1).
      const score = (i: number) =>
        post === "PROBIT"
          ? Math.fround((1 + rand(2 ** 24 - 2)) / 2 ** 24)
          : Math.fround(((rand(2 ** 20) - 2 ** 19) / 2 ** 19) * (i % 7 === 0 ? 30 : 4));
      const scores = Array.from({ length: count }, (_, i) =>
        Array.from({ length: classes === 2 ? 1 : classes }, () => score(i)),
      );
      let prev = -1;
      for (let i = 0; i < count; i++) {
        const split = b.split(0, "BRANCH_LEQ", 0, i + 0.5, 0);
        const leaf = b.leaf(0, scores[i]);
        b.a.trues[split] = b.a.nodeids[leaf];
        if (prev >= 0) b.a.falses[prev] = b.a.nodeids[split];
        prev = split;
      }
      b.a.falses[prev] = b.a.nodeids[b.leaf(0, scores[0])];
      const attrs = b.attributes(classes, false, {});
      const classifier: Record<string, AttributeValue> = {};
      for (const [k, v] of Object.entries(attrs)) {
        if (k === "n_targets") continue;
        classifier[k.replace(/^target_/, "class_")] = v;
      }
      classifier.classlabels_int64s = Array.from({ length: classes }, (_, k) => k);
      classifier.post_transform = post;
      const bytes = encodeModel({
        nodes: [
          {
            opType: "TreeEnsembleClassifier",
            domain: "ai.onnx.ml",
            inputs: ["input"],
            outputs: ["label", "probabilities"],
            attributes: classifier,
          },
        ],
        input: { name: "input", width: 1 },
        outputs: [{ name: "label", elemType: 7 }, { name: "probabilities" }],
      });
      const rows = Array.from({ length: count }, (_, i) => [i]);
      await compare(t, `${post}, ${classes} classes, ${count} scores`, {
        bytes,
        rows,
        double: false,
        output: "probabilities",
        label: "label",
      });
    }
  },
);

t.test(
  "classifiers, float and double: binary (one and two columns, positive and mixed weights), multi-class, transforms",
  async (t) => {
    for (let m = 0; m < 32; m++) {
      const double = m % 2 === 1;
      const classes = pick([2, 2, 3]);
      const columns = classes === 2 ? pick([[0], [1], [0, 1]]) : [0, 1, 2];
      const positive = rand(2) === 0;
      const b = new V3();
      for (let tree = 0; tree < 3; tree++) {
        b.next = 0;
        const grow = (depth: number): number => {
          if (depth === 0) {
            const at = b.split(tree, "LEAF", 0, 0, 0);
            for (const c of columns) {
              b.w.treeids.push(tree);
              b.w.nodeids.push(b.a.nodeids[at]);
              b.w.ids.push(c);
              b.w.weights.push(positive ? rand(1000) / 997 : (rand(100000) - 50000) / 31111.1);
            }
            return at;
          }
          const at = b.split(tree, "BRANCH_LEQ", rand(2), pick([-0.5, 0.25, 1 / 3, 2]), rand(2));
          b.link(at, grow(depth - 1), grow(depth - 1));
          return at;
        };
        grow(2);
      }
      const attrs = b.attributes(classes, double, {});
      const classifier: Record<string, AttributeValue> = {};
      for (const [k, v] of Object.entries(attrs))
        if (k !== "n_targets") classifier[k.replace(/^target_/, "class_")] = v;
      classifier.classlabels_int64s = Array.from({ length: classes }, (_, k) => 5 + k);
      classifier.post_transform = pick(["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"]);
      const bases = classes === 2 ? pick([[], [0.375], [-0.5, 1 / 3]]) : pick([[], [0.1, 0.2, 0.3]]);
      if (bases.length > 0)
        if (double) classifier.base_values_as_tensor = { tensor: Float64Array.from(bases) };
        else classifier.base_values = { floats: bases };
      const bytes = encodeModel({
        nodes: [
          {
            opType: "TreeEnsembleClassifier",
            domain: "ai.onnx.ml",
            inputs: ["input"],
            outputs: ["label", "probabilities"],
            attributes: classifier,
          },
        ],
        input: { name: "input", elemType: double ? 11 : 1, width: 2 },
        outputs: [{ name: "label", elemType: 7 }, { name: "probabilities" }],
      });
      const rows: (number | null)[][] = [];
      for (let r = 0; r < 60; r++)
        rows.push([pick([-1, -0.5, 0, 0.25, 1 / 3, 0.4, 2, 3, null]), pick([-1, 0.25, 1 / 3, 2.5, null])]);
      // A binary classifier scored on one column with PROBIT: onnxruntime writes the first
      // probability only (float inputs: the second is 0; double inputs: left over memory).
      // forestd answers 0.
      const popped = classes === 2 && columns.length === 1 && columns[0] === 0 && bases.length < 2;
      await compare(
        t,
        `model ${m} (${double ? "double" : "float"}, ${classes} classes, columns ${columns}, ${positive ? "positive" : "mixed"} weights, ${classifier.post_transform}, base [${bases}])`,
        {
          bytes,
          rows,
          double,
          output: "probabilities",
          label: "label",
          unwritten: popped && classifier.post_transform === "PROBIT" ? 1 : undefined,
        },
      );
    }
  },
);
