/** The Open Inference Protocol's tensor datatypes, for the request schema and the tensor reader. */

/** The protocol's tensor datatypes (inference_rest.md, "Tensor Data Types"). */
export const DATATYPES = [
  "BOOL",
  "UINT8",
  "UINT16",
  "UINT32",
  "UINT64",
  "INT8",
  "INT16",
  "INT32",
  "INT64",
  "FP16",
  "FP32",
  "FP64",
  "BYTES",
] as const;
export type Datatype = (typeof DATATYPES)[number];
