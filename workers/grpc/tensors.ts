/**
 * ModelInfer's messages (open_inference_grpc.proto, as @grpc/proto-loader gives them: fields as
 * the .proto spells them, 64-bit integers as decimal strings, bytes as Buffers) ↔ the tensors the
 * REST path reads and answers (workers/http/binary-data.ts, routes/oip.ts's inferOutputs).
 *
 * Inputs come either as `raw_input_contents` (one little-endian buffer per input, exactly the
 * binary REST extension's bytes) or as typed `contents` (fp32_contents, int64_contents, ...). Float
 * contents become raw bytes of their type, so a lone [N, F] FP32 tensor takes the same no-JS-array
 * path as a raw one; the others become the values a JSON tensor would hold. Outputs are answered
 * raw (raw_output_contents) when the request sent raw inputs or asked for binary outputs
 * (`binary_data_output` / an output's `binary_data`, as on REST), else as typed contents.
 */

import {
  elementCount,
  isDatatype,
  type RawInput,
  type TensorData,
  tensorBytes,
} from "../http/binary-data.js";
import { InvalidInputError } from "../http/errors.js";
import type { InferRequest } from "../http/request-rows.js";
import type { OutputTensor } from "../http/routes/oip.js";

/** InferParameter, with the oneof's name of the member set. */
export interface InferParameter {
  parameter_choice?: "bool_param" | "int64_param" | "string_param" | "double_param" | "uint64_param";
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  double_param?: number;
  uint64_param?: string;
}

export interface TensorContents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: string[];
  uint_contents: number[];
  uint64_contents: string[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Buffer[];
}

export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: {
    name: string;
    datatype: string;
    shape: string[];
    parameters: Record<string, InferParameter>;
    contents: TensorContents | null;
  }[];
  outputs: { name: string; parameters: Record<string, InferParameter> }[];
  raw_input_contents: Buffer[];
}

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: { name: string; datatype: string; shape: string[]; contents?: Partial<TensorContents> }[];
  raw_output_contents: Buffer[];
}

/** A parameter map's values as JSON would carry them (64-bit integers as numbers when exact, else BigInt). */
export function plainParameters(map: Record<string, InferParameter> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, p] of Object.entries(map ?? {})) {
    const choice = p.parameter_choice;
    if (choice === undefined) continue;
    const v = p[choice];
    if (choice === "int64_param" || choice === "uint64_param") {
      const big = BigInt(v as string);
      out[key] = Number.isSafeInteger(Number(big)) ? Number(big) : big;
    } else out[key] = v;
  }
  return out;
}

/** A shape's int64 strings as numbers; a dimension past 2^53 or negative is refused by elementCount. */
function shapeOf(shape: readonly string[], where: string): number[] {
  const dims = shape.map((d) => Number(d));
  elementCount(dims, where);
  return dims;
}

/** Which typed field carries each datatype (FP16 has none: it is sent raw). */
const CONTENTS_FIELD: Readonly<Record<string, keyof TensorContents>> = {
  BOOL: "bool_contents",
  INT8: "int_contents",
  INT16: "int_contents",
  INT32: "int_contents",
  INT64: "int64_contents",
  UINT8: "uint_contents",
  UINT16: "uint_contents",
  UINT32: "uint_contents",
  UINT64: "uint64_contents",
  FP32: "fp32_contents",
  FP64: "fp64_contents",
  BYTES: "bytes_contents",
};

/** The request's inputs: raw where sent raw (or as float contents), else as a JSON tensor's values. */
export function requestInputs(request: ModelInferRequest): (RawInput | InferRequest["inputs"][number])[] {
  const raw = request.raw_input_contents ?? [];
  if (raw.length > 0 && raw.length !== request.inputs.length)
    throw new InvalidInputError(
      `raw_input_contents has ${raw.length} buffers for ${request.inputs.length} inputs: send one per input, or none`,
    );
  if (request.inputs.length === 0) throw new InvalidInputError("the request has no inputs");
  return request.inputs.map((input, k) => {
    const where = `inputs[${k}] "${String(input.name).slice(0, 80)}"`;
    if (!isDatatype(input.datatype))
      throw new InvalidInputError(
        `${where} has datatype "${String(input.datatype).slice(0, 40)}", which is not an Open Inference Protocol datatype`,
      );
    const shape = shapeOf(input.shape, where);
    const contents = input.contents;
    const field = CONTENTS_FIELD[input.datatype];
    const sent = contents
      ? (Object.keys(CONTENTS_FIELD) as string[]).filter(
          (d) => (contents[CONTENTS_FIELD[d]] as unknown[]).length > 0,
        )
      : [];
    if (raw.length > 0) {
      if (sent.length > 0)
        throw new InvalidInputError(
          `${where} has contents as well as raw_input_contents: send one or the other`,
        );
      return { name: input.name, datatype: input.datatype, shape, bytes: raw[k] };
    }
    if (field === undefined)
      throw new InvalidInputError(
        `${where}: ${input.datatype} has no typed contents; send it in raw_input_contents`,
      );
    const values = (contents?.[field] ?? []) as unknown[];
    const count = elementCount(shape, where);
    if (values.length !== count)
      throw new InvalidInputError(
        `${where} has ${values.length} values in ${field}; shape [${shape.join(", ")}] needs ${count}`,
      );
    if (sent.some((d) => CONTENTS_FIELD[d] !== field))
      throw new InvalidInputError(`${where} (${input.datatype}) has values in a field other than ${field}`);
    switch (input.datatype) {
      case "FP32": {
        const a = Float32Array.from(values as number[]);
        return { name: input.name, datatype: "FP32", shape, bytes: new Uint8Array(a.buffer) };
      }
      case "FP64": {
        const a = Float64Array.from(values as number[]);
        return { name: input.name, datatype: "FP64", shape, bytes: new Uint8Array(a.buffer) };
      }
      case "INT64":
      case "UINT64":
        return {
          name: input.name,
          datatype: input.datatype,
          shape,
          data: (values as string[]).map((v) => BigInt(v)),
        };
      case "BYTES":
        return {
          name: input.name,
          datatype: "BYTES",
          shape,
          data: (values as Buffer[]).map((b) => Buffer.from(b).toString("utf8")),
        };
      default:
        // NaN is "missing" everywhere: the JSON reader's null.
        return { name: input.name, datatype: input.datatype, shape, data: values };
    }
  });
}

/** Whether the answer is raw: raw inputs, or binary outputs asked for. */
export function answersRaw(request: ModelInferRequest, params: Record<string, unknown>): boolean {
  if ((request.raw_input_contents ?? []).length > 0) return true;
  if (params.binary_data_output === true) return true;
  return request.outputs.some((o) => plainParameters(o.parameters).binary_data === true);
}

/** Output tensors as typed contents of their datatype. */
function contentsOf(datatype: string, data: TensorData): Partial<TensorContents> {
  const list = Array.from(data as ArrayLike<number | string | bigint>);
  switch (datatype) {
    case "FP32":
      return { fp32_contents: list as number[] };
    case "FP64":
      return { fp64_contents: list as number[] };
    case "INT32":
      return { int_contents: list as number[] };
    case "INT64":
      return { int64_contents: list.map((v) => String(v)) };
    case "BYTES":
      return { bytes_contents: list.map((v) => Buffer.from(String(v), "utf8")) };
    default:
      throw new Error(`no typed contents for output datatype ${datatype}`);
  }
}

export function inferResponse(
  model: { name: string; version: string },
  id: string,
  outputs: OutputTensor[],
  raw: boolean,
): ModelInferResponse {
  return {
    model_name: model.name,
    model_version: model.version,
    id,
    outputs: outputs.map((o) => ({
      name: o.name,
      datatype: o.datatype,
      shape: o.shape.map(String),
      ...(raw ? {} : { contents: contentsOf(o.datatype, o.data) }),
    })),
    raw_output_contents: raw ? outputs.map((o) => tensorBytes(o.datatype, o.data)) : [],
  };
}
