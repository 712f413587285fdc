/**
 * A tiny ONNX protobuf writer for tests: builds tree-ensemble models from plain objects, so tests
 * can craft the semantics converters rarely emit (GTE/GT modes, AVERAGE, PROBIT...) and hostile
 * files (mismatched lengths, cycles, unknown ops) without Python.
 */
export type AttributeValue =
  | number
  | string
  | number[]
  | string[]
  | { floats: number[] }
  | { tensor: Float32Array | Float64Array | Uint8Array };

export interface NodeSpec {
  opType: string;
  domain?: string;
  name?: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeValue>;
}

export interface TensorSpec {
  name: string;
  /** TensorProto data type: 1 float, 7 int64, 11 double. */
  dataType: number;
  dims: number[];
  values: number[];
}

export interface ModelSpec {
  nodes: NodeSpec[];
  input?: { name: string; elemType?: number; width: number };
  /** Several graph inputs (instead of `input`). */
  inputs?: { name: string; elemType?: number; width: number }[];
  /** Initializers (constants nodes read). */
  initializers?: TensorSpec[];
  /** Graph outputs: name and, for tensors, element type (maps for ZipMap outputs). */
  outputs: { name: string; elemType?: number; map?: boolean }[];
  mlOpset?: number;
}

const utf8 = new TextEncoder();

class Writer {
  private buffer = new Uint8Array(64);
  private length = 0;
  /** The bytes written so far (a view, valid until the next write). */
  get bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
  private room(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + n));
    grown.set(this.bytes);
    this.buffer = grown;
  }
  byte(b: number): this {
    this.room(1);
    this.buffer[this.length++] = b;
    return this;
  }
  raw(payload: Uint8Array): this {
    this.room(payload.length);
    this.buffer.set(payload, this.length);
    this.length += payload.length;
    return this;
  }
  varint(v: number): this {
    if (v >= 0 && v < 2 ** 31) {
      let u = v;
      while (u >= 0x80) {
        this.byte((u & 0x7f) | 0x80);
        u >>>= 7;
      }
      return this.byte(u);
    }
    let n = BigInt.asUintN(64, BigInt(v));
    while (n >= 0x80n) {
      this.byte(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    return this.byte(Number(n));
  }
  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }
  bytesField(field: number, payload: Uint8Array): this {
    return this.tag(field, 2).varint(payload.length).raw(payload);
  }
  string(field: number, s: string): this {
    return this.bytesField(field, utf8.encode(s));
  }
  message(field: number, w: Writer): this {
    return this.bytesField(field, w.bytes);
  }
  packedInts(field: number, values: number[]): this {
    const w = new Writer();
    for (const v of values) w.varint(v);
    return this.bytesField(field, w.bytes);
  }
  packedFloats(field: number, values: number[]): this {
    return this.bytesField(field, new Uint8Array(Float32Array.from(values).buffer));
  }
  done(): Uint8Array {
    return this.bytes.slice();
  }
}

function attribute(name: string, value: AttributeValue): Writer {
  const w = new Writer().string(1, name);
  if (typeof value === "number")
    return Number.isInteger(value) ? w.int(20, 2).int(3, value) : floatAttr(w, value);
  if (typeof value === "string") return w.int(20, 3).string(4, value);
  if (Array.isArray(value)) {
    if (value.length > 0 && typeof value[0] === "string") {
      w.int(20, 8);
      for (const s of value as string[]) w.string(9, s);
      return w;
    }
    return w.int(20, 7).packedInts(8, value as number[]);
  }
  if ("floats" in value) return w.int(20, 6).packedFloats(7, value.floats);
  const t = new Writer().int(1, value.tensor.length);
  if (value.tensor instanceof Float32Array) t.int(2, 1).bytesField(9, new Uint8Array(value.tensor.buffer));
  else if (value.tensor instanceof Float64Array)
    t.int(2, 11).bytesField(9, new Uint8Array(value.tensor.buffer));
  else t.int(2, 2).bytesField(9, value.tensor);
  return w.int(20, 4).message(5, t);
}

function floatAttr(w: Writer, v: number): Writer {
  w.int(20, 1).tag(2, 5);
  return w.raw(new Uint8Array(Float32Array.of(v).buffer));
}

function valueInfo(name: string, elemType: number, dims: (number | null)[] | null, map = false): Writer {
  const type = new Writer();
  if (map) {
    const m = new Writer().int(1, 7).message(2, new Writer().message(1, new Writer().int(1, 1)));
    type.message(4, new Writer().message(1, new Writer().message(5, m)));
  } else {
    const tensor = new Writer().int(1, elemType);
    if (dims) {
      const shape = new Writer();
      for (const d of dims)
        shape.message(1, d === null ? new Writer().string(2, "N") : new Writer().int(1, d));
      tensor.message(2, shape);
    }
    type.message(1, tensor);
  }
  return new Writer().string(1, name).message(2, type);
}

function tensorProto(t: TensorSpec): Writer {
  const w = new Writer().packedInts(1, t.dims).int(2, t.dataType).string(8, t.name);
  const raw =
    t.dataType === 1
      ? new Uint8Array(Float32Array.from(t.values).buffer)
      : t.dataType === 11
        ? new Uint8Array(Float64Array.from(t.values).buffer)
        : new Uint8Array(BigInt64Array.from(t.values, (v) => BigInt(v)).buffer);
  return w.bytesField(9, raw);
}

export function encodeModel(spec: ModelSpec): Uint8Array {
  const graph = new Writer();
  spec.nodes.forEach((n, i) => {
    const node = new Writer();
    for (const x of n.inputs) node.string(1, x);
    for (const x of n.outputs) node.string(2, x);
    node.string(3, n.name ?? `node${i}`).string(4, n.opType);
    if (n.domain) node.string(7, n.domain);
    for (const [k, v] of Object.entries(n.attributes ?? {})) node.message(5, attribute(k, v));
    graph.message(1, node);
  });
  graph.string(2, "test");
  for (const init of spec.initializers ?? []) graph.message(5, tensorProto(init));
  for (const input of spec.inputs ?? [spec.input ?? { name: "input", width: 2 }])
    graph.message(11, valueInfo(input.name, input.elemType ?? 1, [null, input.width]));
  for (const o of spec.outputs) graph.message(12, valueInfo(o.name, o.elemType ?? 1, null, o.map));
  return new Writer()
    .int(1, 8)
    .string(2, "forestd-test")
    .message(7, graph)
    .message(8, new Writer().string(1, "").int(2, 13))
    .message(8, new Writer().string(1, "ai.onnx.ml").int(2, spec.mlOpset ?? 3))
    .done();
}

/** A regressor with one tree: x0 `mode` t → leaf `a` (true) else leaf `b`. */
export function stumpRegressor(
  overrides: Record<string, AttributeValue> = {},
  extraNodes: NodeSpec[] = [],
): Uint8Array {
  return encodeModel({
    nodes: [
      {
        opType: "TreeEnsembleRegressor",
        domain: "ai.onnx.ml",
        inputs: ["input"],
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
          nodes_missing_value_tracks_true: [0, 0, 0],
          target_treeids: [0, 0],
          target_nodeids: [1, 2],
          target_ids: [0, 0],
          target_weights: { floats: [1, 2] },
          ...overrides,
        },
      },
      ...extraNodes,
    ],
    outputs: [{ name: extraNodes.length > 0 ? extraNodes[extraNodes.length - 1].outputs[0] : "variable" }],
  });
}
