/**
 * Splits an ONNX graph into what forestd runs: the nodes before the tree ensemble (preprocessing,
 * compiled by preprocess.ts), the one ensemble, and the nodes after it (what converters put
 * around an ensemble's outputs). Anything else is refused by name and position: forestd would
 * rather not load a model than answer for a node it does not run.
 *
 * - Before: every node the ensemble's input is computed from, found by walking back from it; a
 *   tensor nothing provides (a dangling input) or a cycle is refused naming the node.
 * - After: Identity, Cast to the type a tensor already has, Mul by a constant 1 (onnxmltools'
 *   zipmap=False), ZipMap (which only repackages probabilities as one map per row), and on the
 *   scores Normalizer and Softmax, which the head applies as onnxruntime does.
 * - A node no graph output needs, and an output computed before the ensemble, are refused: a graph
 *   whose parts do not connect is not a model forestd can answer for.
 */
import { invalidModel as invalid, unsupportedModel as unsupported } from "../../errors.js";
import { DATA_TYPE_NAMES, DataType, type OnnxModel, type OnnxNode, type OnnxTensor } from "./onnx-proto.js";

const ML = "ai.onnx.ml";
const ENSEMBLES = ["TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"];

/** A graph input a client feeds. */
export interface GraphInput {
  readonly name: string;
  /** TensorProto element type (DataType). */
  readonly elemType: number;
  /** Values per row: the second dimension (1 for a 1-D input), or -1 when the shape does not say. */
  readonly width: number;
}

/** What the head does to the ensemble's scores after onnxruntime's own post_transform. */
export type PostOp =
  | { readonly op: "normalize"; readonly norm: "L1" | "L2" | "MAX"; readonly node: string }
  | { readonly op: "softmax"; readonly node: string };

export interface GraphOutput {
  readonly name: string;
  /** What it carries: the ensemble's label, or its scores (probabilities / values). */
  readonly source: "label" | "scores";
  /** True when a ZipMap turned the scores into one {label: probability} map per row. */
  readonly zipmap: boolean;
}

/** A node of the graph and its position, for messages. */
export interface PlacedNode {
  readonly node: OnnxNode;
  readonly index: number;
  /** `graph.node[3] "Scaler" (ai.onnx.ml.Scaler)`. */
  readonly where: string;
}

export interface CheckedGraph {
  readonly ensemble: OnnxNode;
  /** Where the ensemble stands, for messages: `graph.node[2] ("TreeEnsembleClassifier")`. */
  readonly where: string;
  /** The tensor the ensemble reads. */
  readonly ensembleInput: string;
  /** The graph inputs a client feeds, in graph order. */
  readonly inputs: readonly GraphInput[];
  /** The nodes computing the ensemble's input, in an order where each comes after what it reads. */
  readonly before: readonly PlacedNode[];
  /** What happens to the scores after the ensemble, in order. */
  readonly post: readonly PostOp[];
  readonly outputs: readonly GraphOutput[];
  readonly mlOpset: number;
  /** The default domain's opset (0 when not imported). */
  readonly opset: number;
  /** An initializer's contents, or undefined when `name` is not an initializer. */
  constant(name: string): OnnxTensor | undefined;
}

export function describeNode(node: OnnxNode, i: number): string {
  const name = node.name ? ` "${node.name.slice(0, 80)}"` : "";
  return `graph.node[${i}]${name} (${node.domain || "ai.onnx"}.${node.opType.slice(0, 80)})`;
}

/** A tensor name for messages. */
export function quote(name: string): string {
  return `"${name.slice(0, 80)}"`;
}

function domainOf(node: OnnxNode): string {
  return node.domain === "ai.onnx" ? "" : node.domain;
}

export function checkGraph(model: OnnxModel): CheckedGraph {
  const { graph } = model;
  const mlOpset = model.opsets.get(ML) ?? 0;
  const opset = model.opsets.get("") ?? 0;
  const initializers = new Set(graph.initializers);
  const constant = (name: string): OnnxTensor | undefined => graph.constants.get(name)?.();

  const inputs: GraphInput[] = [];
  for (const input of graph.inputs) {
    if (initializers.has(input.name)) continue;
    if (input.kind !== "tensor")
      unsupported(`graph input ${quote(input.name)} is a ${input.kind}, not a tensor`);
    const shape = input.shape;
    if (shape !== null && (shape.length < 1 || shape.length > 2))
      unsupported(
        `graph input ${quote(input.name)} has ${shape.length} dimensions; forestd reads [N, columns]`,
      );
    const width = shape === null ? -1 : shape.length === 1 ? 1 : shape[1] > 0 ? shape[1] : -1;
    inputs.push({ name: input.name, elemType: input.elemType, width });
  }
  const inputNames = new Set(inputs.map((i) => i.name));

  // Which node computes each tensor (a name computed twice is not a graph).
  const producer = new Map<string, number>();
  graph.nodes.forEach((node, i) => {
    for (const out of node.outputs) {
      if (out === "") continue;
      const earlier = producer.get(out);
      if (earlier !== undefined)
        invalid(
          `${describeNode(node, i)} computes ${quote(out)}, which ${describeNode(graph.nodes[earlier], earlier)} computes too`,
        );
      if (inputNames.has(out) || initializers.has(out))
        invalid(
          `${describeNode(node, i)} computes ${quote(out)}, which is also a graph input or initializer`,
        );
      producer.set(out, i);
    }
  });

  let ensembleAt = -1;
  graph.nodes.forEach((node, i) => {
    if (domainOf(node) === ML && ENSEMBLES.includes(node.opType)) {
      if (ensembleAt >= 0)
        unsupported(`${describeNode(node, i)} is a second tree ensemble; forestd serves graphs with one`);
      ensembleAt = i;
    }
  });
  if (ensembleAt < 0)
    unsupported("the graph has no TreeEnsembleClassifier, TreeEnsembleRegressor or TreeEnsemble node");
  if (mlOpset < 1 || mlOpset > 5)
    unsupported(`the model imports ai.onnx.ml opset ${mlOpset}; forestd reads opsets 1 to 5`);
  const ensemble = graph.nodes[ensembleAt];
  const where = describeNode(ensemble, ensembleAt);
  if (ensemble.inputs.length !== 1) invalid(`${where} has ${ensemble.inputs.length} inputs; it takes one`);
  const ensembleInput = ensemble.inputs[0];

  /**
   * The nodes `tensor` is computed from, each after what it reads (depth first, post-order);
   * `stop` ends the walk at the ensemble's outputs. Refuses cycles and tensors nothing provides.
   */
  const state = new Uint8Array(graph.nodes.length); // 0 unseen, 1 on the path, 2 done
  const walk = (tensor: string, order: number[], stop: ReadonlySet<string>, reader: string): void => {
    /** The node computing `name` (undefined: a graph input, an initializer, or where the walk stops). */
    const producerOf = (name: string, by: string): number | undefined => {
      if (name === "" || stop.has(name) || inputNames.has(name) || initializers.has(name)) return undefined;
      const at = producer.get(name);
      if (at === undefined)
        invalid(`${by} reads ${quote(name)}, which no node, graph input or initializer provides`);
      return at;
    };
    // Iteratively, each node after its inputs' nodes (a hostile graph can chain nodes deeper than
    // the stack).
    const first = producerOf(tensor, reader);
    if (first === undefined || state[first] === 2) return;
    const stack: { at: number; next: number }[] = [{ at: first, next: 0 }];
    state[first] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const node = graph.nodes[top.at];
      if (top.next === node.inputs.length) {
        state[top.at] = 2;
        order.push(top.at);
        stack.pop();
        continue;
      }
      const at = producerOf(node.inputs[top.next++], describeNode(node, top.at));
      if (at === undefined || state[at] === 2) continue;
      if (state[at] === 1)
        invalid(`${describeNode(graph.nodes[at], at)} is part of a cycle: it reads what it computes`);
      state[at] = 1;
      stack.push({ at, next: 0 });
    }
  };

  const beforeOrder: number[] = [];
  walk(ensembleInput, beforeOrder, new Set(), where);
  const before = beforeOrder.map((i) => ({
    node: graph.nodes[i],
    index: i,
    where: describeNode(graph.nodes[i], i),
  }));
  const beforeSet = new Set(beforeOrder);

  // After the ensemble: the nodes between its outputs and the graph's.
  const ensembleOutputs = new Set(ensemble.outputs.filter((o) => o !== ""));
  const afterOrder: number[] = [];
  state.fill(0);
  for (const i of beforeOrder) state[i] = 2;
  state[ensembleAt] = 2;
  for (const o of graph.outputs) {
    if (inputNames.has(o.name) || initializers.has(o.name))
      unsupported(`graph output ${quote(o.name)} is a graph input or initializer, not computed by the model`);
    walk(o.name, afterOrder, ensembleOutputs, `graph output ${quote(o.name)}`);
  }
  const used = new Set([...beforeOrder, ensembleAt, ...afterOrder]);
  graph.nodes.forEach((node, i) => {
    if (!used.has(i))
      invalid(
        `${describeNode(node, i)} computes ${node.outputs.map(quote).join(", ")}, which no graph output uses`,
      );
  });

  // Every tensor after the ensemble: what it carries.
  const isClassifier = ensemble.opType === "TreeEnsembleClassifier";
  interface Origin {
    source: "label" | "scores";
    zipmap: boolean;
    post: PostOp[];
  }
  const origin = new Map<string, Origin>();
  if (isClassifier) {
    if (ensemble.outputs[0]) origin.set(ensemble.outputs[0], { source: "label", zipmap: false, post: [] });
    if (ensemble.outputs[1]) origin.set(ensemble.outputs[1], { source: "scores", zipmap: false, post: [] });
  } else if (ensemble.outputs[0])
    origin.set(ensemble.outputs[0], { source: "scores", zipmap: false, post: [] });

  for (const i of afterOrder) {
    const node = graph.nodes[i];
    const here = describeNode(node, i);
    if (beforeSet.has(i)) continue;
    const domain = domainOf(node);
    const op = node.opType;
    // What it reads from the ensemble (Mul's constant may come first).
    const from = origin.get(node.inputs.find((x) => origin.has(x)) ?? "");
    if (from === undefined)
      unsupported(
        `${here} computes ${node.outputs.map(quote).join(", ")} for a graph output without the ensemble; forestd answers with what the ensemble computes`,
      );
    if (node.outputs.length !== 1)
      unsupported(`${here} has ${node.outputs.length} outputs after the ensemble`);
    let next: Origin = from;
    if (domain === ML && op === "ZipMap") {
      if (from.source !== "scores" || from.zipmap || !isClassifier)
        unsupported(`${here}: ZipMap of anything but a classifier's probabilities`);
      next = { ...from, zipmap: true };
    } else if (from.zipmap) {
      unsupported(
        `${here} reads a ZipMap's output (a sequence of maps); forestd answers ZipMap's maps as they are`,
      );
    } else if (domain === "" && op === "Identity" && node.inputs.length === 1) {
      next = from;
    } else if (domain === "" && op === "Cast" && node.inputs.length === 1) {
      const to = node.attributes.get("to")?.i;
      const keeps: number[] = from.source === "label" ? [DataType.INT64, DataType.STRING] : [DataType.FLOAT];
      if (to === undefined || !keeps.includes(to))
        unsupported(
          `${here} casts to ${DATA_TYPE_NAMES[to ?? 0] ?? to}; after the ensemble forestd serves casts that keep the type (float scores, int64 or string labels)`,
        );
    } else if (domain === "" && op === "Mul" && node.inputs.length === 2) {
      // onnxmltools multiplies probabilities by a constant 1 when ZipMap is off: an identity.
      const c = constant(origin.has(node.inputs[0]) ? node.inputs[1] : node.inputs[0]);
      const one =
        c !== undefined &&
        c.dataType === DataType.FLOAT &&
        c.values.length > 0 &&
        c.values.every((v) => v === 1);
      if (from.source !== "scores" || !one)
        unsupported(
          `${here}: after the ensemble forestd serves Mul only by a constant 1 (onnxmltools' zipmap=False)`,
        );
    } else if (domain === ML && op === "Normalizer" && node.inputs.length === 1) {
      if (from.source !== "scores") unsupported(`${here} normalizes labels`);
      const norm = node.attributes.get("norm")?.s ?? "MAX";
      if (norm !== "L1" && norm !== "L2" && norm !== "MAX")
        invalid(`${here}: norm "${norm.slice(0, 40)}" is not L1, L2 or MAX`);
      next = { ...from, post: [...from.post, { op: "normalize", norm, node: here }] };
    } else if (domain === "" && op === "Softmax" && node.inputs.length === 1) {
      if (from.source !== "scores") unsupported(`${here} applies softmax to labels`);
      const axis = node.attributes.get("axis")?.i ?? (opset >= 13 ? -1 : 1);
      if (axis !== 1 && axis !== -1)
        unsupported(
          `${here}: softmax over axis ${axis}; forestd serves softmax over each row (axis 1 or -1)`,
        );
      next = { ...from, post: [...from.post, { op: "softmax", node: here }] };
    } else {
      unsupported(
        `${here} is not served after the ensemble: forestd runs Identity, Cast, Mul by 1, Normalizer, Softmax and ZipMap there`,
      );
    }
    origin.set(node.outputs[0], next);
  }

  const outputs: GraphOutput[] = [];
  let post: PostOp[] | null = null;
  for (const o of graph.outputs) {
    const from = origin.get(o.name);
    if (from === undefined)
      unsupported(
        `graph output ${quote(o.name)} is computed before the ensemble; forestd answers with what the ensemble computes`,
      );
    if (from.source === "scores") {
      const ops = JSON.stringify(from.post.map((p) => (p.op === "normalize" ? `normalize ${p.norm}` : p.op)));
      if (
        post !== null &&
        JSON.stringify(post.map((p) => (p.op === "normalize" ? `normalize ${p.norm}` : p.op))) !== ops
      )
        unsupported(
          `graph output ${quote(o.name)} carries the scores transformed differently from another output; forestd answers with one set of scores`,
        );
      post = from.post;
    }
    outputs.push({ name: o.name, source: from.source, zipmap: from.zipmap });
  }
  if (!outputs.some((o) => o.source === "scores"))
    unsupported("no graph output carries the ensemble's scores (probabilities or values)");
  return {
    ensemble,
    where,
    ensembleInput,
    inputs,
    before,
    post: post ?? [],
    outputs,
    mlOpset,
    opset,
    constant,
  };
}
