/**
 * POST /predict — {"instances": [row, ...]} → {"predictions": [...]}; a bare row object →
 * {"prediction": ...}. `?output=` picks what each row gets: prediction (default), margin, label,
 * or an explanation (contribs, interactions, leaf: XGBoost's shapes, per row).
 */
import type { FastifyInstance } from "fastify";
import { columnLookup, outputsToJson, rowsToFloat32 } from "../../model/index.js";
import { explainShape, isExplainKind, toNested } from "../../model/outputs.js";
import { InvalidInputError, TooManyRowsError } from "../errors.js";
import { ErrorResponse, PredictBody, PredictQuery, PredictResponse } from "../schemas.js";
import {
  deadlineMs,
  explainRows,
  isRouteOutput,
  labelRows,
  outputProblem,
  ROUTE_OUTPUTS,
  type RouteOutput,
  type ScoringDeps,
  scoreRows,
} from "../scoring.js";

const SHAPE = 'the body must be {"instances": [row, ...]} or a single row object keyed by feature name';

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export async function predictRoutes(app: FastifyInstance, deps: ScoringDeps): Promise<void> {
  const model = deps.served.model;
  const columns = columnLookup(model);
  app.post(
    "/predict",
    {
      schema: {
        summary: "Predict for one row or a batch of rows",
        body: PredictBody,
        querystring: PredictQuery,
        response: { 200: PredictResponse, "4xx": ErrorResponse, "5xx": ErrorResponse },
      },
      // Rows are checked by writeRow, whose errors name the row and the feature; the schema
      // above documents the shape for /openapi.json. Responses are plain JSON.stringify.
      validatorCompiler: ({ httpPart }) => (httpPart === "querystring" ? validateQuery : () => true),
      serializerCompiler: () => JSON.stringify,
    },
    async (request) => {
      const body = request.body;
      const output = (request.query as { output?: RouteOutput }).output ?? "prediction";
      const problem = outputProblem(deps.served, output);
      if (problem) throw new InvalidInputError(problem);
      let rows: unknown[];
      let single = false;
      if (isPlainObject(body) && Object.hasOwn(body, "instances")) {
        if (!Array.isArray(body.instances))
          throw new InvalidInputError(`"instances" must be an array of rows; ${SHAPE}`);
        if (body.instances.length === 0)
          throw new InvalidInputError('"instances" is empty: send at least one row');
        rows = body.instances;
      } else if (isPlainObject(body)) {
        rows = [body];
        single = true;
      } else {
        throw new InvalidInputError(SHAPE);
      }
      if (rows.length > deps.maxRequestRows)
        throw new TooManyRowsError(String(rows.length), String(deps.maxRequestRows));
      const timeoutMs = deadlineMs(
        deps,
        request.headers["x-request-timeout-ms"],
        "the X-Request-Timeout-Ms header",
      );
      const values = rowsToFloat32(model, rows, columns);
      request.forestdRows = rows.length;
      let json: unknown[];
      if (isExplainKind(output)) {
        const outputs = await explainRows(deps, values, rows.length, output, timeoutMs);
        json = toNested(outputs, rows.length, explainShape(model, output));
      } else if (output === "label") {
        const { outputs } = await scoreRows(deps, values, rows.length, true, timeoutMs);
        json = labelRows(deps.served, outputs, rows.length);
      } else {
        const { outputs, width } = await scoreRows(deps, values, rows.length, output === "margin", timeoutMs);
        json = outputsToJson(outputs, width);
      }
      return single ? { prediction: json[0] } : { predictions: json };
    },
  );
}

function validateQuery(query: unknown): { value: unknown } | { error: Error } {
  const output = isPlainObject(query) ? query.output : undefined;
  if (output === undefined || isRouteOutput(output)) return { value: query };
  return {
    error: new InvalidInputError(
      `query "output" must be one of ${ROUTE_OUTPUTS.join(", ")}; got "${String(output).slice(0, 40)}"`,
    ),
  };
}
