import { isIPv6 } from "node:net";
import { parseBind } from "./load-settings.js";

/**
 * Every address the workers accept on, in the order their handles are numbered: each BIND address
 * (HTTP), then GRPC_PORT's on the first BIND address's host when it is set (gRPC). A worker tells
 * which protocol a handle serves by its index (workers/process/worker.ts).
 */
export function listenAddresses(settings: { bind: readonly string[]; grpc_port: number }): string[] {
  if (settings.grpc_port === 0) return [...settings.bind];
  const { host } = parseBind(settings.bind[0]);
  return [...settings.bind, `${isIPv6(host) ? `[${host}]` : host}:${settings.grpc_port}`];
}
