/**
 * Connections spread over the workers.
 *
 * Every worker accepts on the same listening socket (the primary's, server/listeners.ts), and
 * libuv accepts everything waiting in the backlog each time the socket is readable: the worker
 * whose loop wakes first takes a whole burst. 32 connections opened at once were measured splitting
 * 31/1, 27/5, 6/26 between two workers, and keep-alive connections (a proxy's pool, a load
 * generator's) stay where they land, leaving a core idle while the other is saturated.
 *
 * So a worker that holds BALANCE_CONNECTIONS more connections than the least-loaded other worker
 * (as the primary last told it, answering the count each worker reports within 20 ms of a change
 * and with every heartbeat) hands each new one it accepts to the
 * primary, which gives it to the ready worker holding the fewest (server/connection-router.ts); a
 * connection handed on is served where it arrives, never handed on again. Connections are
 * accepted paused (`pauseOnConnect`), so nothing has been read from one when it moves, and it moves
 * as its bare descriptor (a `net.Native` handle: a `net.Socket` sent over IPC starts reading in
 * the primary). Balanced keep-alive traffic costs nothing; an uneven burst costs an IPC message
 * with a descriptor per connection beyond the share.
 */
import { Socket } from "node:net";

/** What serves a listener's connections: an HTTP server, or the gRPC endpoint behind its own emit. */
export interface ConnectionSink {
  emit(event: "connection", socket: Socket): unknown;
}

/** libuv's TCP handle, as `net.Socket#_handle` holds it. */
export type TcpHandle = object & { setNoDelay?(on: boolean): number; close(): void };

export interface BalancerOptions {
  /** How many more connections than the least-loaded other worker this one holds before handing on; 0 = never. */
  slack: number;
  /** Connections this worker holds now. */
  held(): number;
  /** A connection was kept here or closed: the count is worth reporting to the primary. */
  changed(): void;
  /**
   * Sends a connection's handle (and the listener it came in on) to the primary; `sent` runs once
   * the descriptor is on its way. False when it cannot be sent (no IPC channel): the connection is
   * then served here.
   */
  handOff(handle: TcpHandle, index: number, sent: () => void, elsewhere?: boolean): boolean;
  /**
   * A connection that must be served by another worker whatever the counts (a gRPC forwarding link
   * this worker opened to GRPC_PORT and accepted itself: workers/grpc/forwarding.ts).
   */
  mustMove?(socket: Socket, index: number): boolean;
}

export class ConnectionBalancer {
  readonly #servers: ConnectionSink[] = [];
  readonly #o: BalancerOptions;
  /** The fewest connections another ready worker holds, as last heard (null: none, or not yet told). */
  #peersFewest: number | null = null;
  #handedOff = 0;
  #received = 0;

  constructor(options: BalancerOptions) {
    this.#o = options;
  }

  /** What serves connections of listener `index` (its HTTP server, or the gRPC endpoint). */
  serve(index: number, server: ConnectionSink): void {
    this.#servers[index] = server;
  }

  /** What the primary said of the other workers. */
  peers(fewest: number | null): void {
    this.#peersFewest = fewest;
  }

  /** Connections other workers handed to this one, in all. */
  get receivedCount(): number {
    return this.#received;
  }

  /** Connections handed to the primary since start. */
  get handedOff(): number {
    return this.#handedOff;
  }

  /** A connection this worker accepted, paused, nothing read from it yet. */
  accepted(socket: Socket, index: number): void {
    const fewest = this.#peersFewest;
    const mustMove = this.#o.mustMove?.(socket, index) ?? false;
    if (mustMove || (this.#o.slack > 0 && fewest !== null && this.#o.held() >= fewest + this.#o.slack)) {
      const internals = socket as unknown as { _handle: TcpHandle | null };
      const handle = internals._handle;
      // The socket lets go of its handle (its descriptor goes to the primary) without closing it.
      if (handle && this.#o.handOff(handle, index, () => handle.close(), mustMove)) {
        internals._handle = null;
        socket.destroy();
        this.#handedOff++;
        return;
      }
    }
    this.#keep(socket, index);
  }

  /** A connection another worker accepted and the primary gave to this one: served here. */
  received(handle: TcpHandle, index: number): void {
    // As net.Server does for a connection it accepts itself (http.Server's noDelay default).
    this.#received++;
    handle.setNoDelay?.(true);
    const socket = new Socket({ handle, readable: true, writable: true } as never);
    this.#keep(socket, index);
  }

  #keep(socket: Socket, index: number): void {
    const server = this.#servers[index];
    if (!server) {
      socket.destroy();
      return;
    }
    server.emit("connection", socket);
    socket.resume();
    socket.once("close", this.#o.changed);
    this.#o.changed();
  }
}
