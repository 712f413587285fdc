/**
 * Open Inference Protocol (KServe V2): server and model metadata, health, and infer with one
 * FP32/FP64 input tensor of shape [N, F] (data flat or nested); the output tensor is "predict".
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { columnLookup } from "../../model/index.js";
import { fastJsonBodies } from "../body-parser.js";
import { InvalidInputError, ModelNotFoundError, NotReadyError, TooManyRowsError } from "../errors.js";
import { ParsedTensor, parseInferBody, rowsLayout } from "../fast-rows.js";
import { inferJson, JSON_TYPE } from "../reply-json.js";
import { InferBody, InferResponse, ModelNameParams } from "../schemas.js";
import { deadlineMs, type ScoringDeps, scoreRows } from "../scoring.js";

export interface OipDeps extends ScoringDeps {
  version: string;
  isReady(): boolean;
}

type InferRequest = {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: {
    name: string;
    shape: number[];
    datatype: string;
    data: unknown[];
    parameters?: Record<string, unknown>;
  }[];
};

/** Flat or nested tensor data → float32 rows, with the offending index named on error. */
export function tensorToRows(
  input: InferRequest["inputs"][number],
  numFeature: number,
  maxRows: number,
): { values: Float32Array; rows: number } {
  const shape = input.shape;
  const rows = shape.length === 2 ? shape[0] : 1;
  const cols = shape.length === 2 ? shape[1] : shape[0];
  if (cols !== numFeature) {
    throw new InvalidInputError(
      `input "${input.name}" has shape [${shape.join(", ")}]; the model takes [N, ${numFeature}]`,
    );
  }
  if (rows === 0) throw new InvalidInputError(`input "${input.name}" has no rows`);
  if (rows > maxRows) throw new TooManyRowsError(String(rows), String(maxRows));
  const values = new Float32Array(rows * cols);
  let at = 0;
  const take = (v: unknown, where: string) => {
    if (at >= values.length)
      throw new InvalidInputError(`input "${input.name}" has more data than its shape [${shape.join(", ")}]`);
    if (typeof v === "number") {
      if (!Number.isFinite(v))
        throw new InvalidInputError(`input "${input.name}" data${where}: ${v} is out of range`);
      values[at++] = v;
    } else if (v === null) values[at++] = Number.NaN;
    else
      throw new InvalidInputError(`input "${input.name}" data${where}: expected a number, got ${typeof v}`);
  };
  const data = input.data;
  for (let i = 0; i < data.length; i++) {
    const item = data[i];
    if (Array.isArray(item)) {
      for (let j = 0; j < item.length; j++) {
        if (Array.isArray(item[j]))
          throw new InvalidInputError(`input "${input.name}" data[${i}][${j}]: nested deeper than [N, F]`);
        take(item[j], `[${i}][${j}]`);
      }
    } else take(item, `[${i}]`);
  }
  if (at !== values.length) {
    throw new InvalidInputError(
      `input "${input.name}" has ${at} values; shape [${shape.join(", ")}] needs ${values.length}`,
    );
  }
  return { values, rows };
}

export async function oipRoutes(app: FastifyInstance, deps: OipDeps): Promise<void> {
  const { served } = deps;
  const checkName = (request: FastifyRequest) => {
    const { name } = request.params as { name: string };
    if (name !== served.name) throw new ModelNotFoundError(name.slice(0, 128), served.name);
  };

  app.get("/v2", { schema: { summary: "OIP server metadata" } }, async () => ({
    name: "forestd",
    version: deps.version,
    extensions: [],
  }));
  app.get("/v2/health/live", { schema: { summary: "OIP liveness" } }, async () => ({ live: true }));
  app.get("/v2/health/ready", { schema: { summary: "OIP readiness" } }, async () => {
    if (!deps.isReady()) throw new NotReadyError("not ready");
    return { ready: true };
  });
  app.get(
    "/v2/models/:name",
    { schema: { summary: "OIP model metadata", params: ModelNameParams } },
    async (request) => {
      checkName(request);
      const width = served.model.numOutputs;
      return {
        name: served.name,
        versions: [served.sha256.slice(0, 12)],
        platform: "xgboost",
        inputs: [{ name: "input-0", datatype: "FP32", shape: [-1, served.model.numFeature] }],
        outputs: [{ name: "predict", datatype: "FP32", shape: width === 1 ? [-1] : [-1, width] }],
      };
    },
  );
  app.get(
    "/v2/models/:name/ready",
    { schema: { summary: "OIP model readiness", params: ModelNameParams } },
    async (request) => {
      checkName(request);
      if (!deps.isReady()) throw new NotReadyError("not ready");
      return { name: served.name, ready: true };
    },
  );
  // Its own scope: the fast body parser (the tensor straight into a Float32Array) is for this route only.
  const answerAs = { name: served.name, version: served.sha256.slice(0, 12) };
  const layout = rowsLayout(served.model.numFeature, columnLookup(served.model), deps.maxRequestRows);
  await app.register(async (scope) => {
    fastJsonBodies(scope, (text) => parseInferBody(text, layout));
    scope.post(
      "/v2/models/:name/infer",
      {
        schema: {
          summary: "OIP inference",
          params: ModelNameParams,
          body: InferBody,
          response: { 200: InferResponse },
        },
        serializerCompiler: () => JSON.stringify,
      },
      async (request, reply) => {
        checkName(request);
        const body = request.body as InferRequest;
        const input = body.inputs[0];
        const timeoutMs = deadlineMs(
          deps,
          body.parameters?.timeout ?? request.headers["x-request-timeout-ms"],
          "parameters.timeout",
        );
        // Rows fast-rows.ts read (a valid [N, F] tensor only), or the JSON.parse'd tensor.
        const { values, rows } =
          body instanceof ParsedTensor
            ? body
            : tensorToRows(input, served.model.numFeature, deps.maxRequestRows);
        request.forestdRows = rows;
        const margin = body.parameters?.output === "margin";
        const { outputs, width } = await scoreRows(deps, values, rows, margin, timeoutMs);
        reply.type(JSON_TYPE);
        return inferJson(answerAs, body.id, outputs, rows, width);
      },
    );
  });
}
