/**
 * The ONNX semantics converters rarely emit, checked against onnxruntime-node itself (run live):
 * every node mode (LEQ/LT/GTE/GT) with and without missing_value_tracks_true, post_transforms
 * (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT), SUM/AVERAGE, base_values of every length,
 * several targets, binary classifiers fed on one class or both, weights spread over classes and
 * repeated on a leaf. Random models and rows (seeded); outputs bit-identical, labels equal.
 */
import * as ort from "onnxruntime-node";
import t, { type Test } from "tap";
import { nextUp32 } from "../../model/compile/compile.js";
import { loadModel, rowsToArray } from "../../model/index.js";
import { type AttributeValue, encodeModel } from "../helpers/onnx-encode.js";

let seed = 2024;
const rand = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};
const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)];
const MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"];
const THRESHOLDS = [-1.5, -0.25, 0, 0.1, 0.5, 1, 2.75];
const FEATURES = 3;

interface Case {
  kind: "classifier" | "regressor";
  targets: number;
  post: string;
  aggregate: string;
  baseValues: number[];
  /** Which classes/targets leaves vote for. */
  columns: number[];
  repeat: boolean;
}

function attributes(c: Case): Record<string, AttributeValue> {
  const nodes = {
    treeids: [] as number[],
    nodeids: [] as number[],
    featureids: [] as number[],
    modes: [] as string[],
    values: [] as number[],
    trues: [] as number[],
    falses: [] as number[],
    missing: [] as number[],
  };
  const w = {
    treeids: [] as number[],
    nodeids: [] as number[],
    ids: [] as number[],
    weights: [] as number[],
  };
  const trees = 2 + rand(4);
  for (let tree = 0; tree < trees; tree++) {
    // A full tree of depth 2 or 3, node ids breadth first.
    const depth = 2 + rand(2);
    const count = 2 ** (depth + 1) - 1;
    for (let id = 0; id < count; id++) {
      const leaf = id >= 2 ** depth - 1;
      nodes.treeids.push(tree);
      nodes.nodeids.push(id);
      nodes.featureids.push(leaf ? 0 : rand(FEATURES));
      nodes.modes.push(leaf ? "LEAF" : pick(MODES));
      nodes.values.push(leaf ? 0 : pick(THRESHOLDS));
      nodes.trues.push(leaf ? 0 : 2 * id + 1);
      nodes.falses.push(leaf ? 0 : 2 * id + 2);
      nodes.missing.push(leaf ? 0 : rand(2));
      if (!leaf) continue;
      for (const column of c.columns) {
        for (let k = 0; k < (c.repeat ? 1 + rand(2) : 1); k++) {
          w.treeids.push(tree);
          w.nodeids.push(id);
          w.ids.push(column);
          w.weights.push(Math.fround((rand(2000) - 700) / 997));
        }
      }
    }
  }
  const p = c.kind === "classifier" ? "class" : "target";
  const out: Record<string, AttributeValue> = {
    nodes_treeids: nodes.treeids,
    nodes_nodeids: nodes.nodeids,
    nodes_featureids: nodes.featureids,
    nodes_modes: nodes.modes,
    nodes_values: { floats: nodes.values },
    nodes_truenodeids: nodes.trues,
    nodes_falsenodeids: nodes.falses,
    nodes_missing_value_tracks_true: nodes.missing,
    [`${p}_treeids`]: w.treeids,
    [`${p}_nodeids`]: w.nodeids,
    [`${p}_ids`]: w.ids,
    [`${p}_weights`]: { floats: w.weights },
    post_transform: c.post,
  };
  if (c.baseValues.length > 0) out.base_values = { floats: c.baseValues };
  if (c.kind === "classifier") out.classlabels_int64s = Array.from({ length: c.targets }, (_, i) => 10 + i);
  else {
    out.n_targets = c.targets;
    out.aggregate_function = c.aggregate;
  }
  return out;
}

function rows(): (number | null)[][] {
  const values = [...THRESHOLDS, null, -3, 3, 0.3];
  const out: (number | null)[][] = [];
  for (let r = 0; r < 60; r++) out.push(Array.from({ length: FEATURES }, () => pick(values)));
  // Exactly on and one float32 step either side of each threshold.
  for (const th of THRESHOLDS) for (const v of [nextUp32(-th) * -1, th, nextUp32(th)]) out.push([v, v, v]);
  return out;
}

async function compare(t: Test, c: Case): Promise<void> {
  const attrs = attributes(c);
  const classifier = c.kind === "classifier";
  const bytes = encodeModel({
    nodes: [
      {
        opType: classifier ? "TreeEnsembleClassifier" : "TreeEnsembleRegressor",
        domain: "ai.onnx.ml",
        inputs: ["input"],
        outputs: classifier ? ["label", "probabilities"] : ["variable"],
        attributes: attrs,
      },
    ],
    input: { name: "input", width: FEATURES },
    outputs: classifier
      ? [{ name: "label", elemType: 7 }, { name: "probabilities" }]
      : [{ name: "variable" }],
  });
  const data = rows();
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const x = Float32Array.from(data.flat(), (v) => (v === null ? Number.NaN : v));
  const result = await session.run({ input: new ort.Tensor("float32", x, [data.length, FEATURES]) });
  await session.release();
  const model = loadModel(bytes);
  const values = rowsToArray(model, data);
  const margins = model.predictBatch(values, data.length, { margin: true });
  const outputs = model.transform(margins, data.length);
  const truth = (classifier ? result.probabilities : result.variable).data as Float32Array;
  const mismatches = [...outputs].flatMap((v, i) =>
    Object.is(v, truth[i]) ? [] : [{ i, forestd: v, onnxruntime: truth[i] }],
  );
  t.same(mismatches.slice(0, 5), [], `${JSON.stringify(c)}: ${outputs.length} outputs bit-identical`);
  if (classifier) {
    const labels = Array.from(result.label.data as BigInt64Array, Number);
    t.same(model.labels(margins, data.length), labels, "labels equal");
  }
}

t.test("regressors: modes, missing values, aggregates, base values, transforms", async (t) => {
  for (let i = 0; i < 24; i++) {
    const targets = pick([1, 1, 2, 3]);
    const column = Array.from({ length: targets }, (_, k) => k);
    await compare(t, {
      kind: "regressor",
      targets,
      post: pick(["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"]),
      aggregate: pick(["SUM", "AVERAGE"]),
      baseValues: pick([[], Array.from({ length: targets }, (_, k) => k - 0.5)]),
      columns: column,
      repeat: targets > 1 && rand(2) === 1,
    });
  }
});

t.test("classifiers: binary one-column and two-column, multi-class, every transform", async (t) => {
  for (let i = 0; i < 30; i++) {
    const targets = pick([2, 2, 3, 4]);
    const columns = targets === 2 ? pick([[0], [1], [0, 1]]) : Array.from({ length: targets }, (_, k) => k);
    await compare(t, {
      kind: "classifier",
      targets,
      post: pick(["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"]),
      aggregate: "SUM",
      baseValues:
        targets === 2
          ? pick([[], [0.125], [-0.5, 0.75]])
          : pick([[], Array.from({ length: targets }, (_, k) => k / 4)]),
      columns,
      repeat: rand(3) === 0,
    });
  }
});

t.test("TreeEnsemble (ai.onnx.ml opset 5): modes, targets, transforms, aggregates", async (t) => {
  for (let i = 0; i < 12; i++) {
    const targets = pick([1, 2, 3]);
    // Opset 5 keeps split nodes and leaves apart: children are node or leaf indices.
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
    const leaf = { targets: [] as number[], weights: [] as number[] };
    const roots: number[] = [];
    const trees = 2 + rand(4);
    for (let tree = 0; tree < trees; tree++) {
      const target = tree % targets;
      const build = (depth: number): { index: number; leaf: boolean } => {
        if (depth === 0) {
          leaf.targets.push(target);
          leaf.weights.push(Math.fround((rand(2000) - 700) / 997));
          return { index: leaf.targets.length - 1, leaf: true };
        }
        const at = node.featureids.length;
        node.featureids.push(rand(FEATURES));
        node.modes.push(rand(4));
        node.splits.push(pick(THRESHOLDS));
        node.missing.push(rand(2));
        for (const k of ["trues", "falses", "trueLeafs", "falseLeafs"] as const) node[k].push(0);
        const l = build(depth - 1);
        const r = build(depth - 1);
        node.trues[at] = l.index;
        node.trueLeafs[at] = l.leaf ? 1 : 0;
        node.falses[at] = r.index;
        node.falseLeafs[at] = r.leaf ? 1 : 0;
        return { index: at, leaf: false };
      };
      roots.push(build(2 + rand(2)).index);
    }
    const bytes = encodeModel({
      nodes: [
        {
          opType: "TreeEnsemble",
          domain: "ai.onnx.ml",
          inputs: ["input"],
          outputs: ["Y"],
          attributes: {
            n_targets: targets,
            tree_roots: roots,
            nodes_featureids: node.featureids,
            nodes_modes: { tensor: Uint8Array.from(node.modes) },
            nodes_splits: { tensor: Float32Array.from(node.splits) },
            nodes_truenodeids: node.trues,
            nodes_falsenodeids: node.falses,
            nodes_trueleafs: node.trueLeafs,
            nodes_falseleafs: node.falseLeafs,
            nodes_missing_value_tracks_true: node.missing,
            leaf_targetids: leaf.targets,
            leaf_weights: { tensor: Float32Array.from(leaf.weights) },
            post_transform: rand(5),
            aggregate_function: rand(2),
          },
        },
      ],
      input: { name: "input", width: FEATURES },
      outputs: [{ name: "Y" }],
      mlOpset: 5,
    });
    const data = rows();
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const x = Float32Array.from(data.flat(), (v) => (v === null ? Number.NaN : v));
    const result = await session.run({ input: new ort.Tensor("float32", x, [data.length, FEATURES]) });
    await session.release();
    const model = loadModel(bytes);
    const outputs = model.predictBatch(rowsToArray(model, data), data.length);
    const truth = result.Y.data as Float32Array;
    const mismatches = [...outputs].flatMap((v, k) =>
      Object.is(v, truth[k]) ? [] : [{ k, forestd: v, onnxruntime: truth[k] }],
    );
    const info = model.info().details;
    t.same(
      mismatches.slice(0, 3),
      [],
      `opset 5, ${targets} target(s), ${trees} trees, ${info?.postTransform}, ${info?.aggregateFunction}: ${outputs.length} outputs bit-identical`,
    );
  }
});
