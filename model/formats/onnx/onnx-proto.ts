/**
 * The few ONNX messages forestd needs (onnx/onnx.proto3), decoded from protobuf into plain objects.
 * Field numbers are ONNX's; fields forestd does not use are skipped. Tensors are kept only as far
 * as tree attributes need them (float, double, int64 and uint8 data, inline or raw).
 */
import { ModelError } from "../../errors.js";
import { type Field, Reader, WIRE_BYTES, WIRE_VARINT } from "./protobuf.js";

/** TensorProto.DataType values forestd meets. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  DOUBLE: 11,
} as const;

export const DATA_TYPE_NAMES: Record<number, string> = {
  0: "undefined",
  1: "float",
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
  6: "int32",
  7: "int64",
  8: "string",
  9: "bool",
  10: "float16",
  11: "double",
  12: "uint32",
  13: "uint64",
  16: "bfloat16",
};

export interface OnnxTensor {
  readonly dataType: number;
  readonly dims: readonly number[];
  /** Numeric contents, widened to float64 (exact for float32, double and int64 up to 2^53). */
  readonly values: readonly number[];
  /** A string tensor's contents (UTF-8); empty for numeric tensors. */
  readonly strings: readonly string[];
}

export interface OnnxAttribute {
  readonly name: string;
  readonly type: number;
  readonly f?: number;
  readonly i?: number;
  readonly s?: string;
  readonly t?: OnnxTensor;
  readonly floats: readonly number[];
  readonly ints: readonly number[];
  readonly strings: readonly string[];
}

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  readonly name: string;
  /** "tensor", "map", "sequence" or "unknown". */
  readonly kind: string;
  /** For tensors: the element type (DataType); 0 when absent. */
  readonly elemType: number;
  /** For tensors: each dimension's value, or -1 when symbolic or absent; null when no shape. */
  readonly shape: readonly number[] | null;
}

export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly initializers: readonly string[];
  /**
   * Each initializer's contents, decoded when asked for (a graph may carry initializers no node
   * forestd runs reads, in types it does not decode).
   */
  readonly constants: ReadonlyMap<string, () => OnnxTensor>;
}

export interface OnnxModel {
  readonly irVersion: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly domain: string;
  readonly modelVersion: number;
  readonly opsets: ReadonlyMap<string, number>;
  readonly graph: OnnxGraph;
}

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

function syntax(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", `ONNX protobuf: ${message}`);
}

function each(r: Reader, visit: (f: Field) => void): void {
  while (!r.done()) visit(r.field());
}

function int(r: Reader, f: Field, name: string): number {
  r.expect(f, WIRE_VARINT, name);
  return f.varint;
}

export function decodeTensor(r: Reader): OnnxTensor {
  let dataType = 0;
  const dims: number[] = [];
  const values: number[] = [];
  const strings: string[] = [];
  let raw: Field | null = null;
  let external = false;
  each(r, (f) => {
    switch (f.number) {
      case 1:
        r.varints(f, dims);
        break;
      case 6:
        strings.push(r.string(f, "string_data"));
        break;
      case 2:
        dataType = int(r, f, "data_type");
        break;
      case 4:
        r.floats(f, values);
        break;
      case 5:
      case 7:
        r.varints(f, values);
        break;
      case 9:
        r.expect(f, WIRE_BYTES, "raw_data");
        raw = f;
        break;
      case 10:
        r.doubles(f, values);
        break;
      case 13:
        external = true;
        break;
    }
  });
  if (external) syntax(`${r.where} keeps its data in an external file, which forestd does not read`);
  if (raw !== null) for (const v of rawValues(r, raw, dataType)) values.push(v);
  let count = 1;
  for (const d of dims) {
    if (d < 0) syntax(`${r.where} has a negative dimension ${d}`);
    count *= d;
  }
  const found = dataType === DataType.STRING ? strings.length : values.length;
  if (count !== found && !(dims.length === 0 && found === 1))
    syntax(`${r.where} has dims [${dims.join(", ")}] but ${found} values`);
  return { dataType, dims, values, strings };
}

function rawValues(r: Reader, f: Field, dataType: number): number[] {
  const view = r.view(f);
  const size =
    dataType === DataType.DOUBLE || dataType === DataType.INT64
      ? 8
      : dataType === DataType.FLOAT || dataType === DataType.INT32
        ? 4
        : dataType === DataType.UINT8
          ? 1
          : 0;
  if (size === 0) syntax(`${r.where}: raw_data of type ${DATA_TYPE_NAMES[dataType] ?? dataType} is not read`);
  if (view.byteLength % size !== 0)
    syntax(`${r.where}: raw_data has ${view.byteLength} bytes, not a multiple of ${size}`);
  const out = new Array<number>(view.byteLength / size);
  for (let i = 0; i < out.length; i++) {
    const at = i * size;
    if (dataType === DataType.DOUBLE) out[i] = view.getFloat64(at, true);
    else if (dataType === DataType.FLOAT) out[i] = view.getFloat32(at, true);
    else if (dataType === DataType.INT32) out[i] = view.getInt32(at, true);
    else if (dataType === DataType.UINT8) out[i] = view.getUint8(at);
    else {
      const v = view.getBigInt64(at, true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
        syntax(`${r.where}: int64 ${v} is beyond what forestd reads exactly`);
      out[i] = Number(v);
    }
  }
  return out;
}

function decodeAttribute(r: Reader): OnnxAttribute {
  let name = "";
  let type = 0;
  let fValue: number | undefined;
  let iValue: number | undefined;
  let sValue: string | undefined;
  let tValue: OnnxTensor | undefined;
  const floats: number[] = [];
  const ints: number[] = [];
  const strings: string[] = [];
  each(r, (f) => {
    switch (f.number) {
      case 1:
        name = r.string(f, "name");
        break;
      case 20:
        type = int(r, f, "type");
        break;
      case 2:
        fValue = r.float32(f, "f");
        break;
      case 3:
        iValue = int(r, f, "i");
        break;
      case 4:
        sValue = r.string(f, "s");
        break;
      case 5:
        r.expect(f, WIRE_BYTES, "t");
        tValue = decodeTensor(r.sub(f, `${r.where}.t`));
        break;
      case 7:
        r.floats(f, floats);
        break;
      case 8:
        r.varints(f, ints);
        break;
      case 9:
        strings.push(r.string(f, "strings"));
        break;
    }
  });
  return { name, type, f: fValue, i: iValue, s: sValue, t: tValue, floats, ints, strings };
}

function decodeNode(r: Reader): OnnxNode {
  let name = "";
  let opType = "";
  let domain = "";
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributes = new Map<string, OnnxAttribute>();
  let a = 0;
  each(r, (f) => {
    switch (f.number) {
      case 1:
        inputs.push(r.string(f, "input"));
        break;
      case 2:
        outputs.push(r.string(f, "output"));
        break;
      case 3:
        name = r.string(f, "name");
        break;
      case 4:
        opType = r.string(f, "op_type");
        break;
      case 7:
        domain = r.string(f, "domain");
        break;
      case 5: {
        r.expect(f, WIRE_BYTES, "attribute");
        const attribute = decodeAttribute(r.sub(f, `${r.where}.attribute[${a++}]`));
        if (attributes.has(attribute.name))
          syntax(`${r.where} has attribute "${attribute.name.slice(0, 80)}" twice`);
        attributes.set(attribute.name, attribute);
        break;
      }
    }
  });
  return { name, opType, domain, inputs, outputs, attributes };
}

function decodeValueInfo(r: Reader): OnnxValueInfo {
  let name = "";
  let kind = "unknown";
  let elemType = 0;
  let shape: number[] | null = null;
  each(r, (f) => {
    if (f.number === 1) name = r.string(f, "name");
    else if (f.number === 2) {
      r.expect(f, WIRE_BYTES, "type");
      const type = r.sub(f, `${r.where}.type`);
      each(type, (tf) => {
        if (tf.number === 4) kind = "sequence";
        else if (tf.number === 5) kind = "map";
        else if (tf.number === 1) {
          kind = "tensor";
          type.expect(tf, WIRE_BYTES, "tensor_type");
          const tensor = type.sub(tf, `${r.where}.type.tensor_type`);
          each(tensor, (xf) => {
            if (xf.number === 1) elemType = int(tensor, xf, "elem_type");
            else if (xf.number === 2) {
              tensor.expect(xf, WIRE_BYTES, "shape");
              shape = [];
              const s = tensor.sub(xf, `${r.where}.shape`);
              each(s, (df) => {
                if (df.number !== 1) return;
                s.expect(df, WIRE_BYTES, "dim");
                const dim = s.sub(df, `${r.where}.shape.dim`);
                let value = -1;
                each(dim, (vf) => {
                  if (vf.number === 1) value = int(dim, vf, "dim_value");
                });
                shape?.push(value);
              });
            }
          });
        }
      });
    }
  });
  return { name, kind, elemType, shape };
}

function decodeGraph(r: Reader): OnnxGraph {
  let name = "";
  const nodes: OnnxNode[] = [];
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  const initializers: string[] = [];
  const constants = new Map<string, () => OnnxTensor>();
  each(r, (f) => {
    switch (f.number) {
      case 1:
        r.expect(f, WIRE_BYTES, "node");
        nodes.push(decodeNode(r.sub(f, `graph.node[${nodes.length}]`)));
        break;
      case 2:
        name = r.string(f, "name");
        break;
      case 5: {
        r.expect(f, WIRE_BYTES, "initializer");
        const where = `graph.initializer[${initializers.length}]`;
        const t = r.sub(f, where);
        let tensorName = "";
        each(t, (tf) => {
          if (tf.number === 8) tensorName = t.string(tf, "name");
        });
        initializers.push(tensorName);
        if (!constants.has(tensorName)) {
          let decoded: OnnxTensor | null = null;
          constants.set(tensorName, () => {
            decoded ??= decodeTensor(r.sub(f, `${where} ("${tensorName.slice(0, 80)}")`));
            return decoded;
          });
        }
        break;
      }
      case 11:
        r.expect(f, WIRE_BYTES, "input");
        inputs.push(decodeValueInfo(r.sub(f, `graph.input[${inputs.length}]`)));
        break;
      case 12:
        r.expect(f, WIRE_BYTES, "output");
        outputs.push(decodeValueInfo(r.sub(f, `graph.output[${outputs.length}]`)));
        break;
    }
  });
  return { name, nodes, inputs, outputs, initializers, constants };
}

export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  const r = new Reader(bytes, 0, bytes.length, "ModelProto");
  let irVersion = 0;
  let producerName = "";
  let producerVersion = "";
  let domain = "";
  let modelVersion = 0;
  const opsets = new Map<string, number>();
  let graph: OnnxGraph | null = null;
  each(r, (f) => {
    switch (f.number) {
      case 1:
        irVersion = int(r, f, "ir_version");
        break;
      case 2:
        producerName = r.string(f, "producer_name");
        break;
      case 3:
        producerVersion = r.string(f, "producer_version");
        break;
      case 4:
        domain = r.string(f, "domain");
        break;
      case 5:
        modelVersion = int(r, f, "model_version");
        break;
      case 7:
        r.expect(f, WIRE_BYTES, "graph");
        graph = decodeGraph(r.sub(f, "graph"));
        break;
      case 8: {
        r.expect(f, WIRE_BYTES, "opset_import");
        const o = r.sub(f, "opset_import");
        let d = "";
        let version = 0;
        each(o, (of) => {
          if (of.number === 1) d = o.string(of, "domain");
          else if (of.number === 2) version = int(o, of, "version");
        });
        opsets.set(d === "ai.onnx" ? "" : d, version);
        break;
      }
    }
  });
  const found = graph as OnnxGraph | null;
  if (found === null) return syntax("the model has no graph (is this an ONNX file?)");
  return { irVersion, producerName, producerVersion, domain, modelVersion, opsets, graph: found };
}
