/**
 * POST /predict/{name} (and /predict/{name}/versions/{version}; POST /predict for the default
 * model) — {"instances": [row, ...]} → {"predictions": [...]}; a bare row object →
 * {"prediction": ...}. `?output=` picks what each row gets (model/outputs.ts): prediction (default),
 * margin, proba, label, or an explanation (contribs, interactions, leaf: XGBoost's shapes, per row).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { answersFor, fromMargins, rowsToArray } from "../../../model/index.js";
import {
  explainShape,
  isExplainKind,
  isOutputKind,
  OUTPUT_KINDS,
  type OutputKind,
  outputUnavailable,
  predictionsAreValues,
  toNested,
} from "../../../model/outputs.js";
import type { ModelEntry, ModelTable } from "../../scoring/model-table.js";
import { fastJsonBodies } from "../body-parser.js";
import { InvalidInputError, TooManyRowsError } from "../errors.js";
import { ParsedRows, parsePredictBody } from "../fast-rows.js";
import { modelOf, resolveModelHook } from "../model-route.js";
import { JSON_TYPE, predictionsJson } from "../reply-json.js";
import { batchOf, isPlainObject } from "../request-rows.js";
import { ErrorResponse, PredictBody, PredictQuery, PredictResponse } from "../schemas.js";
import { deadlineMs, explainRows, scoreRows } from "../scoring.js";

const SUMMARIES: Record<string, string> = {
  "/predict": "Predict with the default model, for one row or a batch of rows",
  "/predict/:name": "Predict with a model, for one row or a batch of rows",
  "/predict/:name/versions/:version": "Predict with one version of a model",
};

export async function predictRoutes(app: FastifyInstance, table: ModelTable): Promise<void> {
  const resolve = resolveModelHook(table);
  // Its own scope: the fast body parser (rows straight into a typed array) is for these routes only.
  await app.register(async (scope) => {
    fastJsonBodies(scope, (body, request) => {
      const entry = request.forestdModel;
      return entry ? parsePredictBody(body, entry.layout) : null;
    });
    for (const path of Object.keys(SUMMARIES)) {
      scope.post(
        path,
        {
          schema: {
            summary: SUMMARIES[path],
            body: PredictBody,
            querystring: PredictQuery,
            response: { 200: PredictResponse, "4xx": ErrorResponse, "5xx": ErrorResponse },
          },
          // Rows are checked by writeRow, whose errors name the row and the feature; the schema
          // above documents the shape for /openapi.json. Answers are written by reply-json.ts.
          validatorCompiler: ({ httpPart }) => (httpPart === "querystring" ? validateQuery : () => true),
          serializerCompiler: () => JSON.stringify,
          preParsing: resolve,
        },
        async (request, reply) => predict(modelOf(request), request, reply),
      );
    }
  });
}

async function predict(deps: ModelEntry, request: FastifyRequest, reply: FastifyReply) {
  const model = deps.served.model;
  const columns = deps.columns;
  const body = request.body;
  const output = (request.query as { output?: OutputKind }).output ?? "prediction";
  const problem = outputUnavailable(model, output);
  if (problem) throw new InvalidInputError(problem);
  // Rows fast-rows.ts read (valid ones only, already float32), or a JSON.parse'd body.
  const batch = body instanceof ParsedRows ? body : batchOf(body);
  const rows = batch instanceof ParsedRows ? batch.rows : batch.instances.length;
  if (rows > deps.maxRequestRows) throw new TooManyRowsError(String(rows), String(deps.maxRequestRows));
  const timeoutMs = deadlineMs(
    deps,
    request.headers["x-request-timeout-ms"],
    "the X-Request-Timeout-Ms header",
  );
  const values = batch instanceof ParsedRows ? batch.values : rowsToArray(model, batch.instances, columns);
  request.forestdRows = rows;
  // Explanations, labels, probabilities and answers that are not the predictions themselves
  // (a class label, a binary classifier's positive column) are plain objects through
  // JSON.stringify. The common answer, numbers per row, is written by reply-json.ts.
  if (isExplainKind(output)) {
    const outputs = await explainRows(deps, values, rows, output, timeoutMs);
    const json = toNested(outputs, rows, explainShape(model, output));
    return batch.single ? { prediction: json[0] } : { predictions: json };
  }
  if (output === "label" || output === "proba" || !predictionsAreValues(model)) {
    const { outputs } = await scoreRows(deps, values, rows, fromMargins(output), timeoutMs);
    const json = answersFor(model, output, outputs, rows, deps.served.labels);
    return batch.single ? { prediction: json[0] } : { predictions: json };
  }
  const { outputs, width } = await scoreRows(deps, values, rows, output === "margin", timeoutMs);
  reply.type(JSON_TYPE);
  return predictionsJson(outputs, width, batch.single);
}

function validateQuery(query: unknown): { value: unknown } | { error: Error } {
  const output = isPlainObject(query) ? query.output : undefined;
  if (output === undefined || isOutputKind(output)) return { value: query };
  return {
    error: new InvalidInputError(
      `query "output" must be one of ${OUTPUT_KINDS.join(", ")}; got "${String(output).slice(0, 40)}"`,
    ),
  };
}
