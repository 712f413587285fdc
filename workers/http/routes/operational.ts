/**
 * Operational endpoints: liveness, readiness, a served model (GET /model for the default one,
 * /model/{name}[/versions/{version}] for any), Prometheus metrics.
 */
import type { FastifyInstance } from "fastify";
import { featureNames } from "../../../model/index.js";
import type { ModelTable } from "../../scoring/model-table.js";
import { NotReadyError } from "../errors.js";
import { mlflowModelFacts } from "../mlflow/model-facts.js";
import { resolveModel } from "../model-route.js";
import type { ServedModel } from "../served-model.js";

export interface OperationalDeps {
  table: ModelTable;
  isReady(): boolean;
  /** Prometheus text exposition of the metrics this endpoint reports. */
  metricsText(): Promise<{ contentType: string; body: string }>;
}

export async function operationalRoutes(app: FastifyInstance, deps: OperationalDeps): Promise<void> {
  const { table } = deps;
  app.get("/healthz", { schema: { summary: "Liveness: the worker answers" } }, async () => ({
    status: "ok",
  }));
  app.get("/readyz", { schema: { summary: "Readiness: model loaded and not draining" } }, async () => {
    if (!deps.isReady()) throw new NotReadyError("not ready: draining or overloaded");
    return { ready: true };
  });
  app.get("/model", { schema: { summary: "The default model" } }, async () =>
    describeModel(resolveModel(table, undefined).served),
  );
  app.get("/model/:name", { schema: { summary: "A served model (its default version)" } }, async (request) =>
    describeModel(resolveModel(table, (request.params as { name: string }).name).served),
  );
  app.get(
    "/model/:name/versions/:version",
    { schema: { summary: "One version of a served model" } },
    async (request) => {
      const { name, version } = request.params as { name: string; version: string };
      return describeModel(resolveModel(table, name, version).served);
    },
  );
  app.get("/metrics", { schema: { summary: "Prometheus metrics", hide: false } }, async (_request, reply) => {
    const { contentType, body } = await deps.metricsText();
    reply.type(contentType);
    return body;
  });
}

/** What GET /model says of a served model version. */
function describeModel(served: ServedModel) {
  return {
    name: served.name,
    version: served.version,
    path: served.path,
    sha256: served.sha256,
    // Where the primary fetched it: s3://… or https://… (no credentials, no query string) or a path.
    source: served.origin.source,
    etag: served.origin.etag ?? null,
    version_id: served.origin.versionId ?? null,
    last_modified: served.origin.lastModified ?? null,
    fetched_at: served.origin.fetchedAt ?? null,
    generation: served.generation,
    format: served.info.format,
    producer: served.info.producer,
    objective: served.info.objective,
    task: served.info.task,
    features: featureNames(served.info),
    feature_types: served.info.featureTypes,
    num_features: served.info.numFeature,
    classes: served.classes,
    outputs: served.info.numOutputs,
    trees: served.info.numTrees,
    max_depth: served.info.maxDepth,
    nodes: served.info.numNodes,
    // Which kernel scores it (the SIMD kernel, or the walk and why): see docs/performance.md.
    kernel: served.info.kernel,
    inputs: served.info.inputs,
    preprocess: served.info.preprocess,
    precision: served.info.precision,
    // What the format itself says (XGBoost: version, booster, base_score; ONNX: producer, opsets,
    // graph outputs), under the format's name.
    [served.info.format]: served.info.details,
    // An MLflow model folder: what its MLmodel says (null for a model file).
    mlflow: mlflowModelFacts(served.model),
  };
}
