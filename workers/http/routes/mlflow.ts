/**
 * `mlflow models serve`'s routes, so a client written for it works unchanged:
 *
 * - POST /invocations: the default model (POST /invocations/{name}[/versions/{version}]: another
 *   one, as /predict/{name} names it); a JSON body (dataframe_split, dataframe_records, instances,
 *   inputs) or CSV → `{"predictions": [...]}`, what the flavor's pyfunc answers; scored like
 *   /predict (the model's batcher, admission, deadlines, metrics and access log); refusals in
 *   MLflow's shape (`{"error_code": ..., "message": ...}`, a 415 in text/plain; http-errors.ts);
 * - GET /ping and /health: 200 (an empty line) when the worker is ready, as MLflow's health check;
 * - GET /version: the MLflow version that saved the default model (MLmodel's mlflow_version), where
 *   MLflow's server answers its own version; forestd's version for a model not from MLflow.
 *
 * Every body reaches the route as bytes (any Content-Type): MLflow's own rules decide what it
 * accepts (mlflow/content-type.ts), not Fastify's.
 */
import type { FastifyInstance } from "fastify";
import { type Model, mlflowInfoOf } from "../../../model/index.js";
import type { ModelTable } from "../../scoring/model-table.js";
import { NotReadyError, TooManyRowsError } from "../errors.js";
import { pyfuncAnswers } from "../mlflow/answers.js";
import { type InvocationsModel, invocationsModel, invocationsRows } from "../mlflow/invocations.js";
import { modelOf, resolveModel, resolveModelHook } from "../model-route.js";
import { deadlineMs, scoreRows } from "../scoring.js";

export interface MlflowRouteDeps {
  table: ModelTable;
  /** forestd's version, for /version when the model is not from an MLflow folder. */
  version: string;
  isReady(): boolean;
}

const SUMMARIES: Record<string, string> = {
  "/invocations":
    "MLflow's scoring protocol (mlflow models serve) with the default model: JSON or CSV in, {predictions} out",
  "/invocations/:name": "MLflow's scoring protocol with a model",
  "/invocations/:name/versions/:version": "MLflow's scoring protocol with one version of a model",
};

/** Each model version's columns and answer, worked out once. */
const prepared = new WeakMap<Model, InvocationsModel>();

function invocationsOf(model: Model): InvocationsModel {
  let served = prepared.get(model);
  if (!served) {
    served = invocationsModel(model);
    prepared.set(model, served);
  }
  return served;
}

export async function mlflowRoutes(app: FastifyInstance, deps: MlflowRouteDeps): Promise<void> {
  const resolve = resolveModelHook(deps.table);
  await app.register(async (scope) => {
    const { onProtoPoisoning, onConstructorPoisoning } = scope.initialConfig;
    const usual = scope.getDefaultJsonParser(onProtoPoisoning ?? "error", onConstructorPoisoning ?? "error");
    // The app's JSON parser (secure-json-parse, prototype poisoning refused), called synchronously.
    const parseJson = (text: string): unknown => {
      let result: unknown;
      let failure: unknown;
      usual({} as never, text, (error, value) => {
        failure = error;
        result = value;
      });
      if (failure) throw failure;
      return result;
    };
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
    for (const path of Object.keys(SUMMARIES)) {
      scope.post(path, { schema: { summary: SUMMARIES[path] }, preParsing: resolve }, async (request) => {
        const entry = modelOf(request);
        const served = invocationsOf(entry.served.model);
        const { values, rows } = invocationsRows(
          request.body as Buffer | undefined,
          request.headers["content-type"],
          served,
          parseJson,
        );
        if (rows > entry.maxRequestRows)
          throw new TooManyRowsError(String(rows), String(entry.maxRequestRows));
        const timeoutMs = deadlineMs(
          entry,
          request.headers["x-request-timeout-ms"],
          "the X-Request-Timeout-Ms header",
        );
        request.forestdRows = rows;
        const outputs = rows === 0 ? null : (await scoreRows(entry, values, rows, false, timeoutMs)).outputs;
        return { predictions: outputs ? pyfuncAnswers(served.model, served.answer, outputs, rows) : [] };
      });
    }
  });
  const ping = async (_request: unknown, reply: { type(t: string): unknown }) => {
    if (!deps.isReady()) throw new NotReadyError("not ready: draining or overloaded");
    reply.type("application/json");
    return "\n";
  };
  app.get("/ping", { schema: { summary: "MLflow's health check: 200 when ready" } }, ping);
  app.get("/health", { schema: { summary: "MLflow's health check (as /ping)" } }, ping);
  app.get(
    "/version",
    { schema: { summary: "The MLflow version that saved the default model" } },
    async (_request, reply) => {
      reply.type("application/json");
      const name = deps.table.defaultModel;
      const model = name === null ? null : resolveModel(deps.table, name).served.model;
      return (model && mlflowInfoOf(model)?.mlflowVersion) ?? deps.version;
    },
  );
}
