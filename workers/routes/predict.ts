/**
 * POST /predict — {"instances": [row, ...]} → {"predictions": [...]}; a bare row object →
 * {"prediction": ...}; `?output=margin` for raw margins, `?output=proba` for every class's
 * probability, `?output=label` for the model's class labels (model/outputs.ts).
 */
import type { FastifyInstance } from "fastify";
import {
  answersFor,
  columnLookup,
  fromMargins,
  isOutputKind,
  OUTPUT_KINDS,
  type OutputKind,
  outputUnavailable,
  rowsToFloat32,
} from "../../model/index.js";
import { InvalidInputError, TooManyRowsError } from "../errors.js";
import { ErrorResponse, PredictBody, PredictQuery, PredictResponse } from "../schemas.js";
import { deadlineMs, type ScoringDeps, scoreRows } from "../scoring.js";

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
      const kind: OutputKind = (request.query as { output?: OutputKind }).output ?? "prediction";
      const unavailable = outputUnavailable(model, kind);
      if (unavailable) throw new InvalidInputError(unavailable);
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
      const { outputs } = await scoreRows(deps, values, rows.length, fromMargins(kind), timeoutMs);
      const json = answersFor(model, kind, outputs, rows.length);
      return single ? { prediction: json[0] } : { predictions: json };
    },
  );
}

function validateQuery(query: unknown): { value: unknown } | { error: Error } {
  const output = isPlainObject(query) ? query.output : undefined;
  if (output === undefined || isOutputKind(output)) return { value: query };
  return {
    error: new InvalidInputError(
      `query "output" must be one of ${OUTPUT_KINDS.map((k) => `"${k}"`).join(", ")}, got "${String(output).slice(0, 40)}"`,
    ),
  };
}
