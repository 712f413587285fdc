/**
 * Open Inference Protocol (KServe V2): server and model metadata, health, and infer with one
 * FP32/FP64 input tensor of shape [N, F] (data flat or nested). XGBoost models answer with one
 * output tensor, "predict"; ONNX models with the graph's own outputs (`label`, `probabilities`,
 * `variable`, or skl2onnx's `output_label` / `output_probability`), so onnxruntime and Triton
 * clients read them unchanged. A ZipMap output is sent as the [N, classes] tensor it packages.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { InvalidInputError, ModelNotFoundError, NotReadyError, TooManyRowsError } from "../errors.js";
import { InferBody, InferResponse, ModelNameParams } from "../schemas.js";
import { deadlineMs, type ScoringDeps, scoreRows } from "../scoring.js";

export interface OipDeps extends ScoringDeps {
  version: string;
  isReady(): boolean;
}

type InferRequest = {
  id?: string;
  outputs?: { name: string }[];
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
function tensorToRows(
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
      const onnx = served.info.onnx;
      if (onnx) {
        return {
          name: served.name,
          versions: [served.sha256.slice(0, 12)],
          platform: "onnx",
          inputs: [{ name: onnx.inputName, datatype: "FP32", shape: [-1, served.model.numFeature] }],
          outputs: onnx.outputs.map((o) => ({
            name: o.name,
            datatype: o.carries === "label" ? labelDatatype(served.model.classLabels) : "FP32",
            shape: o.carries === "label" ? [-1] : [-1, width],
          })),
        };
      }
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
  app.post(
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
    async (request) => {
      checkName(request);
      const body = request.body as InferRequest;
      const input = body.inputs[0];
      const timeoutMs = deadlineMs(
        deps,
        body.parameters?.timeout ?? request.headers["x-request-timeout-ms"],
        "parameters.timeout",
      );
      const { values, rows } = tensorToRows(input, served.model.numFeature, deps.maxRequestRows);
      request.forestdRows = rows;
      if (served.info.onnx) {
        const outputs = await onnxOutputs(deps, body, values, rows, timeoutMs);
        return {
          model_name: served.name,
          model_version: served.sha256.slice(0, 12),
          ...(body.id !== undefined ? { id: body.id } : {}),
          outputs,
        };
      }
      const margin = body.parameters?.output === "margin";
      const { outputs, width } = await scoreRows(deps, values, rows, margin, timeoutMs);
      return {
        model_name: served.name,
        model_version: served.sha256.slice(0, 12),
        ...(body.id !== undefined ? { id: body.id } : {}),
        outputs: [
          {
            name: "predict",
            datatype: "FP32",
            shape: width === 1 ? [rows] : [rows, width],
            data: Array.from(outputs),
          },
        ],
      };
    },
  );
}

/** OIP datatype of an ONNX classifier's labels: BYTES for strings, INT64 for integers. */
function labelDatatype(labels: readonly (string | number)[]): string {
  return typeof labels[0] === "string" ? "BYTES" : "INT64";
}

/** An ONNX model's graph outputs (those asked for, else all), from one scoring of margins. */
async function onnxOutputs(
  deps: OipDeps,
  body: InferRequest,
  values: Float32Array,
  rows: number,
  timeoutMs: number,
): Promise<{ name: string; datatype: string; shape: number[]; data: (number | string)[] }[]> {
  const model = deps.served.model;
  const graphOutputs = deps.served.info.onnx?.outputs ?? [];
  const asked = body.outputs?.map((o) => o.name);
  for (const name of asked ?? []) {
    if (!graphOutputs.some((o) => o.name === name)) {
      throw new InvalidInputError(
        `output "${String(name).slice(0, 80)}" is not one of the model's: ${graphOutputs.map((o) => o.name).join(", ")}`,
      );
    }
  }
  const wanted = asked ? graphOutputs.filter((o) => asked.includes(o.name)) : graphOutputs;
  // Labels come from the margins (as onnxruntime's); probabilities are their transform.
  const { outputs: margins } = await scoreRows(deps, values, rows, true, timeoutMs);
  return wanted.map((o) => {
    if (o.carries === "label") {
      return {
        name: o.name,
        datatype: labelDatatype(model.classLabels),
        shape: [rows],
        data: model.labels(margins, rows),
      };
    }
    const scores = model.transform(margins, rows);
    return { name: o.name, datatype: "FP32", shape: [rows, model.numOutputs], data: Array.from(scores) };
  });
}
