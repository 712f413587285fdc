/**
 * Graceful drain of a worker's HTTP servers, losing nothing that was accepted.
 *
 * Node's `server.close()` also closes idle keep-alive connections at once, which races a client
 * that is just sending its next request on one (it sees a reset). Instead: stop accepting new
 * connections, answer every request in flight or still arriving with `Connection: close`, and close a
 * connection only once it has been idle for `idleGraceMs`, or when the deadline passes.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { Server as NetServer, type Socket } from "node:net";

/** Connections served by something other than an HTTP server (the gRPC endpoint), drained its own way. */
export interface Drainable {
  readonly connections: number;
  /** Tells every connection to finish (gRPC: GOAWAY), destroying what is left after `graceMs`. */
  drain(graceMs: number): void;
}

interface Tracked {
  busy: number;
  idleSince: number;
  /** Responses on this connection not yet finished. */
  open: Set<ServerResponse>;
}

export class ConnectionDrainer {
  /** What accepts connections: closed first when draining. */
  readonly #listeners: NetServer[] = [];
  readonly #sockets = new Map<Socket, Tracked>();
  readonly #others: Drainable[] = [];
  #draining = false;

  /** `server` serves the connections `listener` accepts (the same server, or a net.Server in front). */
  track(server: Server, listener: NetServer = server): void {
    this.#listeners.push(listener);
    server.on("connection", (socket: Socket) => {
      this.#sockets.set(socket, { busy: 0, idleSince: Date.now(), open: new Set() });
      socket.once("close", () => this.#sockets.delete(socket));
    });
    server.on("request", (request: IncomingMessage, response: ServerResponse) => {
      const tracked = this.#sockets.get(request.socket);
      if (this.#draining) response.setHeader("connection", "close");
      if (!tracked) return;
      tracked.busy++;
      tracked.open.add(response);
      response.once("close", () => {
        tracked.busy--;
        tracked.open.delete(response);
        tracked.idleSince = Date.now();
      });
    });
  }

  /** Connections `listener` accepts, served and drained by `served` (the gRPC endpoint). */
  trackOther(served: Drainable, listener: NetServer): void {
    this.#listeners.push(listener);
    this.#others.push(served);
  }

  get draining(): boolean {
    return this.#draining;
  }

  get connections(): number {
    let n = this.#sockets.size;
    for (const other of this.#others) n += other.connections;
    return n;
  }

  /** Stops accepting and waits until every connection has closed, or `deadline` (epoch ms). */
  async drain(deadline: number, idleGraceMs = 1000): Promise<boolean> {
    this.#draining = true;
    // Requests already in flight answer with Connection: close too, so their clients reconnect.
    for (const tracked of this.#sockets.values()) {
      for (const response of tracked.open)
        if (!response.headersSent) response.setHeader("connection", "close");
    }
    for (const listener of this.#listeners) {
      // net.Server's close stops accepting without http.Server's closeIdleConnections().
      NetServer.prototype.close.call(listener);
    }
    for (const other of this.#others) other.drain(Math.max(0, deadline - Date.now()));
    while (this.connections > 0 && Date.now() < deadline) {
      const now = Date.now();
      for (const [socket, t] of this.#sockets) {
        if (t.busy === 0 && now - t.idleSince >= idleGraceMs) socket.end();
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const clean = this.connections === 0;
    for (const socket of this.#sockets.keys()) socket.destroy();
    return clean;
  }
}
