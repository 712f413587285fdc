/**
 * forestd's errors (workers/http/errors.ts, each with its HTTP status) as gRPC statuses, so a gRPC
 * client branches as an HTTP one does: the FORESTD_ERR_* code rides in the trailers beside the
 * status, and what HTTP answers 503 with Retry-After is RESOURCE_EXHAUSTED (overload) or
 * UNAVAILABLE (not ready) with `grpc-retry-pushback-ms`, gRPC's own retry hint.
 */
import { Metadata, status } from "@grpc/grpc-js";
import { RowError } from "../../model/index.js";
import { httpErrorSpec } from "../http/errors.js";

export interface GrpcError {
  code: status;
  details: string;
  metadata: Metadata;
  /** The HTTP status the same error gets, for the request metrics and the access log. */
  httpStatus: number;
  /** forestd_rejected_total's reason, when the error is a rejection. */
  rejected?: string;
}

/** The retry hint: as HTTP's Retry-After: 1. */
export const RETRY_PUSHBACK_MS = "1000";

/** The gRPC status for an HTTP status of ours. */
export function grpcStatusOf(httpStatus: number, code: string): status {
  switch (httpStatus) {
    case 400:
      return status.INVALID_ARGUMENT;
    case 404:
      return status.NOT_FOUND;
    case 408:
    case 504:
      return status.DEADLINE_EXCEEDED;
    case 413:
      return status.RESOURCE_EXHAUSTED;
    case 415:
      return status.INVALID_ARGUMENT;
    case 503:
      return code === "FORESTD_ERR_OVERLOADED" ? status.RESOURCE_EXHAUSTED : status.UNAVAILABLE;
    default:
      return status.INTERNAL;
  }
}

/** Any error a call ends with, as its gRPC status, details and trailers. */
export function toGrpcError(error: unknown, requestId: string): GrpcError {
  const e = error as Error & { code?: string };
  const metadata = new Metadata();
  metadata.set("x-request-id", requestId);
  const spec =
    error instanceof RowError ? httpErrorSpec("FORESTD_ERR_INVALID_INPUT") : httpErrorSpec(e?.code);
  if (!spec) {
    metadata.set("forestd-code", "FORESTD_ERR_INTERNAL");
    return { code: status.INTERNAL, details: "internal error", metadata, httpStatus: 500 };
  }
  metadata.set("forestd-code", spec.code);
  if (spec.status === 503) metadata.set("grpc-retry-pushback-ms", RETRY_PUSHBACK_MS);
  return {
    code: grpcStatusOf(spec.status, spec.code),
    details: e.message,
    metadata,
    httpStatus: spec.status,
    rejected: spec.rejected,
  };
}
