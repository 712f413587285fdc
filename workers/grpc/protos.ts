/**
 * The gRPC services forestd serves, from their published .proto files (vendored unchanged under
 * third_party/: the Open Inference Protocol's `open_inference_grpc.proto`, gRPC's own
 * `grpc/health/v1/health.proto`), loaded by @grpc/proto-loader at start-up rather than compiled
 * to code: what is served is what the protocol's file says.
 */
import { join } from "node:path";
import type {
  GrpcObject,
  MethodDefinition,
  ServiceClientConstructor,
  ServiceDefinition,
} from "@grpc/grpc-js";
import { loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync, type Options } from "@grpc/proto-loader";
import { packageRoot } from "../../model/default-model.js";
import { RelayedAnswer } from "./forwarding.js";

export const OIP_PROTO = join(
  packageRoot(),
  "third_party",
  "open-inference-protocol",
  "open_inference_grpc.proto",
);
export const HEALTH_PROTO = join(packageRoot(), "third_party", "grpc-health", "health.proto");

/** The OIP service's full name, as clients and grpc.health.v1 name it. */
export const OIP_SERVICE = "inference.GRPCInferenceService";
export const HEALTH_SERVICE = "grpc.health.v1.Health";

/**
 * Field names as the .proto spells them (raw_input_contents, not rawInputContents); 64-bit
 * integers as decimal strings (read into BigInt, so none is rounded); absent fields as their
 * defaults (empty lists), and which member of a oneof is set (InferParameter's parameter_choice).
 * `bytes` stay Buffers that view the received message.
 */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

function service(proto: string, path: string[]): ServiceClientConstructor {
  let at: GrpcObject | ServiceClientConstructor = loadPackageDefinition(loadSync(proto, LOADER_OPTIONS));
  for (const part of path) at = (at as GrpcObject)[part] as GrpcObject | ServiceClientConstructor;
  return at as ServiceClientConstructor;
}

/** Where a decoded ModelInferRequest keeps the bytes it was decoded from (to forward them unchanged). */
export const RAW_MESSAGE = Symbol("forestd.rawMessage");

/**
 * The OIP service as the server adds it: ModelInfer's request keeps its own bytes (RAW_MESSAGE),
 * and an answer relayed from another worker (a Buffer inside RelayedAnswer) is sent as it came.
 */
export function oipServerDefinition(): ServiceDefinition {
  const service: Record<string, MethodDefinition<object, object>> = { ...oipService().service };
  const infer = service.ModelInfer;
  service.ModelInfer = {
    ...infer,
    requestDeserialize: (bytes: Buffer) => {
      const request = infer.requestDeserialize(bytes);
      Object.defineProperty(request, RAW_MESSAGE, { value: bytes });
      return request;
    },
    responseSerialize: (answer: object) =>
      answer instanceof RelayedAnswer ? answer.bytes : infer.responseSerialize(answer),
  };
  return service;
}

/** The OIP service's constructor (its `.service` is what a server adds; tests make clients with it). */
export function oipService(): ServiceClientConstructor {
  return service(OIP_PROTO, ["inference", "GRPCInferenceService"]);
}

export function healthService(): ServiceClientConstructor {
  return service(HEALTH_PROTO, ["grpc", "health", "v1", "Health"]);
}
