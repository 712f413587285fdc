/** Messages between the primary (arbiter) and its workers over the cluster IPC channel. */
import type { TlsPem } from "../config/tls.js";
import type { ModelSet, WorkerModelsState } from "./models.js";

/** Worker → primary. */
export type WorkerMessage =
  | { type: "forestd:listen-request" }
  | { type: "forestd:ready"; sha256: string }
  /**
   * `connections`: the worker's open connections; `received`: connections handed to it, in all
   * (for the primary's connection router).
   */
  | { type: "forestd:heartbeat"; connections?: number; received?: number }
  /** With a connection's bare handle: accepted here beyond this worker's share (connection-balancer.ts). */
  | {
      type: "forestd:handoff";
      index: number;
      connections: number;
      received: number;
      /** Give it to another worker than the sender (a gRPC forwarding link it accepted itself). */
      elsewhere?: boolean;
    }
  | { type: "forestd:boot-error"; message: string }
  | { type: "forestd:retire"; reason: "max-requests" }
  | { type: "forestd:metrics"; requestId: number; metrics: unknown }
  | { type: "forestd:metrics-delta"; delta: MetricsDelta }
  | { type: "forestd:cluster-metrics"; requestId: number }
  /** Booting: which models to serve? (Answered with forestd:models, then told of every change.) */
  | { type: "forestd:models-request" }
  /** Booting with CERTFILE: which certificate to serve? (Answered with forestd:tls.) */
  | { type: "forestd:tls-request" }
  /** After applying a forestd:models: what this worker now serves, and what it could not load. */
  | { type: "forestd:models-state"; state: WorkerModelsState };

/**
 * Counter increments and histogram observations since the worker's last message, flushed every
 * event-loop turn that had any, so a worker killed with -9 loses at most its last turn's counts.
 * Series are named once (`series`: index → [metric name, labels]) and referred to by index after.
 */
export interface MetricsDelta {
  /** Series first seen since the last flush: [index, what it is]. */
  readonly series: [number, SeriesMeta][];
  /** [series index, increment] for counters. */
  readonly inc: [number, number][];
  /** [series index, observed values] for histograms. */
  readonly observe: [number, number[]][];
}

/** Primary → worker. */
export type PrimaryMessage =
  | { type: "forestd:listen"; index: number; count: number }
  /** With a connection's bare handle, handed on by another worker: serve it on listener `index`. */
  | { type: "forestd:connection"; index: number }
  /** Answer to a heartbeat: the fewest connections another ready worker holds (null: no other). */
  | { type: "forestd:peers"; fewest: number | null }
  | { type: "forestd:shutdown"; graceful: boolean }
  /**
   * The certificate, key and client CAs the worker's generation serves, as the primary read and
   * checked them (null: none): the answer to forestd:tls-request, and again after each SIGHUP
   * that read new ones. New connections get them; open ones keep theirs.
   */
  | { type: "forestd:tls"; pem: TlsPem | null }
  | { type: "forestd:collect-metrics"; requestId: number }
  | { type: "forestd:cluster-metrics-text"; requestId: number; contentType: string; body: string }
  /** The whole set of models to serve (contract/models.ts): load what is new, drop what is gone. */
  | { type: "forestd:models"; set: ModelSet };

/** A worker that cannot boot (model will not load, threads will not start) exits with this code:
 *  before anything has served the arbiter halts (Gunicorn's WORKER_BOOT_ERROR); once serving, it
 *  counts the failure and retries with backoff. */
export const BOOT_ERROR_EXIT_CODE = 3;

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return (
    typeof m === "object" &&
    m !== null &&
    typeof (m as { type?: unknown }).type === "string" &&
    (m as { type: string }).type.startsWith("forestd:")
  );
}

/** A counter or histogram series, described once so the primary can build it from deltas alone. */
export interface SeriesMeta {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "histogram";
  readonly labels: Record<string, string | number>;
  /** Histograms: the bucket upper bounds, ascending (+Inf implied). */
  readonly buckets?: readonly number[];
}

/**
 * What the primary tells a worker it forks, in the worker's environment. The models are not among
 * them: they change without new workers, so a worker asks for them (forestd:models-request).
 */
export const WORKER_ENV = {
  settings: "FORESTD_SETTINGS",
  generation: "FORESTD_GENERATION",
  /**
   * A random token of this primary's, the same for all its workers: a gRPC call one worker forwards
   * to another (workers/grpc/forwarding.ts) carries it, so no client can pass a call off as forwarded.
   */
  peerToken: "FORESTD_PEER_TOKEN",
} as const;
