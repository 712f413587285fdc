/**
 * ONNX-ML tree ensembles (.onnx, from skl2onnx, onnxmltools, CatBoost...): decode the protobuf,
 * check the graph, read the ensemble's trees into a Forest whose head (heads/onnx.ts) finishes
 * scores exactly as onnxruntime does.
 */
import { ModelError } from "../../errors.js";
import type { Forest } from "../../forest/forest.js";
import type { OnnxHeadSpec } from "../../heads/onnx.js";
import type { ModelFormat } from "../format.js";
import { checkGraph } from "./graph.js";
import { decodeOnnxModel } from "./onnx-proto.js";
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

export function readOnnxForest(bytes: Uint8Array): Forest {
  const onnx = decodeOnnxModel(bytes);
  const graph = checkGraph(onnx);
  const ensemble =
    graph.ensemble.opType === "TreeEnsemble"
      ? readTreeEnsembleV5(graph.ensemble, graph.where)
      : readTreeEnsemble(graph.ensemble, graph.where);
  const numFeature = graph.inputWidth > 0 ? graph.inputWidth : ensemble.maxFeature + 1;
  if (ensemble.maxFeature >= numFeature) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_INVALID",
      `${graph.where} splits on feature ${ensemble.maxFeature} but input "${graph.inputName}" has ${numFeature} features`,
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
  };
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
        inputName: graph.inputName,
        outputs,
        postTransform: ensemble.postTransform,
        aggregateFunction: ensemble.aggregate,
        baseValues: [...ensemble.baseValues],
        onnxTrees: ensemble.numOnnxTrees,
      },
      inputTensor: graph.inputName,
    },
    input: "f32",
    accumulate: "f32",
    features: Array.from({ length: Math.max(1, numFeature) }, () => ({
      name: null,
      kind: "numeric",
      formatType: null,
    })),
    inputs: null,
    preprocess: [],
    trees: ensemble.trees,
    // A popped binary classifier feeds column 0 only.
    treeGroup: Int32Array.from(ensemble.treeGroup, (g) => Math.min(g, numGroups - 1)),
    treeWeight: null,
    numGroups,
    // onnxruntime sums trees from 0 and adds base values after (the head's finish).
    aggregate: { reduce: "sum", init: new Float64Array(numGroups) },
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
    return [
      ["onnx", `ir_version ${d.irVersion}; opsets ${opsets.join(", ")}`],
      ["producer", `${d.producerName || "unknown"} ${d.producerVersion}`.trimEnd()],
      ["operator", `${d.operator} (post_transform ${d.postTransform}, aggregate ${d.aggregateFunction})`],
      ["input", `"${d.inputName}"`],
      [
        "graph outputs",
        outputs.map((x) => `"${x.name}" (${x.carries}${x.zipmap ? ", ZipMap" : ""})`).join(", "),
      ],
      ["onnx trees", String(d.onnxTrees)],
      ["base_values", base.length > 0 ? base.join(", ") : "-"],
    ];
  },
};
