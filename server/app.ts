/**
 * Builds a worker's Fastify application: settings → server options, error handling, access log,
 * routes, OpenAPI. Plain to test: `buildApp(...)` then `app.inject(...)`, no cluster needed.
 */
import swagger from "@fastify/swagger";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import type { Logger } from "pino";
import type { Settings } from "../config/settings.js";
import type { Batcher } from "../workers/batcher.js";
import { installAccessLog } from "./access-log.js";
import { installErrorHandling } from "./http-errors.js";
import type { WorkerMetrics } from "./metrics.js";
import { oipRoutes } from "./routes/oip.js";
import { operationalRoutes } from "./routes/operational.js";
import { predictRoutes } from "./routes/predict.js";
import type { ServedModel } from "./served-model.js";
import { VERSION } from "./version.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Rows in this request, for the access log. */
    forestdRows: number;
  }
}

export interface AppDeps {
  settings: Settings;
  served: ServedModel;
  batcher: Batcher;
  metrics: WorkerMetrics;
  logger: Logger;
  isReady(): boolean;
  metricsText?(): Promise<{ contentType: string; body: string }>;
}

/** FORWARDED_ALLOW_IPS → Fastify's trustProxy: `*` trusts every hop, else the listed addresses. */
export function trustProxyOption(allow: readonly string[]): boolean | string[] {
  return allow.includes("*") ? true : [...allow];
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { settings } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One access-log line per request comes from access-log.ts instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: settings.body_limit,
    keepAliveTimeout: Math.round(settings.keepalive * 1000),
    trustProxy: trustProxyOption(settings.forwarded_allow_ips),
    return503OnClosing: true,
    forceCloseConnections: "idle",
    onProtoPoisoning: "remove",
    onConstructorPoisoning: "remove",
  });
  app.decorateRequest("forestdRows", 0);
  // A JSON API: text/plain bodies get 415 rather than a confusing "body must be an object".
  app.removeContentTypeParser("text/plain");
  installErrorHandling(app, settings.body_limit, deps.metrics);
  installAccessLog(app, deps.logger, deps.metrics, settings.access_log);

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "forestd",
        version: VERSION,
        description: `Serving ${deps.served.name} (${deps.served.info.objective})`,
      },
    },
  });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  const metricsText =
    deps.metricsText ??
    (async () => ({
      contentType: deps.metrics.registry.contentType,
      body: await deps.metrics.registry.metrics(),
    }));
  await app.register(async (scope) => {
    await predictRoutes(scope, deps);
    await oipRoutes(scope, { ...deps, version: VERSION });
    await operationalRoutes(scope, { served: deps.served, isReady: deps.isReady, metricsText });
  });
  return app;
}
