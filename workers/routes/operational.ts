/**
 * Operational endpoints: liveness, readiness, the served model, Prometheus metrics.
 */
import type { FastifyInstance } from "fastify";
import { NotReadyError } from "../errors.js";
import type { ServedModel } from "../served-model.js";

export interface OperationalDeps {
  served: ServedModel;
  isReady(): boolean;
  /** Prometheus text exposition of the metrics this endpoint reports. */
  metricsText(): Promise<{ contentType: string; body: string }>;
}

export async function operationalRoutes(app: FastifyInstance, deps: OperationalDeps): Promise<void> {
  const { served } = deps;
  app.get("/healthz", { schema: { summary: "Liveness: the worker answers" } }, async () => ({
    status: "ok",
  }));
  app.get("/readyz", { schema: { summary: "Readiness: model loaded and not draining" } }, async () => {
    if (!deps.isReady()) throw new NotReadyError("not ready: draining or overloaded");
    return { ready: true };
  });
  app.get("/model", { schema: { summary: "The served model" } }, async () => ({
    name: served.name,
    path: served.path,
    sha256: served.sha256,
    generation: served.generation,
    objective: served.info.objective,
    task: served.info.task,
    booster: served.info.booster,
    features:
      served.info.featureNames.length > 0
        ? served.info.featureNames
        : Array.from({ length: served.info.numFeature }, (_, i) => `f${i}`),
    feature_types: served.info.featureTypes,
    num_features: served.info.numFeature,
    classes: served.classes,
    outputs: served.info.numOutputs,
    trees: served.info.numTrees,
    max_depth: served.info.maxDepth,
    nodes: served.info.numNodes,
    base_score: served.info.baseScore,
    xgboost_version: served.info.xgboostVersion,
  }));
  app.get("/metrics", { schema: { summary: "Prometheus metrics", hide: false } }, async (_request, reply) => {
    const { contentType, body } = await deps.metricsText();
    reply.type(contentType);
    return body;
  });
}
