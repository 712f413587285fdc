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
import type { TLSSocket } from "node:tls";

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
  /** What to end when idle: the TLS socket once the handshake is done (so it closes with TLS's own close_notify), else the TCP one. */
  end: Socket;
}

export class ConnectionDrainer {
  /** What accepts connections: closed first when draining. */
  readonly #listeners: NetServer[] = [];
  /** By TCP socket: what a server's "connection" gives, TLS or not. */
  readonly #sockets = new Map<Socket, Tracked>();
  readonly #others: Drainable[] = [];
  /** An HTTPS server's requests arrive on the TLS socket over the TCP one: its TCP socket. */
  readonly #tcpOf = new WeakMap<Socket, Socket>();
  #draining = false;

  /** `server` serves the connections `listener` accepts (the same server, or a net.Server in front). */
  track(server: Server, listener: NetServer = server): void {
    this.#listeners.push(listener);
    server.on("connection", (socket: Socket) => {
      this.#sockets.set(socket, { busy: 0, idleSince: Date.now(), open: new Set(), end: socket });
      socket.once("close", () => this.#sockets.delete(socket));
    });
    // An HTTPS server (a tls.Server) wraps each TCP socket it is given in a TLS socket, whose
    // `_parent` is that TCP socket (Node's _tls_wrap.js; no public property says it).
    server.on("secureConnection", (secure: TLSSocket) => {
      const tcp = (secure as unknown as { _parent?: Socket })._parent;
      const tracked = tcp ? this.#sockets.get(tcp) : undefined;
      if (!tcp || !tracked) return;
      this.#tcpOf.set(secure, tcp);
      tracked.end = secure;
    });
    server.on("request", (request: IncomingMessage, response: ServerResponse) => {
      const tracked = this.#sockets.get(this.#tcpOf.get(request.socket) ?? request.socket);
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
      for (const t of this.#sockets.values()) {
        if (t.busy === 0 && now - t.idleSince >= idleGraceMs) t.end.end();
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const clean = this.connections === 0;
    for (const socket of this.#sockets.keys()) socket.destroy();
    return clean;
  }
}
