/**
 * Builds a worker's Fastify application: settings → server options, error handling, access log,
 * routes, OpenAPI. Plain to test: `buildApp(...)` then `app.inject(...)`, no cluster needed.
 */
import { randomUUID } from "node:crypto";
import { createServer, type RequestListener, type Server, STATUS_CODES } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { TlsOptions } from "node:tls";
import swagger from "@fastify/swagger";
import underPressurePlugin from "@fastify/under-pressure";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginCallback,
  type FastifyRequest,
  LogController,
} from "fastify";
import type { Logger } from "pino";
import type { Settings } from "../../config/settings.js";
import type { WorkerMetrics } from "../process/metrics.js";
import type { ModelTable } from "../scoring/model-table.js";
import { installAccessLog } from "./access-log.js";
import {
  BadRequestError,
  ClientTimeoutError,
  errorBody,
  errorHeaders,
  HeadersTooLargeError,
  OverloadedError,
  UrlTooLongError,
} from "./errors.js";
import { installErrorHandling } from "./http-errors.js";
import { genReqId, REQUEST_ID_HEADER } from "./request-id.js";
import { lazyRequestLogger } from "./request-logger.js";
import { mlflowRoutes } from "./routes/mlflow.js";
import { oipRoutes } from "./routes/oip.js";
import { operationalRoutes } from "./routes/operational.js";
import { predictRoutes } from "./routes/predict.js";
import type { InlineTracer } from "./scoring.js";
import { gateContinue, shedGate } from "./shed-gate.js";
import { VERSION } from "./version.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Rows in this request, for the access log. */
    forestdRows: number;
  }
  interface FastifyInstance {
    /** Fastify's routing behind the shed gate: the listener for any further HTTP server (BIND). */
    gatedRouting: RequestListener;
    /** Whether the event loop is under pressure, so scoring is shed (the gRPC service asks too). */
    forestdUnderPressure(): boolean;
  }
}

export interface AppDeps {
  settings: Settings;
  /** The model versions served, each with its queue and inline scorer. */
  table: ModelTable;
  metrics: WorkerMetrics;
  logger: Logger;
  isReady(): boolean;
  metricsText?(): Promise<{ contentType: string; body: string }>;
  /** With CERTFILE: the TLS options of the app's server (config/tls.ts ServerTls.options); absent, plain HTTP. */
  tls?: TlsOptions;
  /** When tracing is on (tracing/otel.ts); absent, nothing is traced. */
  tracing?: {
    /** @fastify/otel's plugin. */
    plugin: FastifyPluginCallback;
    /** The request's trace id when its trace is sampled, for the access log. */
    traceId(request: FastifyRequest): string | undefined;
    /** Spans for rows scored inline (the batcher has its own tracer, given to it at creation). */
    inlineTracer: InlineTracer;
    /** Marks the request's span with its model version. */
    tagModel(request: FastifyRequest, model: { name: string; version: string }): void;
  };
}

/** FORWARDED_ALLOW_IPS → Fastify's trustProxy: `*` trusts every hop, else the listed addresses. */
export function trustProxyOption(allow: readonly string[]): boolean | string[] {
  return allow.includes("*") ? true : [...allow];
}

const WARM_UP_MS = 2000;

/**
 * Malformed or slow HTTP, caught by Node before Fastify: still one of our JSON answers (the same
 * declarations and body as any other error), then close.
 */
function clientErrorHandler(settings: Settings): (error: Error & { code?: string }, socket: Socket) => void {
  return (error, socket) => {
    // An HTTPS server reports failed TLS handshakes here too (https.Server turns tlsClientError into
    // clientError: a TLS 1.1 client, a missing client certificate, HEADERS_TIMEOUT before the
    // handshake ends): there is no HTTP connection to answer on, and an answer written there would
    // wait for a handshake that never comes, holding the connection open.
    const tls = (socket as Socket & { encrypted?: boolean }).encrypted === true;
    const http = error.code?.startsWith("HPE_") || error.code === "ERR_HTTP_REQUEST_TIMEOUT";
    if (!socket.writable || (tls && !http)) {
      socket.destroy();
      return;
    }
    const answer =
      error.code === "HPE_HEADER_OVERFLOW"
        ? new HeadersTooLargeError(String(settings.max_header_size))
        : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? new ClientTimeoutError()
          : new BadRequestError(error.code ?? "parse error");
    const status = answer.statusCode as number;
    // The request was never parsed, so its X-Request-Id is unknown: the answer gets an id of its own.
    const requestId = randomUUID();
    const body = JSON.stringify(errorBody(answer, status, false, requestId));
    const head = {
      "content-type": "application/json; charset=utf-8",
      "content-length": String(Buffer.byteLength(body)),
      [REQUEST_ID_HEADER]: requestId,
      connection: "close",
      ...errorHeaders(status),
    };
    const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join("")}\r\n${body}`);
  };
}

/**
 * An HTTP server with forestd's limits, for Fastify's own and for every further BIND address.
 * Slow clients (slowloris) and oversized heads are cut off by Node's HTTP server itself;
 * connectionsCheckingInterval is how often Node enforces those timeouts (its default is 30 s).
 */
export function createHttpServer(settings: Settings, listener: RequestListener, tls?: TlsOptions): Server {
  const options = { maxHeaderSize: settings.max_header_size, connectionsCheckingInterval: 1000 };
  // An HTTPS server is an HTTP server behind a tls.Server: everything below applies to it alike
  // (its type, https.Server, is declared apart from http.Server's, hence the cast).
  // Before its handshake ends a TLS connection is no HTTP connection yet, and Node's HTTP timeouts
  // do not watch it: HEADERS_TIMEOUT bounds the handshake too (tls.Server's own default is 120 s).
  const handshakeTimeout = Math.round(Math.min(settings.headers_timeout, settings.client_timeout) * 1000);
  const server = tls
    ? (createHttpsServer({ ...tls, handshakeTimeout, ...options }, listener) as unknown as Server)
    : createServer(options, listener);
  server.keepAliveTimeout = Math.round(settings.keepalive * 1000);
  server.requestTimeout = Math.round(settings.client_timeout * 1000);
  server.headersTimeout = Math.round(Math.min(settings.headers_timeout, settings.client_timeout) * 1000);
  server.maxHeadersCount = settings.max_headers_count;
  if (settings.keepalive_requests > 0) server.maxRequestsPerSocket = settings.keepalive_requests;
  server.on("clientError", clientErrorHandler(settings));
  gateContinue(server);
  return server;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { settings } = deps;
  const gate = shedGate(
    (name, version) => deps.table.admitting(name ?? deps.table.defaultModel ?? "", version),
    deps.metrics,
    settings.retry_storm_delay,
    (name, version) => deps.table.shed(name ?? deps.table.defaultModel ?? "", version),
  );
  const app = Fastify({
    // Fastify's own server, with the shed gate in front of its routing (and the same settings
    // Fastify would apply to a server it made itself).
    serverFactory: (handler) => createHttpServer(settings, gate(handler), deps.tls),
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One access-log line per request comes from access-log.ts instead of Fastify's two.
    // request.log lines carry the request id as request_id, as the access log does.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: "request_id" }),
    childLoggerFactory: lazyRequestLogger,
    // X-Request-Id, checked (request-id.ts), else a fresh UUID.
    genReqId,
    requestIdHeader: false,
    bodyLimit: settings.body_limit,
    // Route parameters (model names and versions) as long as any URL we take: a 1 000-character
    // name then reaches our routes and gets our 404, not the router's own 414 in another shape.
    routerOptions: { maxParamLength: settings.max_url_length },
    trustProxy: trustProxyOption(settings.forwarded_allow_ips),
    // No return503OnClosing / forceCloseConnections: a stopping worker never calls app.close();
    // drain.ts owns the stop (it answers what is in flight with Connection: close).
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
    // createHttpServer installs the JSON client-error answer itself, for every server alike.
    clientErrorHandler: () => {},
  });
  // First, so that its request span opens before any other hook runs and wraps every handler.
  if (deps.tracing) await app.register(deps.tracing.plugin);
  app.decorateRequest("forestdRows", 0);
  app.decorateRequest("forestdModel", null);
  app.decorate(
    "gatedRouting",
    gate((request, response) => app.routing(request, response)),
  );
  app.addHook("onRequest", (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done(
      request.url.length > settings.max_url_length
        ? new UrlTooLongError(String(settings.max_url_length))
        : undefined,
    );
  });
  // A JSON API: text/plain bodies get 415 rather than a confusing "body must be an object".
  app.removeContentTypeParser("text/plain");
  installErrorHandling(app, settings.body_limit, deps.metrics);
  if (deps.tracing) {
    const { tagModel } = deps.tracing;
    // The model version is resolved before the body is read (model-route.ts): the request's span says which.
    app.addHook("preHandler", (request, _reply, done) => {
      if (request.forestdModel) tagModel(request, request.forestdModel.served);
      done();
    });
  }
  installAccessLog(app, deps.logger, deps.metrics, settings.access_log, deps.tracing?.traceId);

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "forestd",
        version: VERSION,
        description:
          "Tree-ensemble models: exact predictions over HTTP JSON, and the Open Inference Protocol.",
      },
    },
  });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  if (settings.swagger_ui) await registerSwaggerUi(app);

  const metricsText =
    deps.metricsText ??
    (async () => ({
      contentType: deps.metrics.registry.contentType,
      body: await deps.metrics.registry.metrics(),
    }));
  // The plugin's first samples cover start-up itself (module loading, compiling the model), which
  // reads as a long event-loop delay: give a fresh worker a moment before pressure counts.
  let warmUntil = Number.POSITIVE_INFINITY;
  app.addHook("onReady", async () => {
    warmUntil = Date.now() + WARM_UP_MS;
  });
  const warm = () => Date.now() >= warmUntil;
  let underPressure = () => false;
  const isReady = () => deps.isReady() && !underPressure();
  app.decorate("forestdUnderPressure", () => underPressure());
  // Shedding applies to the prediction routes only: health, readiness and metrics must answer
  // precisely when the worker is under pressure.
  await app.register(async (scope) => {
    await scope.register(underPressurePlugin, {
      maxEventLoopDelay: settings.max_event_loop_delay,
      maxEventLoopUtilization: settings.max_event_loop_utilization,
      maxHeapUsedBytes: settings.max_heap_bytes,
      maxRssBytes: settings.max_rss_bytes,
      retryAfter: 1,
      sampleInterval: 250,
      pressureHandler: (request, _reply, type) => {
        // Scoring (POST) is shed; OIP's health and metadata GETs in this scope must still answer.
        if (!warm() || request.method !== "POST") return; // let it through
        throw new OverloadedError(`the worker is under pressure (${type}); try again shortly`);
      },
    });
    underPressure = () => warm() && scope.isUnderPressure();
    await predictRoutes(scope, deps.table);
    await oipRoutes(scope, { table: deps.table, version: VERSION, isReady });
    await mlflowRoutes(scope, { table: deps.table, version: VERSION, isReady });
  });
  await operationalRoutes(app, { table: deps.table, isReady, metricsText });
  return app;
}

/**
 * SWAGGER_UI: the UI at /docs, loaded only when asked for. Its scripts, styles and images come
 * from the package itself (@fastify/swagger-ui bundles swagger-ui-dist), and the CSP on them says
 * so: a browser may load nothing but this server's own files, and Swagger UI's online validator
 * badge stays off.
 */
async function registerSwaggerUi(app: FastifyInstance): Promise<void> {
  const { default: swaggerUi } = await import("@fastify/swagger-ui");
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    validatorUrl: false,
    staticCSP:
      "default-src 'self'; base-uri 'self'; connect-src 'self'; font-src 'self' data:; frame-ancestors 'self'; img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'",
  });
}
