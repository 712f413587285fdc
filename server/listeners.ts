/**
 * The listening sockets, owned by the primary (as Gunicorn's arbiter owns its listeners).
 *
 * With node:cluster's own sharing, a listening socket lives only while some worker listens on it:
 * when the last ready worker dies (kill -9, a hang then a kill), the port closes and clients get
 * ECONNREFUSED until a new worker binds. Here the primary binds each address once, never accepts on
 * it, and hands the socket to every worker it forks; a moment with no worker leaves connections
 * waiting in the kernel's backlog for the next one.
 *
 * Bound-but-not-accepting sockets are made with `net._createServerHandle`, the function node:cluster
 * itself uses for the same purpose (lib/internal/cluster/shared_handle.js): public API has no way to
 * bind without accepting in this process.
 */
import { lookup } from "node:dns/promises";
import net from "node:net";
import { getSystemErrorName } from "node:util";
import { parseBind } from "../config/load-settings.js";

/** A libuv TCP handle, bound, passed to workers over IPC (child_process's `net.Native`). */
export type ListenHandle = object & { close(): void; getsockname(out: object): number };

type CreateServerHandle = (
  address: string,
  port: number,
  addressType: number,
  fd?: number,
  flags?: number,
) => ListenHandle | number;

const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })
  ._createServerHandle;

export class ListenError extends Error {
  readonly code = "FORESTD_ERR_LISTEN";
}

/** Binds every BIND address; throws ListenError naming the address that failed. */
export async function bindAll(binds: readonly string[]): Promise<ListenHandle[]> {
  const handles: ListenHandle[] = [];
  try {
    for (const bind of binds) {
      const { host, port } = parseBind(bind);
      const resolved = net.isIP(host) ? { address: host, family: net.isIP(host) } : await lookup(host);
      const handle = createServerHandle(resolved.address, port, resolved.family);
      if (typeof handle === "number")
        throw new ListenError(`cannot listen on ${bind}: ${getSystemErrorName(handle)}`);
      handles.push(handle);
      // libuv keeps a bind's EADDRINUSE until listen() (uv_tcp_bind's delayed_error), which only
      // the workers call, on a copy of the descriptor that no longer carries it: the socket is
      // unbound there, so listen() picks a random port and the worker reports ready on it.
      // getsockname() returns the delayed error, so the primary can refuse here.
      const failed = handle.getsockname({});
      if (failed !== 0) throw new ListenError(`cannot listen on ${bind}: ${getSystemErrorName(failed)}`);
    }
  } catch (error) {
    for (const h of handles) h.close();
    if (error instanceof ListenError) throw error;
    throw new ListenError(`cannot listen on ${binds.join(", ")}: ${(error as Error).message}`);
  }
  return handles;
}
