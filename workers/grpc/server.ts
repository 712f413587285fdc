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
import type { Http2Server, Http2Session } from "node:http2";
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
    // Channelz (gRPC's introspection service) is not served: its per-call bookkeeping is not kept.
    "grpc.enable_channelz": 0,
    interceptors: [messageTimeout(settings.client_timeout * 1000)],
  });
  server.addService(oipServerDefinition(), oipImplementation(deps));
  server.addService(healthService().service, healthImplementation(deps.isReady));
  const injector: ConnectionInjector = server.createConnectionInjector(ServerCredentials.createInsecure());
  widenFlowControl(server, settings.grpc_max_message_bytes);
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

/**
 * What each HTTP/2 connection lets a client send before it must wait: HTTP/2's defaults are a
 * 64 KiB window (for the connection and for each stream) and 16 KiB frames, and grpc-js's server
 * keeps them. A 10 000-row request of 3 features (120 KB) then stalls half-sent until a
 * WINDOW_UPDATE comes back, every call, and arrives in 8 frames, each a round through nghttp2 and
 * the stream's JavaScript: measured, one pinned worker's core sat 8–27% idle under gRPC load at
 * 10 000 rows while HTTP's kept it busy. gRPC's C-core servers grow their windows by probing the
 * bandwidth-delay product; a fixed window as large as a message (up to STREAM_WINDOW_BYTES) does
 * here. Memory is bounded as before: grpc-js reads every message as it arrives, up to
 * GRPC_MAX_MESSAGE_BYTES, whatever the window.
 */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
export const MAX_FRAME_BYTES = 1024 * 1024;

/** The HTTP/2 settings a new connection gets (SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE). */
export function flowControlSettings(maxMessageBytes: number): {
  initialWindowSize: number;
  maxFrameSize: number;
} {
  // A message travels with gRPC's 5-byte prefix; no window need be larger than one message.
  return {
    initialWindowSize: Math.min(STREAM_WINDOW_BYTES, maxMessageBytes + 5),
    maxFrameSize: MAX_FRAME_BYTES,
  };
}

/**
 * Applies flowControlSettings to every session of `server`'s connection injector. grpc-js has no
 * option for a server's HTTP/2 settings (only maxConcurrentStreams): its HTTP/2 servers are
 * reached through its `http2Servers` map (grpc-js 1.14), whose absence fails the test that reads
 * the settings a client is sent (test/process/grpc-flow.test.ts) rather than going unnoticed.
 */
function widenFlowControl(server: Server, maxMessageBytes: number): void {
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!(servers instanceof Map)) return;
  const wanted = flowControlSettings(maxMessageBytes);
  for (const http2Server of servers.keys()) {
    http2Server.on("session", (session: Http2Session) => {
      session.settings(wanted);
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    });
  }
}
