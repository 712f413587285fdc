/**
 * ONNX-ML tree ensembles (.onnx, from skl2onnx, onnxmltools, CatBoost...): decode the protobuf,
 * split the graph (graph.ts), compile the nodes before the ensemble into the Forest's inputs and
 * preprocessing steps (preprocess.ts), read the ensemble's trees (tree-ensemble.ts), and name the
 * head (heads/onnx.ts) that finishes scores exactly as onnxruntime does.
 */
import { ModelError, unsupportedModel as unsupported } from "../../errors.js";
import type { Forest, ForestFeature, InputTensor } from "../../forest/forest.js";
import type { OnnxHeadSpec } from "../../heads/onnx.js";
import type { ModelFormat } from "../format.js";
import { checkGraph, type GraphInput } from "./graph.js";
import { DATA_TYPE_NAMES, decodeOnnxModel } from "./onnx-proto.js";
import { compilePreprocess } from "./preprocess.js";
import { readTreeEnsemble, readTreeEnsembleV5 } from "./tree-ensemble.js";

/**
 * Whether bytes look like an ONNX ModelProto, whose writers put fields in number order: it opens
 * with ir_version (field 1, a varint: 0x08, then a small version) or, when that is unset, with
 * producer_name (0x12), the graph (0x3a) or opset_import (0x42). Neither JSON nor XGBoost's UBJSON
 * (both open with `{`, perhaps after whitespace) can.
 */
export function looksLikeOnnx(bytes: Uint8Array): boolean {
  if (bytes.length < 2) return false;
  if (bytes[0] === 0x08) return bytes[1] > 0 && bytes[1] < 0x80;
  return bytes[0] === 0x12 || bytes[0] === 0x3a || bytes[0] === 0x42;
}

/**
 * The graph's inputs as the tensors a client sends (Provenance.inputTensors): their element types
 * (compilePreprocess refused any other) and widths. `wholeRow`: when the ensemble reads the one
 * input directly, the row's width (the input's shape may not say it).
 */
function inputTensorsOf(inputs: readonly GraphInput[], wholeRow: number | null): InputTensor[] {
  return inputs.map((input) => {
    const type = DATA_TYPE_NAMES[input.elemType];
    if (type !== "float" && type !== "double" && type !== "int64" && type !== "int32" && type !== "string")
      unsupported(`graph input "${input.name.slice(0, 80)}" is a ${type ?? input.elemType} tensor`);
    const width = wholeRow ?? input.width;
    return { name: input.name, type, width };
  });
}

export function readOnnxForest(bytes: Uint8Array): Forest {
  const onnx = decodeOnnxModel(bytes);
  const graph = checkGraph(onnx);
  const pre = compilePreprocess(graph);
  const precision = pre.ensembleType === "double" ? "f64" : "f32";
  const v5 = graph.ensemble.opType === "TreeEnsemble";
  const ensemble = v5
    ? readTreeEnsembleV5(graph.ensemble, graph.where, precision)
    : readTreeEnsemble(graph.ensemble, graph.where, precision);
  // TreeEnsembleClassifier / Regressor answer float; opset 5's TreeEnsemble answers its input's type.
  const output = v5 ? precision : "f32";
  if (output === "f64" && (ensemble.postTransform !== "NONE" || graph.post.length > 0))
    unsupported(
      `${graph.where}: a double TreeEnsemble with post_transform ${ensemble.postTransform}${graph.post.length > 0 ? " and nodes after it" : ""}; forestd serves double TreeEnsembles without transforms`,
    );
  const numFeature = pre.width > 0 ? pre.width : ensemble.maxFeature + 1;
  if (ensemble.maxFeature >= numFeature) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_INVALID",
      `${graph.where} splits on feature ${ensemble.maxFeature} but its input "${graph.ensembleInput.slice(0, 80)}" has ${numFeature} columns`,
    );
  }
  const classifier = ensemble.kind === "classifier";
  // Binary: onnxruntime drops the second column when nothing scores it (the one-score trick).
  const popped =
    classifier && ensemble.numScores === 2 && !ensemble.hasScore[1] && ensemble.baseValues.length < 2;
  const numGroups = popped ? 1 : ensemble.numScores;
  const outputs = graph.outputs.map((o) => ({
    name: o.name,
    carries:
      o.source === "label"
        ? ("label" as const)
        : classifier
          ? ("probabilities" as const)
          : ("values" as const),
    zipmap: o.zipmap,
  }));
  const opsets: Record<string, number> = {};
  for (const [domain, version] of onnx.opsets) opsets[domain] = version;
  const head: OnnxHeadSpec = {
    family: "onnx",
    operator: graph.ensemble.opType,
    kind: ensemble.kind,
    numScores: ensemble.numScores,
    postTransform: ensemble.postTransform,
    aggregate: ensemble.aggregate,
    baseValues: ensemble.baseValues,
    classLabels: ensemble.classLabels,
    hasScore: ensemble.hasScore,
    binaryCase: ensemble.binaryCase,
    weightsAllPositive: ensemble.weightsAllPositive,
    numOnnxTrees: ensemble.numOnnxTrees,
    outputs: outputs.map(({ name, carries }) => ({ name, carries })),
    precision,
    output,
    post: graph.post.map((p) => (p.op === "normalize" ? { op: p.op, norm: p.norm } : { op: p.op })),
  };
  const reduce = ensemble.aggregate === "MIN" ? "min" : ensemble.aggregate === "MAX" ? "max" : "sum";
  const features: ForestFeature[] = Array.from({ length: Math.max(1, numFeature) }, (_, i) => ({
    name: null,
    kind: ensemble.categorical.has(i) ? "categorical" : "numeric",
    formatType: null,
  }));
  return {
    provenance: {
      format: "onnx",
      producer: onnx.producerName ? `${onnx.producerName} ${onnx.producerVersion}`.trim() : null,
      details: {
        producerName: onnx.producerName,
        producerVersion: onnx.producerVersion,
        irVersion: onnx.irVersion,
        opsets,
        operator: graph.ensemble.opType,
        inputName: graph.inputs.length === 1 ? graph.inputs[0].name : null,
        inputs: pre.details.inputs,
        preprocessing: pre.details.nodes,
        after: graph.post.map((p) => p.node),
        categoricalFeatures: [...ensemble.categorical].sort((a, b) => a - b),
        precision,
        outputs,
        postTransform: ensemble.postTransform,
        aggregateFunction: ensemble.aggregate,
        baseValues: [...ensemble.baseValues],
        onnxTrees: ensemble.numOnnxTrees,
      },
      // OIP's one input tensor, when the graph has one; several inputs go by their own names.
      ...(graph.inputs.length === 1 ? { inputTensor: graph.inputs[0].name } : {}),
      inputTensors: inputTensorsOf(graph.inputs, pre.inputs === null ? features.length : null),
    },
    input: precision,
    accumulate: precision,
    features,
    inputs: pre.inputs,
    preprocess: pre.steps,
    trees: ensemble.trees,
    // A popped binary classifier feeds column 0 only.
    treeGroup: Int32Array.from(ensemble.treeGroup, (g) => Math.min(g, numGroups - 1)),
    treeWeight: null,
    numGroups,
    // onnxruntime sums trees from 0 and adds base values after (the head's finish).
    aggregate: { reduce, init: new Float64Array(numGroups) },
    head,
  };
}

export const onnxFormat: ModelFormat = {
  name: "onnx",
  description: "ONNX-ML tree ensemble (.onnx: skl2onnx, onnxmltools, CatBoost)",
  extensions: [".onnx"],
  sniff: looksLikeOnnx,
  read: readOnnxForest,
  describe(d) {
    const opsets = Object.entries(d.opsets as Record<string, number>).map(
      ([k, v]) => `${k || "ai.onnx"} ${v}`,
    );
    const outputs = d.outputs as { name: string; carries: string; zipmap: boolean }[];
    const base = d.baseValues as number[];
    const inputs = (d.inputs as { name: string; type: string; width: number }[] | undefined) ?? [];
    const pre = (d.preprocessing as string[] | undefined) ?? [];
    const after = (d.after as string[] | undefined) ?? [];
    const categorical = (d.categoricalFeatures as number[] | undefined) ?? [];
    return [
      ["onnx", `ir_version ${d.irVersion}; opsets ${opsets.join(", ")}`],
      ["producer", `${d.producerName || "unknown"} ${d.producerVersion}`.trimEnd()],
      [
        "operator",
        `${d.operator} (post_transform ${d.postTransform}, aggregate ${d.aggregateFunction}, ${d.precision === "f64" ? "double" : "float"})`,
      ],
      [
        inputs.length === 1 ? "input" : "inputs",
        inputs.map((i) => `"${i.name}" (${i.type}${i.width > 0 ? `, ${i.width} columns` : ""})`).join(", "),
      ],
      ["pre nodes", pre.length > 0 ? pre.join(" → ") : "-"],
      ["categorical", categorical.length > 0 ? `features ${categorical.join(", ")}` : "-"],
      ["post nodes", after.length > 0 ? after.join(" → ") : "-"],
      [
        "graph outputs",
        outputs.map((x) => `"${x.name}" (${x.carries}${x.zipmap ? ", ZipMap" : ""})`).join(", "),
      ],
      ["onnx trees", String(d.onnxTrees)],
      ["base_values", base.length > 0 ? base.join(", ") : "-"],
    ];
  },
};
