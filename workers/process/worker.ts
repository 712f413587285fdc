/**
 * A worker process: starts its scoring threads, asks the primary which models to serve and loads
 * them, starts its Fastify server on the shared port(s), reports readiness and heartbeats to the
 * primary, follows every later change of the model set, and drains on request.
 */
import cluster from "node:cluster";
import type { Server } from "node:http";
import type { Socket } from "node:net";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import pino from "pino";
import { listenAddresses } from "../../config/listen-addresses.js";
import { parseBind } from "../../config/load-settings.js";
import { createLogger } from "../../config/logger.js";
import type { Settings } from "../../config/settings.js";
import { type CertReqs, certificateFields, fromPem, ServerTls, type TlsPem } from "../../config/tls.js";
import { tracingConfig } from "../../config/tracing.js";
import {
  BOOT_ERROR_EXIT_CODE,
  type PrimaryMessage,
  WORKER_ENV,
  type WorkerMessage,
} from "../../contract/messages.js";
import type { ModelSet } from "../../contract/models.js";
import type { PeerForwarder } from "../grpc/forwarding.js";
import type { GrpcEndpoint } from "../grpc/server.js";
import { buildApp, createHttpServer } from "../http/app.js";
import { VERSION } from "../http/version.js";
import { inProcessLoader, ThreadedLoader } from "../scoring/model-loader.js";
import type { TableEvent } from "../scoring/model-table.js";
import type { Tracing } from "../tracing/otel.js";
import { ConnectionBalancer, type TcpHandle } from "./connection-balancer.js";
import { ConnectionDrainer } from "./drain.js";
import { niceEventLoop, scheduleEventLoop } from "./loop-scheduling.js";
import { sendSnapshot, type WorkerMetrics } from "./metrics.js";
import { createScoringStack } from "./scoring-stack.js";
import { sentToPrimary } from "./sent-to-primary.js";

const HEARTBEAT_MS = 500;
/** How soon a changed connection count is reported to the primary (connection-balancer.ts). */
const COUNT_REPORT_MS = 20;

function send(message: WorkerMessage): void {
  if (process.connected && process.send) process.send(message);
}

/** `booted`: the entry's own boot heartbeat can stop, this worker's takes over. */
export async function runWorker(settings: Settings, booted: () => void = () => undefined): Promise<void> {
  // A stop may be asked for while this worker is still booting: remember it, act once booted.
  let stopRequested: boolean | null = null;
  let stop = (graceful: boolean) => {
    stopRequested = stopRequested === false ? false : graceful;
  };
  let onMetricsMessage: (message: PrimaryMessage) => void = () => undefined;
  // The certificate to serve: the first answers the boot's request, every later one follows a SIGHUP.
  let onTls: (pem: TlsPem | null) => void = () => undefined;
  // The model set: the first answers the boot's request, every later one is a change to apply.
  let onModels: (set: ModelSet) => void = () => undefined;
  let firstModels: ModelSet | null = null;
  const handles: unknown[] = [];
  let onHandle: () => void = () => undefined;
  // GRPC_PORT's handle comes after the BIND addresses' (config/listen-addresses.ts).
  const grpcIndex = settings.grpc_port === 0 ? -1 : settings.bind.length;
  // Forwards large gRPC calls to another worker while this one's threads are busy (grpc/forwarding.ts).
  let forwarder: PeerForwarder | null = null;
  const drainer = new ConnectionDrainer();
  /** What the primary's connection router counts by (connection-balancer.ts). */
  const counts = () => ({ connections: drainer.connections, received: balancer.receivedCount });
  // Connections other workers handed on, once this one serves (the primary routes only to ready ones).
  const balancer = new ConnectionBalancer({
    slack: settings.balance_connections,
    held: () => drainer.connections,
    changed: () => {
      // Counts go to the primary soon after they change (not only every heartbeat): a burst of new
      // connections is shared out by what the others hold now, not half a second ago.
      // One worker has nobody to balance with (a scaled-up one still reports with each heartbeat).
      if (countReport !== null || settings.balance_connections === 0 || settings.workers < 2) return;
      countReport = setTimeout(() => {
        countReport = null;
        send({ type: "forestd:heartbeat", ...counts() });
      }, COUNT_REPORT_MS);
    },
    mustMove: (socket, index) =>
      index === grpcIndex &&
      socket.remotePort !== undefined &&
      (forwarder?.ownPorts.has(socket.remotePort) ?? false),
    handOff: (handle, index, sent, elsewhere) => {
      if (!process.connected || !process.send) return false;
      const message: WorkerMessage = {
        type: "forestd:handoff",
        index,
        ...counts(),
        ...(elsewhere ? { elsewhere: true } : {}),
      };
      // Queued even when send() returns false (that is backpressure, not failure): once called, the
      // handle belongs to the message.
      process.send(message, handle as never, (error: Error | null) => {
        // Sent or not, this process's copy of the descriptor goes (a failed send loses the connection,
        // as a worker's death would).
        sent();
        if (error) logger.warn({ event: "handoff_failed", err: error }, "could not hand a connection on");
      });
      return true;
    },
  });
  let countReport: NodeJS.Timeout | null = null;
  process.on("message", (message: PrimaryMessage, handle?: unknown) => {
    if (message?.type === "forestd:shutdown") void stop(message.graceful);
    else if (message?.type === "forestd:listen") {
      handles[message.index] = handle;
      if (handles.filter(Boolean).length === message.count) onHandle();
    } else if (message?.type === "forestd:connection") {
      if (handle) balancer.received(handle as TcpHandle, message.index);
    } else if (message?.type === "forestd:peers") balancer.peers(message.fewest);
    else if (message?.type === "forestd:tls") onTls(message.pem);
    else if (message?.type === "forestd:models") {
      if (firstModels === null) firstModels = message.set;
      onModels(message.set);
    } else onMetricsMessage(message);
  });
  const listenHandles = (): Promise<unknown[]> =>
    new Promise((resolve) => {
      onHandle = () => resolve(handles);
      send({ type: "forestd:listen-request" });
    });
  // Heartbeats from the first instant: a boot that hangs is bounded by TIMEOUT like any silence.
  const heartbeat = setInterval(() => send({ type: "forestd:heartbeat", ...counts() }), HEARTBEAT_MS);
  booted();
  process.on("SIGTERM", () => void stop(true));
  // Ctrl-C reaches the whole process group; the primary orchestrates the stop.
  process.on("SIGINT", () => undefined);
  process.on("SIGQUIT", () => void stop(false));
  // The primary is gone (killed -9): nobody will route to us or stop us.
  process.on("disconnect", () => void stop(true));

  // Lines are gathered into writes of 4 KiB or every 250 ms, not one write each: with an access
  // line per request, a write per line costs more than the line. Whatever is still buffered is
  // written at exit (pino flushes its destinations synchronously then; stop() flushes first).
  // Writes stay asynchronous although synchronous 4 KiB writes cost the loop less (~6 µs less per
  // access line in a profile): stdout is often a pipe shared with the primary in non-blocking
  // mode, where a synchronous write meets EAGAIN whenever the reader falls behind and sonic-boom
  // blocks the loop retrying; in the one CI run with synchronous writes the chaos campaign's final
  // reload never settled. LOG_FORMAT changes what a line says, not how lines are written.
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 250 });
  const logger = createLogger(settings, { pid: process.pid, worker: cluster.worker?.id ?? 0 }, destination);
  const bootError = (what: string, error: unknown): never => {
    clearInterval(heartbeat);
    const message = `${what}: ${(error as Error).message}`;
    logger.fatal({ event: "boot_error", err: error }, message);
    send({ type: "forestd:boot-error", message });
    process.exit(BOOT_ERROR_EXIT_CODE);
  };

  const generation = Number(process.env[WORKER_ENV.generation] ?? 0);
  // Tracing (OTEL_* variables): when off, no OpenTelemetry module is even loaded.
  let tracing: Tracing | null = null;
  try {
    const config = tracingConfig(process.env);
    if (config) {
      const { startTracing } = await import("../tracing/otel.js");
      tracing = startTracing(config, { version: VERSION, worker: cluster.worker?.id ?? 0 });
    }
  } catch (error) {
    return bootError("cannot start tracing", error);
  }
  // Models load into memory every thread of this worker shares: while booting, here (nothing is
  // served yet, and a loading thread would add its own start-up); once serving, in a thread of
  // their own, off this event loop.
  const loader = new ThreadedLoader();
  let serving = false;
  const { pool, table, metrics } = createScoringStack(settings, {
    generation,
    loader: (spec) => (serving ? loader.load(spec) : inProcessLoader(spec)),
    sendMetricsDelta: (delta) => send({ type: "forestd:metrics-delta", delta }),
    // The thread module is a seam, not a setting: tests run a whole server with a stand-in
    // thread that hangs or fails (test/fixtures/threads/). Unset in production.
    threadFile: process.env.FORESTD_SCORING_THREAD || undefined,
    tracer: tracing?.batchTracer,
    inlineTracer: tracing?.inlineTracer,
    onModelEvent: (event) => logModelEvent(logger, event),
    onThreadTimeout: (threadId) =>
      logger.error(
        { event: "thread_timeout", thread: threadId },
        "scoring thread stuck past TIMEOUT: terminated and replaced",
      ),
  });

  const clusterText = primaryMetricsClient(metrics);
  onMetricsMessage = (message) => {
    if (message?.type === "forestd:collect-metrics") {
      void sendSnapshot(metrics, (snapshot) =>
        send({ type: "forestd:metrics", requestId: message.requestId, metrics: snapshot }),
      );
    } else if (message?.type === "forestd:cluster-metrics-text") {
      clusterText.answer(message.requestId, { contentType: message.contentType, body: message.body });
    }
  };
  // The models to serve: asked for now, loaded before this worker says it is ready. With MODEL_PATH
  // (a strict set) a model that does not load is a boot error, as it always was; in a repository it
  // is reported and the others serve.
  const set = await new Promise<ModelSet>((resolve) => {
    if (firstModels !== null) return resolve(firstModels);
    onModels = resolve;
    send({ type: "forestd:models-request" });
  });
  const state = await table.apply(set);
  if (set.strict && state.failed.length > 0)
    return bootError(
      `cannot load model ${state.failed[0].name} (${set.models.find((m) => m.name === state.failed[0].name)?.origin.source ?? "?"})`,
      new Error(state.failed[0].reason),
    );
  send({ type: "forestd:models-state", state });
  // Every later set: applied in order (the table queues them), each reported when done.
  onModels = (next) => {
    void table.apply(next).then((after) => send({ type: "forestd:models-state", state: after }));
  };

  // CERTFILE: this worker's servers speak TLS, with the certificate its generation serves, as the
  // primary read and checked it. Never the files themselves: a worker started while they are being
  // replaced, or after a SIGHUP found them broken, serves the last good certificate, as every
  // other worker does.
  let serverTls: ServerTls | null = null;
  if (settings.certfile !== "") {
    const pem = await new Promise<TlsPem | null>((resolve) => {
      onTls = resolve;
      send({ type: "forestd:tls-request" });
    });
    try {
      if (pem === null) throw new Error("the primary has no certificate for this worker's generation");
      serverTls = new ServerTls(fromPem(pem));
    } catch (error) {
      return bootError("cannot serve TLS", error);
    }
    const serving = serverTls;
    onTls = (next) => {
      if (next === null) return;
      try {
        const material = fromPem(next);
        serving.update(material);
        logger.info({ event: "tls_reloaded", ...certificateFields(material) }, "TLS certificate replaced");
      } catch (error) {
        logger.error(
          { event: "tls_reload_failed", err: error },
          `TLS certificate not replaced, the old one keeps serving: ${(error as Error).message}`,
        );
      }
    };
  }
  const certReqs = settings.cert_reqs as CertReqs;

  const app = await buildApp({
    settings,
    table,
    metrics,
    logger,
    isReady: () => !drainer.draining,
    metricsText: clusterText,
    tracing: tracing ?? undefined,
    tls: serverTls?.options(certReqs),
  });

  // Recycling after MAX_REQUESTS (+ jitter): ask the primary for a replacement, keep serving
  // until it says to drain.
  const jitter =
    settings.max_requests_jitter > 0 ? Math.floor(Math.random() * (settings.max_requests_jitter + 1)) : 0;
  const maxRequests = settings.max_requests > 0 ? settings.max_requests + jitter : 0;
  let servedRequests = 0;
  let retireAsked = false;
  if (maxRequests > 0) {
    app.addHook("onResponse", (_request, _reply, done) => {
      servedRequests++;
      if (servedRequests >= maxRequests && !retireAsked) {
        retireAsked = true;
        logger.info({ event: "worker_retire", requests: servedRequests }, "max_requests reached");
        send({ type: "forestd:retire", reason: "max-requests" });
      }
      done();
    });
  }

  /** The end of every stop, drained or never listening: threads, loader and tracing closed, then exit 0. */
  const closeAndExit = async (clean: boolean): Promise<void> => {
    forwarder?.close();
    clearInterval(heartbeat);
    if (countReport !== null) clearTimeout(countReport);
    await pool.destroy().catch(() => undefined);
    await loader.close().catch(() => undefined);
    // The spans of the last requests, which the batch processor has not sent yet.
    await tracing?.shutdown().catch(() => undefined);
    await sentToPrimary();
    logger.info({ event: "worker_stopped", clean }, "worker stopped");
    // Let the last log lines flush before exiting (IPC messages are written: sentToPrimary).
    logger.flush(() => setImmediate(() => process.exit(0)));
  };
  const servers: Server[] = [];
  const listeners: NetServer[] = [];
  let grpc: GrpcEndpoint | null = null;
  try {
    await app.ready();
    if (grpcIndex >= 0) {
      const { createGrpcEndpoint } = await import("../grpc/server.js");
      const { PeerForwarder } = await import("../grpc/forwarding.js");
      const token = process.env[WORKER_ENV.peerToken];
      // Forwarding needs another worker, and the primary's token to vouch for forwarded calls.
      forwarder =
        // Not over TLS: the link would have to present a client certificate CERT_REQS accepts.
        settings.workers > 1 && settings.grpc_forward_rows > 0 && token && serverTls === null
          ? new PeerForwarder(loopbackAddress(listenAddresses(settings)[grpcIndex]), token, (event) =>
              event.type === "linked"
                ? logger.info(
                    { event: "grpc_forward_link", peer: event.peer, attempts: event.attempts },
                    "gRPC calls may be forwarded to another worker",
                  )
                : logger.warn(
                    { event: "grpc_forward_resting", attempts: event.attempts, reason: event.reason },
                    `no link to another worker (${event.reason}); gRPC calls are served here for 5 s`,
                  ),
            )
          : null;
      grpc = createGrpcEndpoint(settings, {
        forwarder: forwarder ?? undefined,
        tracer: tracing?.grpcTracer,
        forwardRows: settings.grpc_forward_rows,
        threads: settings.threads,
        table,
        metrics,
        logger,
        accessLog: settings.access_log,
        version: VERSION,
        isReady: () => !drainer.draining && !app.forestdUnderPressure(),
        underPressure: () => app.forestdUnderPressure(),
      });
    }
    // Told to stop while booting (retired, or silent past TIMEOUT): never listen. Listening for a
    // moment only to drain took connections from the shared socket and then closed them, requests
    // unanswered (the chaos campaign's unexplained resets, seeds 382659478 and 788638360).
    if (stopRequested !== null) {
      logger.info(
        { event: "worker_stopping", graceful: stopRequested },
        "told to stop while booting: not listening",
      );
      return closeAndExit(true);
    }
    // The primary owns the listening sockets (server/listeners.ts) and hands them over. Each is
    // accepted on by a plain net.Server, connections paused, so that the balancer can still hand
    // a connection on unread; those kept are served by the HTTP server of that address (or, on
    // GRPC_PORT, by the gRPC endpoint).
    const handles = await listenHandles();
    for (const [index, handle] of handles.entries()) {
      const listener = createNetServer({ pauseOnConnect: true, noDelay: true });
      if (index === grpcIndex && grpc !== null) {
        const endpoint = grpc;
        listener.on("connection", (socket) => {
          // A loopback connection may be this worker's own forwarding link, whose local port the
          // forwarder learns in its connect callback: that may run after this accept in the same
          // loop turn, so such a connection (paused, nothing read) is placed a turn later.
          if (forwarder !== null && isLoopback(socket.remoteAddress))
            setImmediate(() => balancer.accepted(socket, index));
          else balancer.accepted(socket, index);
        });
        await new Promise<void>((resolve, reject) => {
          listener.once("error", reject);
          listener.listen(handle, settings.backlog, () => resolve());
        });
        // With CERTFILE, gRPC is TLS too: a TLS server of this worker's certificate (following every
        // SIGHUP reload, asking for client certificates as CERT_REQS says, offering only h2 by
        // ALPN) takes the raw connection, and grpc-js's server gets the decrypted stream.
        let serve = (socket: Socket | TLSSocket) => endpoint.accept(socket);
        if (serverTls !== null) {
          const secure = createTlsServer(
            { ...serverTls.options(certReqs), ALPNProtocols: ["h2"] },
            (tlsSocket) => endpoint.accept(tlsSocket),
          );
          // A failed handshake (no or a bad client certificate, not TLS) closes that connection only.
          secure.on("tlsClientError", () => undefined);
          serverTls.attach(secure, certReqs);
          serve = (socket) => secure.emit("connection", socket);
        }
        balancer.serve(index, { emit: (_event, socket) => serve(socket) });
        drainer.trackOther(endpoint, listener);
        continue;
      }
      const server =
        index === 0 ? app.server : createHttpServer(settings, app.gatedRouting, serverTls?.options(certReqs));
      serverTls?.attach(server as unknown as TlsServer, certReqs);
      listener.on("connection", (socket) => balancer.accepted(socket, index));
      await new Promise<void>((resolve, reject) => {
        listener.once("error", reject);
        listener.listen(handle, settings.backlog, () => resolve());
      });
      balancer.serve(index, server);
      // The HTTP server itself never listens, but on "listening" it starts tracking its
      // connections: without that, HEADERS_TIMEOUT and CLIENT_TIMEOUT are never enforced.
      server.emit("listening");
      servers.push(server);
      listeners.push(listener);
    }
  } catch (error) {
    return bootError(`cannot listen on ${settings.bind.join(", ")}`, error);
  }
  for (const [index, server] of servers.entries()) {
    drainer.track(server, listeners[index]);
    metrics.trackTraffic(server);
  }

  scheduleEventLoop(settings.loop_sched, logger);
  if (settings.loop_nice > 0) niceEventLoop(settings.loop_nice, logger);

  const entries = table.entries();
  serving = true;
  send({ type: "forestd:ready", sha256: entries[0]?.served.sha256 ?? "" });
  logger.info(
    {
      event: "worker_ready",
      bind: settings.bind,
      models: entries.length,
      model: table.defaultModel ?? undefined,
      sha256: entries.find((e) => e.served.name === table.defaultModel)?.served.sha256,
      // What this worker's calibration decided (INLINE_SCORING_MAX_US): it varies with the machine.
      inline_max_rows: entries[0]?.inline.maxRows,
      inline_call_us: entries[0] ? Math.round(entries[0].inline.callOverheadUs * 10) / 10 : undefined,
    },
    "worker ready",
  );

  let stopping = false;
  stop = async (graceful: boolean) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: "worker_stopping", graceful }, graceful ? "draining" : "stopping now");
    const deadline = Date.now() + (graceful ? settings.graceful_timeout * 1000 : 0);
    const clean = await drainer.drain(deadline);
    // Final counts, so the cluster's counters include everything this worker served.
    await sendSnapshot(metrics, (snapshot) =>
      send({ type: "forestd:metrics", requestId: 0, metrics: snapshot }),
    );
    await closeAndExit(clean);
  };
  if (stopRequested !== null) void stop(stopRequested);
}

/**
 * GET /metrics on a worker answers the cluster's metrics, asked of the primary over IPC; without a
 * primary (or if it does not answer in 2 s) the worker's own.
 */
function primaryMetricsClient(metrics: WorkerMetrics) {
  const waiting = new Map<number, (text: { contentType: string; body: string }) => void>();
  let next = 1;
  const local = async () => ({
    contentType: metrics.registry.contentType,
    body: await metrics.registry.metrics(),
  });
  const ask = (): Promise<{ contentType: string; body: string }> => {
    if (!process.connected) return local();
    const requestId = next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiting.delete(requestId);
        resolve(local());
      }, 2000);
      waiting.set(requestId, (text) => {
        clearTimeout(timer);
        waiting.delete(requestId);
        resolve(text);
      });
      send({ type: "forestd:cluster-metrics", requestId });
    });
  };
  return Object.assign(ask, {
    answer(requestId: number, text: { contentType: string; body: string }) {
      waiting.get(requestId)?.(text);
    },
  });
}

/** A model version loaded, failed or released: one log line each. */
function logModelEvent(logger: pino.Logger, event: TableEvent): void {
  const fields = { name: event.name, version: event.version, sha256: event.sha256 };
  switch (event.type) {
    case "loaded":
      logger.info(
        {
          event: "model_loaded",
          ...fields,
          ms: Math.round(event.ms),
          bytes: event.bytes,
          loop_delay_ms: Math.round(event.loopDelayMs),
        },
        `model ${event.name} version ${event.version} loaded`,
      );
      break;
    case "load-failed":
      logger.error(
        { event: "model_load_failed", ...fields, reason: event.reason },
        `model ${event.name} version ${event.version} could not be loaded: ${event.reason}`,
      );
      break;
    case "released":
      logger.info(
        { event: "model_released", ...fields },
        `model ${event.name} version ${event.version} released`,
      );
      break;
  }
}

/** A listen address as this host connects to it: the unspecified addresses are loopback. */
function loopbackAddress(address: string): { host: string; port: number } {
  const { host, port } = parseBind(address);
  return { host: host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host, port };
}

function isLoopback(address: string | undefined): boolean {
  return address === "127.0.0.1" || address === "::1" || address === "::ffff:127.0.0.1";
}
