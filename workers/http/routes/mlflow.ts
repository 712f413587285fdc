/**
 * `mlflow models serve`'s routes, so a client written for it works unchanged:
 *
 * - POST /invocations: a JSON body (dataframe_split, dataframe_records, instances, inputs) or CSV
 *   → `{"predictions": [...]}`, what the flavor's pyfunc answers; scored like /predict (the same
 *   batcher, admission, deadlines, metrics and access log); refusals in MLflow's shape
 *   (`{"error_code": ..., "message": ...}`, a 415 in text/plain; http-errors.ts);
 * - GET /ping and /health: 200 (an empty line) when the worker is ready, as MLflow's health check;
 * - GET /version: the MLflow version that saved the model (MLmodel's mlflow_version), where
 *   MLflow's server answers its own version; forestd's version for a model not from MLflow.
 *
 * Every body reaches the route as bytes (any Content-Type): MLflow's own rules decide what it
 * accepts (mlflow/content-type.ts), not Fastify's.
 */
import type { FastifyInstance } from "fastify";
import { mlflowInfoOf } from "../../../model/index.js";
import { NotReadyError, TooManyRowsError } from "../errors.js";
import { pyfuncAnswers } from "../mlflow/answers.js";
import { invocationsModel, invocationsRows } from "../mlflow/invocations.js";
import { deadlineMs, type ScoringDeps, scoreRows } from "../scoring.js";

export interface MlflowRouteDeps extends ScoringDeps {
  /** forestd's version, for /version when the model is not from an MLflow folder. */
  version: string;
  isReady(): boolean;
}

export async function mlflowRoutes(app: FastifyInstance, deps: MlflowRouteDeps): Promise<void> {
  const served = invocationsModel(deps.served.model);
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
    scope.post(
      "/invocations",
      {
        schema: {
          summary: "MLflow's scoring protocol (mlflow models serve): JSON or CSV in, {predictions} out",
          hide: false,
        },
      },
      async (request) => {
        const { values, rows } = invocationsRows(
          request.body as Buffer | undefined,
          request.headers["content-type"],
          served,
          parseJson,
        );
        if (rows > deps.maxRequestRows) throw new TooManyRowsError(String(rows), String(deps.maxRequestRows));
        const timeoutMs = deadlineMs(
          deps,
          request.headers["x-request-timeout-ms"],
          "the X-Request-Timeout-Ms header",
        );
        request.forestdRows = rows;
        const outputs = rows === 0 ? null : (await scoreRows(deps, values, rows, false, timeoutMs)).outputs;
        return { predictions: outputs ? pyfuncAnswers(served.model, served.answer, outputs, rows) : [] };
      },
    );
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
    { schema: { summary: "The MLflow version that saved the model" } },
    async (_request, reply) => {
      reply.type("application/json");
      return mlflowInfoOf(deps.served.model)?.mlflowVersion ?? deps.version;
    },
  );
}
