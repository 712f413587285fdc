/**
 * ONNX bytes → a Model: decode the protobuf, check the graph, read the ensemble into forestd's
 * trees, compile them into the same layout and kernel XGBoost models use, and attach the
 * onnxruntime-exact output head.
 */
import { compileForest } from "../compile.js";
import { ModelError } from "../errors.js";
import { Model } from "../model.js";
import type { ModelSpec } from "../read-document.js";
import { checkGraph } from "./graph.js";
import { onnxHead } from "./head.js";
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

export function loadOnnxModel(bytes: Uint8Array): Model {
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
  const head = onnxHead(ensemble);
  const classifier = ensemble.kind === "classifier";
  const task = classifier ? (ensemble.numScores === 2 ? "binary" : "multiclass") : "regression";
  const spec: ModelSpec = {
    xgboostVersion: null,
    booster: "gbtree",
    objective: { name: `onnx:${graph.ensemble.opType}`, link: "identity", transform: "identity", task },
    numFeature: Math.max(1, numFeature),
    numClass: classifier ? ensemble.numScores : 0,
    numGroups: head.numMargins,
    baseScore: new Array(head.numMargins).fill(0),
    featureNames: [],
    featureTypes: [],
    trees: ensemble.trees,
    // A popped binary classifier feeds column 0 only.
    treeGroup: ensemble.treeGroup.map((g) => Math.min(g, head.numMargins - 1)),
    weightDrop: null,
    numParallelTree: 1,
    bestIteration: null,
  };
  const opsets: Record<string, number> = {};
  for (const [domain, version] of onnx.opsets) opsets[domain] = version;
  return new Model(spec, compileForest(spec), {
    head,
    info: {
      producerName: onnx.producerName,
      producerVersion: onnx.producerVersion,
      irVersion: onnx.irVersion,
      opsets,
      operator: graph.ensemble.opType,
      inputName: graph.inputName,
      outputs: graph.outputs.map((o) => ({
        name: o.name,
        carries: o.source === "label" ? "label" : classifier ? "probabilities" : "values",
        zipmap: o.zipmap,
      })),
      postTransform: ensemble.postTransform,
      aggregateFunction: ensemble.aggregate,
      baseValues: [...ensemble.baseValues],
      onnxTrees: ensemble.numOnnxTrees,
    },
  });
}
