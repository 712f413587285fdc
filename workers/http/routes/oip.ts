/**
 * Open Inference Protocol (KServe V2): server and model metadata, health, and infer with one
 * FP32/FP64 input tensor of shape [N, F] (data flat or nested). A model's output tensor is
 * "predict" unless the request names others (`outputs: [{"name": ...}]`, any of OUTPUT_NAMES) or
 * one through `parameters.output` (margin, label, contribs, interactions, leaf). A model whose
 * family has its own output tensors (an ONNX graph's `label`, `probabilities`, `variable`, or
 * skl2onnx's `output_label` / `output_probability`: the head's outputTensors) answers with those,
 * so onnxruntime and Triton clients read them unchanged; a ZipMap output is sent as the
 * [N, classes] tensor it packages.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { columnLookup } from "../../../model/index.js";
import {
  explainShape,
  isExplainKind,
  isOutputKind,
  labelsOf,
  OUTPUT_KINDS,
  type OutputKind,
  outputUnavailable,
} from "../../../model/outputs.js";
import type { Numbers } from "../../scoring/protocol.js";
import { fastJsonBodies } from "../body-parser.js";
import { InvalidInputError, ModelNotFoundError, NotReadyError } from "../errors.js";
import { ParsedTensor, parseInferBody, rowsLayout } from "../fast-rows.js";
import { inferJson, JSON_TYPE } from "../reply-json.js";
import { type InferRequest, tensorToRows } from "../request-rows.js";
import { InferBody, InferResponse, ModelNameParams } from "../schemas.js";
import { deadlineMs, explainRows, type ScoringDeps, scoreRows } from "../scoring.js";
import type { ServedModel } from "../served-model.js";

/** Output tensors a request may name. */
export const OUTPUT_NAMES = [
  "predict",
  "predict_proba",
  "margin",
  "label",
  "contribs",
  "interactions",
  "leaf",
] as const;
type OutputName = (typeof OUTPUT_NAMES)[number];

interface OutputMeta {
  name: OutputName;
  datatype: "FP32" | "FP64" | "INT32" | "BYTES";
  /** Per-row shape; the tensor's is [N, ...this] (or [N] when empty). */
  rowShape: number[];
}

/** The output kind (model/outputs.ts) an OIP output name gives. */
function kindOf(name: OutputName): OutputKind {
  return name === "predict" || name === "predict_proba" ? "prediction" : name;
}

/** The OIP output name for a `parameters.output` kind: OIP's own names for predictions and probabilities. */
function nameOf(kind: OutputKind): OutputName {
  return kind === "prediction" ? "predict" : kind === "proba" ? "predict_proba" : kind;
}

/** Why this model cannot give `name`, or null. */
function oipOutputProblem(served: ServedModel, name: OutputName): string | null {
  if (name !== "predict_proba") return outputUnavailable(served.model, kindOf(name));
  return (
    outputUnavailable(served.model, "proba")?.replace('output "proba"', 'output "predict_proba"') ?? null
  );
}

/** An OIP datatype for numbers of the model's output type. */
function floatType(served: ServedModel): "FP32" | "FP64" {
  return served.model.outputPrecision === "f64" ? "FP64" : "FP32";
}

/** The tensor each output name gives for this model. */
function outputMeta(served: ServedModel, name: OutputName): OutputMeta {
  const model = served.model;
  const perRow = (w: number) => (w === 1 ? [] : [w]);
  switch (name) {
    case "predict":
      return { name, datatype: floatType(served), rowShape: perRow(model.numOutputs) };
    case "predict_proba":
      return { name, datatype: floatType(served), rowShape: [model.classLabels.length] };
    case "margin":
      return { name, datatype: floatType(served), rowShape: perRow(model.numMarginOutputs) };
    case "label":
      return {
        name,
        datatype: labelled(served) ? "BYTES" : "INT32",
        rowShape: [],
      };
    default:
      return { name, datatype: "FP32", rowShape: explainShape(model, name) };
  }
}

/** Labels are names with CLASS_NAMES or when the model's own classes are strings, else numbers. */
function labelled(served: ServedModel): boolean {
  return served.labels.classNames !== null || served.model.classLabels.some((c) => typeof c === "string");
}

export interface OipDeps extends ScoringDeps {
  version: string;
  isReady(): boolean;
}

export async function oipRoutes(app: FastifyInstance, deps: OipDeps): Promise<void> {
  const { served } = deps;
  // A preValidation hook, so that an unknown model is a 404 whatever the body (validated after).
  const checkName = async (request: FastifyRequest) => {
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
    { schema: { summary: "OIP model metadata", params: ModelNameParams }, preValidation: checkName },
    async () => {
      const model = served.model;
      const input = {
        name: model.inputTensor ?? "input-0",
        datatype: model.rowPrecision === "f64" ? "FP64" : "FP32",
        shape: [-1, model.numFeature],
      };
      const own = model.head.outputTensors;
      return {
        name: served.name,
        versions: [served.sha256.slice(0, 12)],
        platform: model.format,
        inputs: [input],
        // The family's own tensors, else every output this model can give ("predict" is the default).
        outputs: own
          ? own.map((o) => ({
              name: o.name,
              datatype: o.carries === "label" ? labelDatatype(model.classLabels) : floatType(served),
              shape: o.carries === "label" ? [-1] : [-1, model.numOutputs],
            }))
          : OUTPUT_NAMES.filter((name) => oipOutputProblem(served, name) === null).map((name) => {
              const meta = outputMeta(served, name);
              return { name, datatype: meta.datatype, shape: [-1, ...meta.rowShape] };
            }),
      };
    },
  );
  app.get(
    "/v2/models/:name/ready",
    { schema: { summary: "OIP model readiness", params: ModelNameParams }, preValidation: checkName },
    async () => {
      if (!deps.isReady()) throw new NotReadyError("not ready");
      return { name: served.name, ready: true };
    },
  );
  // Its own scope: the fast body parser (the tensor straight into a Float32Array) is for this route only.
  const answerAs = { name: served.name, version: served.sha256.slice(0, 12) };
  const layout = rowsLayout(
    served.model.numFeature,
    columnLookup(served.model),
    deps.maxRequestRows,
    served.model.rowPrecision,
  );
  await app.register(async (scope) => {
    fastJsonBodies(scope, (body) => parseInferBody(body, layout));
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
        preValidation: checkName,
      },
      async (request, reply) => {
        const body = request.body as InferRequest | ParsedTensor;
        // A bare tensor (no parameters, no outputs) fast-rows.ts read straight into float32 rows,
        // or the JSON.parse'd request.
        const fast = body instanceof ParsedTensor ? body : null;
        const timeoutMs = deadlineMs(
          deps,
          (fast ? undefined : (body as InferRequest).parameters?.timeout) ??
            request.headers["x-request-timeout-ms"],
          "parameters.timeout",
        );
        const { values, rows } =
          fast ??
          tensorToRows(
            (body as InferRequest).inputs[0],
            served.model.numFeature,
            deps.maxRequestRows,
            served.model.rowPrecision,
          );
        request.forestdRows = rows;
        if (served.model.head.outputTensors) {
          const outputs = await ownOutputs(
            deps,
            fast ? undefined : (body as InferRequest).outputs,
            values,
            rows,
            timeoutMs,
          );
          return {
            model_name: served.name,
            model_version: served.sha256.slice(0, 12),
            ...(body.id !== undefined ? { id: body.id } : {}),
            outputs,
          };
        }
        if (fast) {
          // The common request, scored and written without building arrays.
          const { outputs, width } = await scoreRows(deps, values, rows, false, timeoutMs);
          reply.type(JSON_TYPE);
          return inferJson(answerAs, fast.id, outputs, rows, width);
        }
        const names = requestedOutputs(served, body as InferRequest);
        // Scores once for every output derived from margins; each explanation is its own pool task.
        // A task takes its rows' buffer (transferred to the thread), so all but the last get a copy.
        const needsMargins = names.some((n) => !isExplainKind(n));
        let tasksLeft = names.filter(isExplainKind).length + (needsMargins ? 1 : 0);
        const rowsForTask = () => (--tasksLeft === 0 ? values : values.slice());
        const margins = needsMargins
          ? (await scoreRows(deps, rowsForTask(), rows, true, timeoutMs)).outputs
          : null;
        const outputs = [];
        for (const name of names) {
          const meta = outputMeta(served, name);
          let data: (number | string)[];
          if (isExplainKind(name))
            data = Array.from(await explainRows(deps, rowsForTask(), rows, name, timeoutMs));
          else data = fromMargins(served, name, margins as Numbers, rows);
          outputs.push({ name, datatype: meta.datatype, shape: [rows, ...meta.rowShape], data });
        }
        return {
          model_name: served.name,
          model_version: served.sha256.slice(0, 12),
          ...(body.id !== undefined ? { id: body.id } : {}),
          outputs,
        };
      },
    );
  });
}

/** The outputs a request asks for: `outputs[].name`, else `parameters.output`, else "predict". */
function requestedOutputs(served: ServedModel, body: InferRequest): OutputName[] {
  const known = (v: unknown): v is OutputName => OUTPUT_NAMES.includes(v as OutputName);
  let names: OutputName[];
  if (body.outputs && body.outputs.length > 0) {
    names = body.outputs.map(({ name }) => {
      if (!known(name))
        throw new InvalidInputError(
          `unknown output "${String(name).slice(0, 64)}"; outputs are ${OUTPUT_NAMES.join(", ")}`,
        );
      return name;
    });
    if (new Set(names).size !== names.length) throw new InvalidInputError("an output is named twice");
  } else {
    const output = body.parameters?.output;
    if (output === undefined) names = ["predict"];
    else if (isOutputKind(output)) names = [nameOf(output)];
    else
      throw new InvalidInputError(
        `parameters.output must be one of ${OUTPUT_KINDS.join(", ")}; got "${String(output).slice(0, 40)}"`,
      );
  }
  const problems = names.map((n) => oipOutputProblem(served, n)).filter((p) => p !== null);
  if (problems.length > 0) throw new InvalidInputError(problems.join("; "));
  return names;
}

/** predict, predict_proba, margin or label, from the rows' margins. */
function fromMargins(
  served: ServedModel,
  name: OutputName,
  margins: Numbers,
  rows: number,
): (number | string)[] {
  const model = served.model;
  switch (name) {
    case "margin":
      return Array.from(margins);
    case "label":
      return labelsOf(served.model, margins, rows, served.labels);
    case "predict_proba":
      // Every class's probability per row, as scikit-learn's predict_proba.
      return Array.from(model.head.probabilities(model.transform(margins, rows), rows));
    default:
      return Array.from(model.transform(margins, rows));
  }
}

/** OIP datatype of a model's own labels: BYTES for strings, INT64 for integers. */
function labelDatatype(labels: readonly (string | number)[]): string {
  return typeof labels[0] === "string" ? "BYTES" : "INT64";
}

/** The family's own output tensors (those asked for, else all), from one scoring of margins. */
async function ownOutputs(
  deps: OipDeps,
  requested: InferRequest["outputs"],
  values: Numbers,
  rows: number,
  timeoutMs: number,
): Promise<{ name: string; datatype: string; shape: number[]; data: (number | string)[] }[]> {
  const model = deps.served.model;
  const graphOutputs = model.head.outputTensors ?? [];
  const asked = requested?.map((o) => o.name);
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
    return {
      name: o.name,
      datatype: model.outputPrecision === "f64" ? "FP64" : "FP32",
      shape: [rows, model.numOutputs],
      data: Array.from(scores),
    };
  });
}
