/**
 * Checks that an ONNX graph is one tree ensemble plus what converters put around it, and says
 * which graph output carries what. Anything else is refused by name and position: forestd would
 * rather not load a model than answer for a node it does not run.
 *
 * Accepted: one TreeEnsembleClassifier / TreeEnsembleRegressor (ai.onnx.ml) reading the graph's
 * one float input; after it, any chain of Identity, Cast to the type it already has, and ZipMap
 * (which only changes how probabilities are packaged: a map per row instead of a row).
 */
import { ModelError } from "../../errors.js";
import { DATA_TYPE_NAMES, DataType, type OnnxModel, type OnnxNode } from "./onnx-proto.js";

const ML = "ai.onnx.ml";
const ENSEMBLES = ["TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"];

export interface GraphOutput {
  readonly name: string;
  /** What it carries: the ensemble's label, or its scores (probabilities / values). */
  readonly source: "label" | "scores";
  /** True when a ZipMap turned the scores into one {label: probability} map per row. */
  readonly zipmap: boolean;
}

export interface CheckedGraph {
  readonly ensemble: OnnxNode;
  /** Where the ensemble stands, for messages: `graph.node[2] ("TreeEnsembleClassifier")`. */
  readonly where: string;
  readonly inputName: string;
  /** Features per row from the input's shape, or -1 when the shape does not say. */
  readonly inputWidth: number;
  readonly outputs: readonly GraphOutput[];
  readonly mlOpset: number;
}

function unsupported(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_UNSUPPORTED", message);
}

function invalid(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_INVALID", message);
}

function describeNode(node: OnnxNode, i: number): string {
  const name = node.name ? ` "${node.name.slice(0, 80)}"` : "";
  return `graph.node[${i}]${name} (${node.domain || "ai.onnx"}.${node.opType.slice(0, 80)})`;
}

export function checkGraph(model: OnnxModel): CheckedGraph {
  const { graph } = model;
  const mlOpset = model.opsets.get(ML) ?? 0;
  const initializers = new Set(graph.initializers);
  const inputs = graph.inputs.filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1)
    unsupported(`the graph has ${inputs.length} inputs; forestd serves models with one feature tensor`);
  const input = inputs[0];
  if (input.kind !== "tensor") unsupported(`graph input "${input.name}" is a ${input.kind}, not a tensor`);
  if (input.elemType !== DataType.FLOAT) {
    unsupported(
      `graph input "${input.name}" is a ${DATA_TYPE_NAMES[input.elemType] ?? input.elemType} tensor; forestd serves float tensors` +
        (input.elemType === DataType.DOUBLE ? " (double-precision ensembles are not supported yet)" : ""),
    );
  }
  const shape = input.shape;
  if (shape !== null && shape.length !== 2)
    unsupported(`graph input "${input.name}" has ${shape.length} dimensions; forestd reads [N, features]`);
  const inputWidth = shape !== null && shape[1] > 0 ? shape[1] : -1;

  let ensembleAt = -1;
  graph.nodes.forEach((node, i) => {
    const domain = node.domain === "ai.onnx" ? "" : node.domain;
    if (domain === ML && ENSEMBLES.includes(node.opType)) {
      if (ensembleAt >= 0)
        unsupported(`${describeNode(node, i)} is a second tree ensemble; forestd serves graphs with one`);
      ensembleAt = i;
      return;
    }
    const passThrough =
      (domain === "" && (node.opType === "Identity" || node.opType === "Cast")) ||
      (domain === ML && node.opType === "ZipMap");
    if (!passThrough) {
      unsupported(
        `${describeNode(node, i)} is not served: forestd runs one TreeEnsembleClassifier/Regressor followed only by Identity, Cast or ZipMap`,
      );
    }
  });
  if (ensembleAt < 0) unsupported("the graph has no TreeEnsembleClassifier or TreeEnsembleRegressor node");
  const ensemble = graph.nodes[ensembleAt];
  const where = describeNode(ensemble, ensembleAt);
  if (mlOpset < 1 || mlOpset > 5)
    unsupported(`the model imports ai.onnx.ml opset ${mlOpset}; forestd reads opsets 1 to 5`);
  if (ensemble.inputs.length !== 1 || ensemble.inputs[0] !== input.name)
    unsupported(`${where} does not read the graph input "${input.name}" directly`);

  // Every value the graph computes: where it comes from.
  const isClassifier = ensemble.opType === "TreeEnsembleClassifier";
  const origin = new Map<string, { source: "label" | "scores"; zipmap: boolean }>();
  if (isClassifier) {
    if (ensemble.outputs[0]) origin.set(ensemble.outputs[0], { source: "label", zipmap: false });
    if (ensemble.outputs[1]) origin.set(ensemble.outputs[1], { source: "scores", zipmap: false });
  } else if (ensemble.outputs[0]) origin.set(ensemble.outputs[0], { source: "scores", zipmap: false });

  graph.nodes.forEach((node, i) => {
    if (i === ensembleAt) return;
    const from = origin.get(node.inputs[0] ?? "");
    if (node.inputs.length !== 1 || node.outputs.length !== 1 || from === undefined)
      unsupported(
        `${describeNode(node, i)} does not read a tree-ensemble output (nodes must follow the ensemble, in order)`,
      );
    if (node.opType === "ZipMap") {
      if (from.source !== "scores" || from.zipmap || !isClassifier)
        unsupported(`${describeNode(node, i)}: ZipMap of anything but a classifier's probabilities`);
      origin.set(node.outputs[0], { source: "scores", zipmap: true });
      return;
    }
    if (node.opType === "Cast") {
      if (from.zipmap) unsupported(`${describeNode(node, i)}: Cast of a ZipMap's output`);
      const to = node.attributes.get("to")?.i;
      const has: number[] = from.source === "label" ? [DataType.INT64, DataType.STRING] : [DataType.FLOAT];
      if (to === undefined || !has.includes(to)) {
        unsupported(
          `${describeNode(node, i)} casts to ${DATA_TYPE_NAMES[to ?? 0] ?? to}; forestd serves casts that keep the type (float scores, int64 or string labels)`,
        );
      }
    }
    origin.set(node.outputs[0], from);
  });

  const outputs = graph.outputs.map((o) => {
    const from = origin.get(o.name);
    if (from === undefined) invalid(`graph output "${o.name.slice(0, 80)}" is not computed by any node`);
    return { name: o.name, ...from };
  });
  if (!outputs.some((o) => o.source === "scores"))
    unsupported("no graph output carries the ensemble's scores (probabilities or values)");
  return { ensemble, where, inputName: input.name, inputWidth, outputs, mlOpset };
}
