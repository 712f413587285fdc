/**
 * A worker's gRPC server. It listens on nothing itself: the primary owns GRPC_PORT's socket
 * (server/listeners.ts) as it owns every BIND address's, the worker accepts on it with the same
 * connection balancer as HTTP (workers/process/connection-balancer.ts: a worker holding more than
 * its share hands a new connection on, unread, to the least-loaded one), and each connection kept
 * is injected into @grpc/grpc-js's HTTP/2 server (`createConnectionInjector`, grpc-js's API for
 * serving connections accepted elsewhere).
 *
 * Limits are settings: GRPC_MAX_MESSAGE_BYTES both ways (grpc-js answers a larger message
 * RESOURCE_EXHAUSTED before any of it is decoded), GRPC_MAX_CONCURRENT_STREAMS per connection
 * (HTTP/2's own flow control holds a client that opens more), and HTTP/2 keepalive pings so a
 * peer that vanished without a FIN is found and its connection closed. A call whose request message
 * has not fully arrived within CLIENT_TIMEOUT (a stream opened and never finished, a message sent
 * a byte at a time) is ended DEADLINE_EXCEEDED, as HTTP's slow requests are cut off with a 408.
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import {
  type ConnectionInjector,
  Metadata,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptor,
  status,
} from "@grpc/grpc-js";
import type { Settings } from "../../config/settings.js";
import { healthService, oipServerDefinition } from "./protos.js";
import { type GrpcDeps, healthImplementation, oipImplementation } from "./service.js";

export interface GrpcEndpoint {
  /** A connection accepted on GRPC_PORT (or its TLS stream, with CERTFILE), to serve here. */
  accept(socket: Socket | TLSSocket): void;
  /** Connections open now. */
  readonly connections: number;
  /** Sends GOAWAY on every connection (calls in flight finish), then destroys what is left after `graceMs`. */
  drain(graceMs: number): void;
}

export function createGrpcEndpoint(settings: Settings, deps: GrpcDeps): GrpcEndpoint {
  const server = new Server({
    "grpc.max_receive_message_length": settings.grpc_max_message_bytes,
    "grpc.max_send_message_length": settings.grpc_max_message_bytes,
    "grpc.max_concurrent_streams": settings.grpc_max_concurrent_streams,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    interceptors: [messageTimeout(settings.client_timeout * 1000)],
  });
  server.addService(oipServerDefinition(), oipImplementation(deps));
  server.addService(healthService().service, healthImplementation(deps.isReady));
  const injector: ConnectionInjector = server.createConnectionInjector(ServerCredentials.createInsecure());
  let open = 0;
  return {
    accept(socket) {
      open++;
      socket.once("close", () => open--);
      injector.injectConnection(socket);
    },
    get connections() {
      return open;
    },
    drain(graceMs) {
      injector.drain(graceMs);
    },
  };
}

/**
 * Ends a call whose request message has not arrived within `ms`: a stream that never ends holds a
 * slot of GRPC_MAX_CONCURRENT_STREAMS and its buffered bytes, and nothing else would close it.
 */
function messageTimeout(ms: number): ServerInterceptor {
  return (_method, call) => {
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const intercepted: ServerInterceptingCall = new ServerInterceptingCall(call, {
      start: (next) => {
        timer = setTimeout(() => {
          timer = undefined;
          const metadata = new Metadata();
          metadata.set("forestd-code", "FORESTD_ERR_CLIENT_TIMEOUT");
          intercepted.sendStatus({
            code: status.DEADLINE_EXCEEDED,
            details: `the request message did not arrive within CLIENT_TIMEOUT (${ms / 1000} s)`,
            metadata,
          });
        }, ms);
        timer.unref();
        next({
          onReceiveMessage: (message, nextMessage) => {
            stop();
            nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            stop();
            nextHalfClose();
          },
          onCancel: stop,
        });
      },
    });
    return intercepted;
  };
}
