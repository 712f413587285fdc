/** Messages between the primary (arbiter) and its workers over the cluster IPC channel. */

/** Worker → primary. */
export type WorkerMessage =
  | { type: "forestd:ready"; sha256: string }
  | { type: "forestd:heartbeat" }
  | { type: "forestd:boot-error"; message: string }
  | { type: "forestd:retire"; reason: "max-requests" }
  | { type: "forestd:metrics"; requestId: number; metrics: unknown }
  | { type: "forestd:cluster-metrics"; requestId: number };

/** Primary → worker. */
export type PrimaryMessage =
  | { type: "forestd:shutdown"; graceful: boolean }
  | { type: "forestd:collect-metrics"; requestId: number }
  | { type: "forestd:cluster-metrics-text"; requestId: number; contentType: string; body: string };

/** A worker that cannot boot (model will not load, address will not bind) exits with this code,
 *  and the arbiter halts instead of respawning it forever (Gunicorn's WORKER_BOOT_ERROR). */
export const BOOT_ERROR_EXIT_CODE = 3;

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return (
    typeof m === "object" &&
    m !== null &&
    typeof (m as { type?: unknown }).type === "string" &&
    (m as { type: string }).type.startsWith("forestd:")
  );
}
