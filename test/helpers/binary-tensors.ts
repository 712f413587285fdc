/**
 * Raw tensors as a client writes them (the binary data extension of OIP REST, gRPC's raw contents),
 * written here independently of workers/http/binary-data.ts, and the fixture models of every format
 * that the parity tests send them to.
 */
import { loadModel } from "../../model/index.js";
import { fixtures } from "./fixtures.js";
import { lightgbmFixtures } from "./lightgbm-fixtures.js";
import { onnxFixtures } from "./onnx-fixtures.js";
import { sklearnFixtures } from "./sklearn-fixtures.js";

/** A fixture model with the rows its library scored. */
export interface ParityModel {
  /** The name it is served under: format and fixture. */
  name: string;
  path: string;
  rows: (number | null)[][];
}

/**
 * Fixture models of every format (XGBoost JSON and UBJ, ONNX, LightGBM, scikit-learn), each with its
 * fixture rows (at most `maxRows`). `every` takes each `every`-th fixture of a format, so a test can
 * cover all formats with fewer models. Only models forestd serves (loadModel takes them).
 */
export function parityModels(every = 1, maxRows = 64): ParityModel[] {
  const pick = <T>(list: T[]) => list.filter((_, i) => i % every === 0);
  const cap = (rows: (number | null)[][]) => rows.slice(0, maxRows);
  const models: ParityModel[] = [];
  for (const f of pick(fixtures()))
    for (const file of f.files)
      models.push({
        name: `xgb-${f.name}-${file.endsWith(".ubj") ? "ubj" : "json"}`,
        path: file,
        rows: cap(f.expected.rows),
      });
  for (const f of pick(onnxFixtures()))
    models.push({ name: `onnx-${f.name}`, path: f.path, rows: cap(f.expected.rows) });
  for (const f of pick(lightgbmFixtures().filter((f) => !f.expected.rows_by_name && !f.path.endsWith(".gz"))))
    models.push({ name: `lgbm-${f.name}`, path: f.path, rows: cap(f.expected.rows) });
  for (const f of pick(sklearnFixtures()))
    models.push({ name: `skl-${f.name}`, path: f.path, rows: cap(f.expected.rows) });
  // Fixtures of what forestd refuses to serve (LightGBM's linear trees, say) are not for parity.
  return models.filter((m) => {
    try {
      loadModel(m.path);
      return true;
    } catch {
      return false;
    }
  });
}

/** Rows (null = missing) as little-endian FP32 or FP64 bytes, NaN for missing. */
export function floatBytes(rows: (number | null)[][], datatype: "FP32" | "FP64"): Buffer {
  const flat = rows.flat().map((v) => (v === null ? Number.NaN : v));
  const size = datatype === "FP32" ? 4 : 8;
  const out = Buffer.alloc(flat.length * size);
  flat.forEach((v, i) => {
    if (datatype === "FP32") out.writeFloatLE(v, i * size);
    else out.writeDoubleLE(v, i * size);
  });
  return out;
}

/** A binary-data request body: the JSON header, then each input's bytes; and its header length. */
export function binaryRequest(
  header: { inputs: { name: string; shape: number[]; datatype: string; bytes?: Buffer }[] } & Record<
    string,
    unknown
  >,
): { body: Buffer; headerLength: number } {
  const parts: Buffer[] = [];
  const json = {
    ...header,
    inputs: header.inputs.map(({ bytes, ...input }) => {
      if (!bytes) return input;
      parts.push(bytes);
      const parameters = {
        ...((input as { parameters?: object }).parameters ?? {}),
        binary_data_size: bytes.length,
      };
      return { ...input, parameters };
    }),
  };
  const head = Buffer.from(JSON.stringify(json));
  return { body: Buffer.concat([head, ...parts]), headerLength: head.length };
}

export interface DecodedOutput {
  name: string;
  datatype: string;
  shape: number[];
  /** Values as numbers (bigints for INT64), strings for BYTES. */
  data: (number | string | bigint)[];
}

/** One tensor's little-endian bytes as values. */
export function decodeTensor(datatype: string, bytes: Buffer): (number | string | bigint)[] {
  const out: (number | string | bigint)[] = [];
  switch (datatype) {
    case "FP32":
      for (let i = 0; i < bytes.length; i += 4) out.push(bytes.readFloatLE(i));
      break;
    case "FP64":
      for (let i = 0; i < bytes.length; i += 8) out.push(bytes.readDoubleLE(i));
      break;
    case "INT32":
      for (let i = 0; i < bytes.length; i += 4) out.push(bytes.readInt32LE(i));
      break;
    case "INT64":
      for (let i = 0; i < bytes.length; i += 8) out.push(bytes.readBigInt64LE(i));
      break;
    case "BYTES":
      for (let i = 0; i < bytes.length; ) {
        const n = bytes.readUInt32LE(i);
        out.push(bytes.subarray(i + 4, i + 4 + n).toString("utf8"));
        i += 4 + n;
      }
      break;
    default:
      throw new Error(`decodeTensor: ${datatype}`);
  }
  return out;
}

/** A binary-data answer: the JSON header's outputs with their values read from the bytes after it. */
export function decodeBinaryAnswer(
  body: Buffer,
  headerLength: number,
): { header: Record<string, unknown>; outputs: DecodedOutput[] } {
  const header = JSON.parse(body.subarray(0, headerLength).toString("utf8")) as {
    outputs: (DecodedOutput & { parameters?: { binary_data_size?: number } })[];
  };
  let at = headerLength;
  const outputs = header.outputs.map((o) => {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) return o;
    const data = decodeTensor(o.datatype, body.subarray(at, at + size));
    at += size;
    return { name: o.name, datatype: o.datatype, shape: o.shape, data };
  });
  if (at !== body.length) throw new Error(`decodeBinaryAnswer: ${body.length - at} bytes left over`);
  return { header, outputs };
}

/** Values as comparable bit strings: floats by their float64 bits (NaN, -0 kept apart), others as text. */
export function bits(values: readonly (number | string | bigint | null)[]): string[] {
  const view = new DataView(new ArrayBuffer(8));
  return values.map((v) => {
    if (typeof v !== "number") return `${typeof v}:${String(v)}`;
    view.setFloat64(0, v);
    return `n:${view.getBigUint64(0).toString(16)}`;
  });
}
