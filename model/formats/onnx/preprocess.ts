/**
 * The nodes before an ensemble (skl2onnx's Pipelines and ColumnTransformers) → the Forest's
 * `inputs` (one column per graph-input column; a string input's column has the vocabulary its
 * encoders name, a string becoming its index there and an unknown one NaN) and `preprocess` steps
 * whose arithmetic is onnxruntime's, operation for operation (ml/scaler.cc, imputer.cc,
 * normalizer.cc, binarizer.cc, onehotencoder.cc, label_encoder.cc, feature_vectorizer.cc,
 * array_feature_extractor.cc; Cast, Concat, Gather, Reshape, Identity, Add/Sub/Mul/Div).
 *
 * A row is one vector: the graph inputs' columns side by side, then columns the nodes compute.
 * Each tensor of the graph is a list of positions in that vector. A node writes its result in
 * place when nothing else still reads its input's columns, else on copies appended at the end
 * (a `select` step), and a final `select` leaves the ensemble's input. float32 arithmetic is done
 * as float64 arithmetic rounded to float32 after every operation (exact for + − × ÷: float64
 * carries more than twice float32's digits), so a step never rounds the columns it does not own.
 */
import {
  invalidModel as invalid,
  modelTooLarge as tooLarge,
  unsupportedModel as unsupported,
} from "../../errors.js";
import { LIMITS } from "../../forest/check.js";
import type { ColumnSpan, InputColumn, PreprocessStep } from "../../forest/forest.js";
import { type CheckedGraph, type GraphInput, type PlacedNode, quote } from "./graph.js";
import { DATA_TYPE_NAMES, DataType, type OnnxNode, type OnnxTensor } from "./onnx-proto.js";

/** Most string categories one input column may have (all its encoders together). */
export const MAX_VOCABULARY = 1 << 20;

type ElementType = "float" | "double" | "int64" | "string";

interface Tensor {
  /** Positions in the row vector, in the tensor's row-major order. */
  readonly cols: readonly number[];
  readonly type: ElementType;
  /** Dimensions after the batch dimension (product = cols.length). */
  readonly dims: readonly number[];
  /** Every value is an integer (int64 inputs, encoders' codes and indicators). */
  readonly integral: boolean;
}

export interface Preprocessed {
  /** The Forest's inputs, or null when the ensemble reads the one graph input as it is. */
  readonly inputs: InputColumn[] | null;
  readonly steps: PreprocessStep[];
  /** The element type the ensemble reads. */
  readonly ensembleType: "float" | "double";
  /** Columns of the ensemble's input, or -1 when its shape does not say (a graph input without one). */
  readonly width: number;
  /** For /model and inspect: the graph inputs and the preprocessing nodes, in the order run. */
  readonly details: {
    readonly inputs: { name: string; type: string; width: number }[];
    readonly nodes: string[];
  };
}

function elementType(elemType: number): ElementType | null {
  switch (elemType) {
    case DataType.FLOAT:
      return "float";
    case DataType.DOUBLE:
      return "double";
    case DataType.INT64:
    case DataType.INT32:
      return "int64";
    case DataType.STRING:
      return "string";
    default:
      return null;
  }
}

function typeName(elemType: number): string {
  return DATA_TYPE_NAMES[elemType] ?? String(elemType);
}

const SERVED =
  "Scaler, Imputer, Normalizer, Binarizer, OneHotEncoder, LabelEncoder, FeatureVectorizer, ArrayFeatureExtractor (ai.onnx.ml); Cast, Concat, Gather, Reshape, Flatten, Identity, Add/Sub/Mul/Div by a constant";

export function compilePreprocess(graph: CheckedGraph): Preprocessed {
  const used = new Set<string>();
  for (const { node } of graph.before) for (const x of node.inputs) used.add(x);
  used.add(graph.ensembleInput);
  const inputs = graph.inputs.filter((i) => used.has(i.name) || graph.inputs.length === 1);
  for (const input of graph.inputs)
    if (!used.has(input.name) && graph.inputs.length > 1)
      unsupported(`graph input ${quote(input.name)} is not read by any node forestd runs`);
  const details = {
    inputs: graph.inputs.map((i) => ({ name: i.name, type: typeName(i.elemType), width: i.width })),
    nodes: graph.before.map(({ node }) => `${node.opType}${node.name ? ` "${node.name.slice(0, 80)}"` : ""}`),
  };

  // The ensemble reads the one graph input as it is: no preprocessing, no inputs list.
  if (graph.before.length === 0 && inputs.length === 1 && inputs[0].name === graph.ensembleInput) {
    const type = elementType(inputs[0].elemType);
    if (type !== "float" && type !== "double")
      unsupported(
        `graph input ${quote(inputs[0].name)} is a ${typeName(inputs[0].elemType)} tensor; a tree ensemble reads float or double tensors`,
      );
    return { inputs: null, steps: [], ensembleType: type, width: inputs[0].width, details };
  }
  return new Compiler(graph, inputs).run(details);
}

class Compiler {
  readonly steps: PreprocessStep[] = [];
  readonly columns: InputColumn[] = [];
  /** Per input column (by its index in `columns`) with strings: its categories, in index order, and their indices. */
  readonly vocabularies = new Map<number, { list: string[]; index: Map<string, number> }>();
  readonly tensors = new Map<string, Tensor>();
  /** Per tensor: reads still to come (nodes after the current one, and the ensemble). */
  readonly pending = new Map<string, number>();
  /** For string columns, by position in the row: the input column whose vocabulary their values index. */
  readonly origin = new Map<number, number>();
  width = 0;

  constructor(
    readonly graph: CheckedGraph,
    readonly inputs: readonly GraphInput[],
  ) {}

  run(details: Preprocessed["details"]): Preprocessed {
    const { graph } = this;
    const single = this.inputs.length === 1;
    const casts: ColumnSpan[] = [];
    for (const input of this.inputs) {
      const type = elementType(input.elemType);
      if (type === null)
        unsupported(
          `graph input ${quote(input.name)} is a ${typeName(input.elemType)} tensor; forestd reads float, double, int64, int32 and string inputs`,
        );
      if (input.width < 1)
        unsupported(`graph input ${quote(input.name)} does not say how many columns it has (shape [N, ?])`);
      if (this.width + input.width > LIMITS.maxFeatures)
        tooLarge(`the graph's inputs have more than ${LIMITS.maxFeatures} columns`);
      const cols: number[] = [];
      for (let j = 0; j < input.width; j++) {
        const at = this.width++;
        cols.push(at);
        const name = single ? null : input.width === 1 ? input.name : `${input.name}[${j}]`;
        this.columns.push({ name, kind: type === "string" ? "categorical" : "numeric", vocabulary: null });
        if (type === "string") {
          this.origin.set(at, at);
          this.vocabularies.set(at, { list: [], index: new Map() });
        }
      }
      // A float input's values are float32: round them as onnxruntime-node's Float32Array would.
      if (type === "float") casts.push({ from: cols[0], count: cols.length });
      this.tensors.set(input.name, { cols, type, dims: [input.width], integral: type === "int64" });
    }
    for (const span of mergeSpans(casts)) this.steps.push({ kind: "cast", precision: "f32", span });

    for (const { node } of graph.before)
      for (const x of node.inputs) this.pending.set(x, (this.pending.get(x) ?? 0) + 1);
    this.pending.set(graph.ensembleInput, (this.pending.get(graph.ensembleInput) ?? 0) + 1);

    for (const placed of graph.before) {
      for (const x of placed.node.inputs) this.pending.set(x, (this.pending.get(x) ?? 1) - 1);
      this.node(placed);
    }

    const features = this.tensor(graph.ensembleInput, graph.where);
    if (features.type !== "float" && features.type !== "double")
      unsupported(
        `${graph.where} reads a ${features.type} tensor; a tree ensemble reads float or double tensors`,
      );
    this.steps.push({ kind: "select", columns: Int32Array.from(features.cols) });
    if (this.steps.length > LIMITS.maxPreprocessSteps)
      tooLarge(
        `the graph's preprocessing needs ${this.steps.length} steps; the limit is ${LIMITS.maxPreprocessSteps}`,
      );
    for (const [column, vocabulary] of this.vocabularies) {
      const c = this.columns[column];
      this.columns[column] = { ...c, vocabulary: vocabulary.list };
    }
    return {
      inputs: this.columns,
      steps: this.steps,
      ensembleType: features.type,
      width: features.cols.length,
      details,
    };
  }

  tensor(name: string, reader: string): Tensor {
    const t = this.tensors.get(name);
    if (t === undefined) {
      if (this.graph.constant(name) !== undefined)
        unsupported(
          `${reader} reads the initializer ${quote(name)} as data; forestd reads rows from graph inputs`,
        );
      invalid(`${reader} reads ${quote(name)}, which nothing before it computes`);
    }
    return t;
  }

  /** The columns of `t`, as positions this node may overwrite: copies when anything still reads them. */
  owned(t: Tensor): number[] {
    const shared = new Set<number>();
    for (const [name, count] of this.pending) {
      if (count <= 0) continue;
      const other = this.tensors.get(name);
      if (other) for (const c of other.cols) shared.add(c);
    }
    const cols = t.cols;
    const distinct = new Set(cols).size === cols.length;
    if (distinct && !cols.some((c) => shared.has(c))) return [...cols];
    return this.copy(cols);
  }

  /** Columns `cols` appended at the end of the row (a select keeping every column). */
  copy(cols: readonly number[]): number[] {
    if (this.width + cols.length > LIMITS.maxFeatures)
      tooLarge(`the graph's preprocessing makes more than ${LIMITS.maxFeatures} columns`);
    const keep = Int32Array.from({ length: this.width + cols.length }, (_, i) =>
      i < this.width ? i : cols[i - this.width],
    );
    const out = cols.map((_, i) => this.width + i);
    for (let i = 0; i < cols.length; i++) {
      const from = this.origin.get(cols[i]);
      if (from !== undefined) this.origin.set(this.width + i, from);
    }
    this.steps.push({ kind: "select", columns: keep });
    this.width += cols.length;
    return out;
  }

  /** `owned` columns made contiguous (copies unless they already are). */
  contiguous(t: Tensor): ColumnSpan & { cols: number[] } {
    let cols = this.owned(t);
    if (!cols.every((c, i) => i === 0 || c === cols[i - 1] + 1)) cols = this.copy(cols);
    return { from: cols[0], count: cols.length, cols };
  }

  /** An elementwise step on `cols` (identity operands elsewhere), in float64, then float32 rounding for float tensors. */
  elementwise(
    cols: readonly number[],
    ops: { op: "add" | "sub" | "mul" | "div"; values: number[] }[],
    float: boolean,
  ): void {
    const identity = { add: -0, sub: 0, mul: 1, div: 1 };
    for (const { op, values } of ops) {
      const operand = new Float64Array(this.width).fill(identity[op]);
      cols.forEach((c, i) => {
        operand[c] = values[i];
      });
      this.steps.push({ kind: "elementwise", precision: "f64", ops: [{ op, operand }] });
      if (float) this.castF32(cols);
    }
  }

  castF32(cols: readonly number[]): void {
    for (const span of mergeSpans(cols.map((c) => ({ from: c, count: 1 }))))
      this.steps.push({ kind: "cast", precision: "f32", span });
  }

  node({ node, where }: PlacedNode): void {
    if (node.outputs.length < 1 || node.outputs[0] === "") invalid(`${where} has no output`);
    const out = this.compute(node, where);
    if (out.cols.length > LIMITS.maxFeatures) tooLarge(`${where} makes ${out.cols.length} columns`);
    this.tensors.set(node.outputs[0], out);
  }

  /** What `node` computes, as a tensor of row positions (steps appended as needed). */
  compute(node: OnnxNode, where: string): Tensor {
    const domain = node.domain === "ai.onnx" ? "" : node.domain;
    const op = domain === "ai.onnx.ml" ? `ml.${node.opType}` : domain === "" ? node.opType : null;
    const a = new Attrs(node, where);
    const arg = (i: number) => {
      if (i >= node.inputs.length || node.inputs[i] === "") invalid(`${where} lacks input ${i}`);
      return this.tensor(node.inputs[i], where);
    };
    switch (op) {
      case "Identity":
        return arg(0);
      case "Flatten": {
        const x = arg(0);
        const axis = a.int("axis", 1);
        if (axis !== 1) unsupported(`${where}: Flatten axis ${axis}; forestd keeps rows apart (axis 1)`);
        return { ...x, dims: [x.cols.length] };
      }
      case "Reshape":
        return this.reshape(node, arg(0), where);
      case "Cast":
        return this.cast(arg(0), a.int("to", 0), where);
      case "Concat":
        return this.concat(node, a.int("axis", Number.NaN), where);
      case "Gather":
        return this.gather(node, arg(0), a.int("axis", 0), where);
      case "Add":
      case "Sub":
      case "Mul":
      case "Div":
        return this.arithmetic(node, op, where);
      case "ml.Scaler":
        return this.scaler(arg(0), a, where);
      case "ml.Imputer":
        return this.imputer(arg(0), a, where);
      case "ml.Normalizer":
        return this.normalizer(arg(0), a, where);
      case "ml.Binarizer":
        return this.binarizer(arg(0), a, where);
      case "ml.FeatureVectorizer":
        return this.featureVectorizer(node, a, where);
      case "ml.ArrayFeatureExtractor":
        return this.arrayFeatureExtractor(node, arg(0), where);
      case "ml.OneHotEncoder":
        return this.oneHot(arg(0), a, where);
      case "ml.LabelEncoder":
        return this.labelEncoder(arg(0), a, where);
      default:
        unsupported(`${where} is not served before the ensemble; forestd runs ${SERVED} there`);
    }
  }

  /** A constant input of `node`: its tensor, or a refusal naming it. */
  constantInput(node: OnnxNode, i: number, where: string, what: string): OnnxTensor {
    const name = node.inputs[i] ?? "";
    const c = this.graph.constant(name);
    if (c === undefined) unsupported(`${where}: its ${what} (${quote(name)}) must be an initializer`);
    return c;
  }

  reshape(node: OnnxNode, x: Tensor, where: string): Tensor {
    const shape = this.constantInput(node, 1, where, "shape").values;
    const size = x.cols.length;
    if (shape.length < 1) unsupported(`${where}: a reshape to a scalar`);
    if (shape[0] !== -1 && shape[0] !== 0)
      unsupported(
        `${where} reshapes to a batch of ${shape[0]} rows; forestd keeps one row per row (shape [-1, ...])`,
      );
    const rest = shape.slice(1).map((d) => (d === 0 ? Number.NaN : d));
    if (rest.some((d) => Number.isNaN(d))) unsupported(`${where}: a 0 (copy) dimension after the first`);
    const unknown = rest.filter((d) => d === -1).length;
    const known = rest.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
    if (shape[0] === -1 && unknown > 0) unsupported(`${where}: two -1 dimensions`);
    if (rest.some((d) => d < -1 || !Number.isInteger(d))) invalid(`${where}: shape [${shape.join(", ")}]`);
    let dims = rest;
    if (unknown === 1) {
      if (known === 0 || size % known !== 0)
        invalid(`${where}: ${size} values per row do not fit shape [${shape.join(", ")}]`);
      dims = rest.map((d) => (d === -1 ? size / known : d));
    } else if (unknown > 1) unsupported(`${where}: several -1 dimensions`);
    else if (known !== size)
      invalid(`${where}: ${size} values per row do not fit shape [${shape.join(", ")}] (rows would mix)`);
    return { ...x, dims };
  }

  cast(x: Tensor, to: number, where: string): Tensor {
    const target = elementType(to);
    if (target === null || target === "string" || to === DataType.INT32)
      unsupported(`${where} casts to ${typeName(to)}; forestd casts between float, double and int64`);
    if (x.type === "string") unsupported(`${where} casts strings to ${typeName(to)}`);
    if (target === x.type || (target === "double" && x.type === "float")) return { ...x, type: target };
    if (target === "double") return { ...x, type: "double" }; // int64 → double: exact below 2^53
    if (target === "float") {
      const cols = this.owned(x);
      this.castF32(cols);
      return { cols, type: "float", dims: x.dims, integral: x.integral };
    }
    // → int64: exact only when every value already is an integer.
    if (x.integral) return { ...x, type: "int64" };
    unsupported(
      `${where} casts ${x.type} values to int64 (truncating them); forestd serves casts to int64 of integer columns only`,
    );
  }

  concat(node: OnnxNode, axisAttr: number, where: string): Tensor {
    const parts = node.inputs.map((name) => this.tensor(name, where));
    if (parts.length === 0) invalid(`${where} has no inputs`);
    const rank = parts[0].dims.length + 1;
    if (Number.isNaN(axisAttr)) invalid(`${where} has no axis`);
    const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
    if (axis < 1 || axis >= rank)
      unsupported(`${where}: concatenating along axis ${axisAttr} would mix rows`);
    const type = parts[0].type;
    for (const p of parts) {
      if (p.type !== type) invalid(`${where} concatenates ${type} and ${p.type} tensors`);
      if (p.dims.length + 1 !== rank) invalid(`${where} concatenates tensors of different ranks`);
      // Row-major concatenation along `axis` is the rows' columns side by side only when every
      // dimension between the batch and the axis is 1.
      for (let d = 0; d < axis - 1; d++)
        if (p.dims[d] !== 1)
          unsupported(`${where}: concatenating along axis ${axisAttr} interleaves columns`);
      for (let d = axis; d < rank - 1; d++)
        if (p.dims[d] !== parts[0].dims[d]) invalid(`${where} concatenates tensors whose shapes differ`);
    }
    const cols = parts.flatMap((p) => p.cols);
    const dims = [...parts[0].dims];
    dims[axis - 1] = parts.reduce((s, p) => s + p.dims[axis - 1], 0);
    return { cols, type, dims, integral: parts.every((p) => p.integral) };
  }

  gather(node: OnnxNode, x: Tensor, axisAttr: number, where: string): Tensor {
    const indices = this.constantInput(node, 1, where, "indices");
    const rank = x.dims.length + 1;
    const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
    if (axis !== 1) unsupported(`${where}: Gather along axis ${axisAttr}; forestd gathers columns (axis 1)`);
    const n = x.dims[0];
    const inner = x.cols.length / n;
    const picks = indices.values.map((i) => {
      if (!Number.isInteger(i) || i < -n || i >= n) invalid(`${where}: index ${i} is outside 0..${n - 1}`);
      return i < 0 ? i + n : i;
    });
    const cols: number[] = [];
    for (const i of picks) for (let k = 0; k < inner; k++) cols.push(x.cols[i * inner + k]);
    return { cols, type: x.type, dims: [...indices.dims, ...x.dims.slice(1)], integral: x.integral };
  }

  arithmetic(node: OnnxNode, op: "Add" | "Sub" | "Mul" | "Div", where: string): Tensor {
    if (node.inputs.length !== 2) invalid(`${where} has ${node.inputs.length} inputs`);
    const left = this.graph.constant(node.inputs[0]);
    const right = this.graph.constant(node.inputs[1]);
    if ((left === undefined) === (right === undefined))
      unsupported(`${where}: forestd serves ${op} of a tensor and a constant`);
    const constantFirst = left !== undefined;
    const c = (left ?? right) as OnnxTensor;
    const x = this.tensor(node.inputs[constantFirst ? 1 : 0], where);
    if (x.type !== "float" && x.type !== "double")
      unsupported(`${where}: ${op} of ${x.type} values; forestd serves float and double arithmetic`);
    const cType = c.dataType === DataType.DOUBLE ? "double" : c.dataType === DataType.FLOAT ? "float" : null;
    if (cType !== x.type)
      invalid(`${where}: ${op} of a ${x.type} tensor and a ${typeName(c.dataType)} constant`);
    const values = broadcast(c, x, where);
    const cols = this.owned(x);
    const float = x.type === "float";
    if (op === "Div" && constantFirst)
      unsupported(`${where}: a constant divided by the row (${op} with the constant first)`);
    if (op === "Sub" && constantFirst) {
      // c − x = (x × −1) + c exactly: negation is exact, and subtraction is adding the negation.
      this.elementwise(cols, [{ op: "mul", values: values.map(() => -1) }], false);
      this.elementwise(cols, [{ op: "add", values }], float);
    } else {
      const kind = { Add: "add", Sub: "sub", Mul: "mul", Div: "div" } as const;
      this.elementwise(cols, [{ op: kind[op], values }], float);
    }
    return { cols, type: x.type, dims: x.dims, integral: false };
  }

  scaler(x: Tensor, a: Attrs, where: string): Tensor {
    const width = x.cols.length;
    const offset = a.floats("offset");
    const scale = a.floats("scale");
    const fits = (v: readonly number[]) => v.length === width || v.length === 1;
    if (
      !(offset.length === scale.length && fits(offset)) &&
      !(offset.length === width && scale.length === width)
    )
      invalid(
        `${where}: offset has ${offset.length} values and scale ${scale.length}, but its input ${x.type} tensor has ${width} columns (onnxruntime takes ${width} of each, or 1 of each)`,
      );
    if (x.type === "string") unsupported(`${where} scales strings`);
    let cols = this.owned(x);
    // int64 − float is float arithmetic in C++: the integer becomes a float32 first.
    if (x.type === "int64") this.castF32(cols);
    const spread = (v: readonly number[]) => cols.map((_, i) => Math.fround(v.length === 1 ? v[0] : v[i]));
    const float = x.type !== "double";
    this.elementwise(cols, [{ op: "sub", values: spread(offset) }], float);
    this.elementwise(cols, [{ op: "mul", values: spread(scale) }], float);
    // The output is float: a double's result is rounded once, at the end.
    if (!float) this.castF32(cols);
    cols = [...cols];
    return { cols, type: "float", dims: x.dims, integral: false };
  }

  imputer(x: Tensor, a: Attrs, where: string): Tensor {
    if (x.type !== "float")
      unsupported(`${where} imputes ${x.type} values; forestd serves the float Imputer`);
    const replaced = a.float("replaced_value_float", 0);
    if (!Number.isNaN(replaced))
      unsupported(
        `${where}: replaced_value_float is ${replaced}; forestd serves Imputers that fill NaN (onnxruntime's with a number leaves NaN as it is)`,
      );
    const values = a.floats("imputed_value_floats");
    const width = x.cols.length;
    if (values.length !== width && values.length !== 1)
      invalid(`${where}: imputed_value_floats has ${values.length} values for ${width} columns`);
    const cols = this.owned(x);
    const fill = new Float64Array(this.width).fill(Number.NaN);
    cols.forEach((c, i) => {
      fill[c] = Math.fround(values.length === 1 ? values[0] : values[i]);
    });
    this.steps.push({ kind: "impute", missingValue: Number.NaN, values: fill });
    return { cols, type: "float", dims: x.dims, integral: false };
  }

  normalizer(x: Tensor, a: Attrs, where: string): Tensor {
    if (x.type !== "float" && x.type !== "double")
      unsupported(`${where} normalizes ${x.type} values; forestd serves float and double Normalizers`);
    const norm = a.string("norm", "MAX");
    if (norm !== "L1" && norm !== "L2" && norm !== "MAX") invalid(`${where}: norm "${norm.slice(0, 40)}"`);
    if (x.dims.length !== 1) unsupported(`${where} normalizes a tensor of rank ${x.dims.length + 1}`);
    const { from, count, cols } = this.contiguous(x);
    this.steps.push({
      kind: "normalize",
      norm,
      precision: "f32",
      formula: "onnxruntime",
      span: { from, count },
    });
    return { cols, type: "float", dims: x.dims, integral: false };
  }

  binarizer(x: Tensor, a: Attrs, where: string): Tensor {
    if (x.type !== "float")
      unsupported(`${where} binarizes ${x.type} values; forestd serves the float Binarizer`);
    const threshold = Math.fround(a.float("threshold", 0));
    const { from, count, cols } = this.contiguous(x);
    this.steps.push({ kind: "binarize", threshold, precision: "f32", nan: "error", span: { from, count } });
    return { cols, type: "float", dims: x.dims, integral: true };
  }

  featureVectorizer(node: OnnxNode, a: Attrs, where: string): Tensor {
    const dims = a.ints("inputdimensions");
    if (dims.length !== node.inputs.length)
      invalid(`${where}: inputdimensions has ${dims.length} values for ${node.inputs.length} inputs`);
    const parts = node.inputs.map((name, i) => {
      const p = this.tensor(name, where);
      if (p.type === "string") unsupported(`${where} vectorizes strings`);
      if (p.cols.length !== dims[i])
        unsupported(
          `${where}: input ${i} (${quote(name)}) has ${p.cols.length} columns but inputdimensions[${i}] is ${dims[i]} (onnxruntime would cut or pad it)`,
        );
      return p;
    });
    const cols = parts.flatMap((p) => p.cols);
    const out: Tensor = {
      cols,
      type: "float",
      dims: [cols.length],
      integral: parts.every((p) => p.integral),
    };
    if (parts.some((p) => p.type !== "float")) {
      const owned = this.owned(out);
      this.castF32(owned);
      return { ...out, cols: owned };
    }
    return out;
  }

  arrayFeatureExtractor(node: OnnxNode, x: Tensor, where: string): Tensor {
    const indices = this.constantInput(node, 1, where, "indices").values;
    if (x.dims.length < 1) unsupported(`${where} reads a one-dimensional tensor`);
    if (indices.length === 0) invalid(`${where}: no indices`);
    const last = x.dims[x.dims.length - 1];
    for (const i of indices)
      if (!Number.isInteger(i) || i < 0 || i >= last)
        invalid(`${where}: index ${i} is outside 0..${last - 1}`);
    const outer = x.cols.length / last;
    const cols: number[] = [];
    for (let o = 0; o < outer; o++) for (const i of indices) cols.push(x.cols[o * last + i]);
    return { cols, type: x.type, dims: [...x.dims.slice(0, -1), indices.length], integral: x.integral };
  }

  /** The vocabulary a string column's values index. */
  vocabularyOf(column: number, where: string): { list: string[]; index: Map<string, number> } {
    const owner = this.origin.get(column);
    const vocabulary = owner === undefined ? undefined : this.vocabularies.get(owner);
    if (vocabulary === undefined) invalid(`${where} reads strings that do not come from a graph input`);
    return vocabulary;
  }

  /** The index of `s` in a column's vocabulary, added when new. */
  category(column: number, s: string, where: string, attribute: string): number {
    const vocabulary = this.vocabularyOf(column, where);
    let i = vocabulary.index.get(s);
    if (i === undefined) {
      if (vocabulary.list.length >= MAX_VOCABULARY)
        tooLarge(
          `${where}: ${attribute} brings input column ${this.columns[this.origin.get(column)!].name ?? this.origin.get(column)} past ${MAX_VOCABULARY} string categories`,
        );
      i = vocabulary.list.length;
      vocabulary.list.push(s);
      vocabulary.index.set(s, i);
    }
    return i;
  }

  oneHot(x: Tensor, a: Attrs, where: string): Tensor {
    const strings = a.strings("cats_strings");
    const ints = a.ints("cats_int64s");
    if (strings.length > 0 && ints.length > 0) invalid(`${where} has both cats_strings and cats_int64s`);
    const zeros = a.int("zeros", 1);
    if (x.type === "string" ? strings.length === 0 : x.type !== "int64" || ints.length === 0)
      unsupported(
        `${where} encodes ${x.type} values with ${strings.length > 0 ? "cats_strings" : "cats_int64s"}; forestd serves strings with cats_strings and int64 with cats_int64s`,
      );
    const cats: readonly (string | number)[] = x.type === "string" ? strings : ints;
    const attribute = x.type === "string" ? "cats_strings" : "cats_int64s";
    if (cats.length > MAX_VOCABULARY)
      tooLarge(`${where}: ${attribute} has ${cats.length} categories; the limit is ${MAX_VOCABULARY}`);
    if (new Set(cats).size !== cats.length) invalid(`${where}: ${attribute} names a category twice`);
    const k = cats.length;
    if (this.width + x.cols.length * (k - 1) > LIMITS.maxFeatures)
      tooLarge(`${where} makes more than ${LIMITS.maxFeatures} columns`);
    const owned = this.owned(x);
    // Each column becomes k indicators at its place; the columns after it move right (ours too).
    let pending = [...owned];
    let out: number[] = [];
    for (let i = 0; i < pending.length; i++) {
      const column = pending[i];
      const categories = Float64Array.from(cats, (s) =>
        typeof s === "string" ? this.category(column, s, where, attribute) : s,
      );
      this.steps.push({ kind: "oneHot", column, categories, unknown: zeros === 0 ? "error" : "zeros" });
      const move = this.insertColumns(column, k);
      pending = pending.map(move);
      out = out.map(move);
      for (let j = 0; j < k; j++) out.push(column + j);
    }
    return { cols: out, type: "float", dims: [...x.dims, k], integral: true };
  }

  /**
   * Bookkeeping after column `at` became `k` columns: every later position moves by k − 1.
   * Returns the move, for positions the caller holds.
   */
  insertColumns(at: number, k: number): (c: number) => number {
    const move = (c: number) => (c > at ? c + k - 1 : c);
    for (const [name, t] of this.tensors) this.tensors.set(name, { ...t, cols: t.cols.map(move) });
    const origin = [...this.origin].map(([c, o]) => [move(c), o] as const);
    this.origin.clear();
    for (const [c, o] of origin) this.origin.set(c, o);
    this.width += k - 1;
    return move;
  }

  labelEncoder(x: Tensor, a: Attrs, where: string): Tensor {
    if (x.type !== "string")
      unsupported(`${where} encodes ${x.type} values; forestd serves LabelEncoders on string inputs`);
    // v2 (ai.onnx.ml 2-3): keys_strings → values_int64s / values_floats; v1: classes_strings → index.
    let keys = a.strings("keys_strings");
    let ints: readonly number[] = a.ints("values_int64s");
    const floats: readonly number[] = a.floats("values_floats");
    const classes = a.strings("classes_strings");
    if (keys.length === 0 && classes.length > 0) {
      keys = classes;
      ints = classes.map((_, i) => i);
    }
    if (keys.length === 0)
      unsupported(
        `${where}: forestd serves LabelEncoders with keys_strings (or classes_strings); this one has none`,
      );
    if (keys.length > MAX_VOCABULARY)
      tooLarge(`${where}: keys_strings has ${keys.length} keys; the limit is ${MAX_VOCABULARY}`);
    if (a.strings("values_strings").length > 0) unsupported(`${where} maps strings to strings`);
    const toInt = ints.length > 0;
    if (toInt === floats.length > 0) invalid(`${where} needs values_int64s or values_floats (one of them)`);
    const values = toInt ? ints : floats.map(Math.fround);
    if (values.length !== keys.length)
      invalid(
        `${where}: ${keys.length} keys but ${values.length} ${toInt ? "values_int64s" : "values_floats"}`,
      );
    if (new Set(keys).size !== keys.length) invalid(`${where}: keys_strings names a key twice`);
    const fallback = toInt ? a.int("default_int64", -1) : Math.fround(a.float("default_float", -0));
    const cols = this.owned(x);
    for (const c of cols) {
      const indices = keys.map((k) => this.category(c, k, where, "keys_strings"));
      const table = new Float64Array(this.vocabularyOf(c, where).list.length).fill(fallback);
      indices.forEach((i, k) => {
        table[i] = values[k];
      });
      this.steps.push({ kind: "lookup", column: c, table, fallback });
      this.origin.delete(c);
    }
    return { cols, type: toInt ? "int64" : "float", dims: x.dims, integral: toInt };
  }
}

/** A constant's values, one per column of `x`, broadcast as NumPy does against [N, ...x.dims]. */
function broadcast(c: OnnxTensor, x: Tensor, where: string): number[] {
  const rank = x.dims.length + 1;
  const fail = (): never =>
    invalid(
      `${where}: a constant of shape [${c.dims.join(", ")}] does not broadcast to rows of shape [${x.dims.join(", ")}]`,
    );
  if (c.dims.length > rank) fail();
  const dims = [...Array(rank - c.dims.length).fill(1), ...c.dims];
  if (dims[0] !== 1) fail();
  for (let d = 1; d < rank; d++) if (dims[d] !== 1 && dims[d] !== x.dims[d - 1]) fail();
  // Row-major strides of the constant, 0 where it repeats.
  const strides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let d = rank - 1; d >= 1; d--) {
    strides[d] = dims[d] === 1 ? 0 : stride;
    stride *= dims[d];
  }
  return x.cols.map((_, flat) => {
    let at = 0;
    let rest = flat;
    for (let d = rank - 1; d >= 1; d--) {
      at += (rest % x.dims[d - 1]) * strides[d];
      rest = Math.floor(rest / x.dims[d - 1]);
    }
    return c.values[at];
  });
}

/** Adjacent spans joined (sorted by start). */
function mergeSpans(spans: readonly ColumnSpan[]): ColumnSpan[] {
  const sorted = [...spans].sort((p, q) => p.from - q.from);
  const out: { from: number; count: number }[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && last.from + last.count === s.from) last.count += s.count;
    else out.push({ from: s.from, count: s.count });
  }
  return out;
}

/** A node's attributes, read with errors that name the node and the attribute. */
class Attrs {
  constructor(
    readonly node: OnnxNode,
    readonly where: string,
  ) {}

  #get(name: string) {
    return this.node.attributes.get(name);
  }

  int(name: string, dflt: number): number {
    const v = this.#get(name)?.i;
    return v === undefined ? dflt : v;
  }

  float(name: string, dflt: number): number {
    const v = this.#get(name)?.f;
    return v === undefined ? dflt : v;
  }

  string(name: string, dflt: string): string {
    return this.#get(name)?.s ?? dflt;
  }

  ints(name: string): readonly number[] {
    return this.#get(name)?.ints ?? [];
  }

  floats(name: string): readonly number[] {
    return this.#get(name)?.floats ?? [];
  }

  strings(name: string): readonly string[] {
    return this.#get(name)?.strings ?? [];
  }
}
