/**
 * Open Inference Protocol (KServe V2, kserve/open-inference-protocol's open_inference_rest.yaml):
 * server and model metadata, health, the models list, and infer, for every model the worker serves
 * and each of its versions (`/v2/models/{name}[/versions/{version}]/...`; without a version, the
 * one the version policy makes the default). Inputs (tensors.ts): one tensor of shape [N, F], or
 * one tensor per input column by name, of any of the protocol's datatypes, or (ONNX graphs) one
 * tensor per graph input by name, [N, width], in its type's datatype (model metadata lists them). A model's output tensor is
 * "predict" unless the request names others (`outputs: [{"name": ...}]`, any of OUTPUT_NAMES) or
 * one through `parameters.output` (margin, label, contribs, interactions, leaf). A model whose
 * family has its own output tensors (an ONNX graph's `label`, `probabilities`, `variable`, or
 * skl2onnx's `output_label` / `output_probability`: the head's outputTensors) answers with those,
 * so onnxruntime and Triton clients read them unchanged; a ZipMap output is sent as the
 * [N, classes] tensor it packages.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { featureNames, type InputTensor } from "../../../model/index.js";
import {
  explainPrecision,
  explainShape,
  isExplainKind,
  isOutputKind,
  labelsOf,
  OUTPUT_KINDS,
  type OutputKind,
  outputUnavailable,
} from "../../../model/outputs.js";
import { vocabularies } from "../../../model/rows.js";
import type { ModelEntry, ModelTable } from "../../scoring/model-table.js";
import type { Numbers } from "../../scoring/protocol.js";
import { readAlignedBody } from "../binary-body.js";
import {
  BinaryInferRequest,
  HEADER_LENGTH,
  OCTET_STREAM,
  parseBinaryBody,
  readRawInputs,
  type TensorData,
  tensorBytes,
  wantsBinary,
} from "../binary-data.js";
import { fastJsonBodies } from "../body-parser.js";
import { InvalidInputError, NotReadyError } from "../errors.js";
import { ParsedTensor, parseInferBody } from "../fast-rows.js";
import { modelOf, resolveModelHook } from "../model-route.js";
import { inferJson, JSON_TYPE } from "../reply-json.js";
import type { InferRequest } from "../request-rows.js";
import { InferBody, InferResponse, ModelNameParams, ModelVersionParams } from "../schemas.js";
import { deadlineMs, explainRows, scoreRows } from "../scoring.js";
import type { ServedModel } from "../served-model.js";
import { parseExactJson, readInputs } from "../tensors.js";

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
      // Explanations in their own type: LightGBM's contributions are float64, the others float32.
      return {
        name,
        datatype: explainPrecision(model, name) === "f64" ? "FP64" : "FP32",
        rowShape: explainShape(model, name),
      };
  }
}

/** Labels are names with CLASS_NAMES or when the model's own classes are strings, else numbers. */
function labelled(served: ServedModel): boolean {
  return served.labels.classNames !== null || served.model.classLabels.some((c) => typeof c === "string");
}

export interface OipDeps {
  table: ModelTable;
  version: string;
  isReady(): boolean;
}

/** The routes of a model, with and without a version: `/v2/models/:name` and `/v2/models/:name/versions/:version`. */
function modelPaths(suffix: string): string[] {
  return [`/v2/models/:name${suffix}`, `/v2/models/:name/versions/:version${suffix}`];
}

export async function oipRoutes(app: FastifyInstance, deps: OipDeps): Promise<void> {
  const { table } = deps;
  // Resolved before the body is read, so that an unknown model or version is a 404 whatever the
  // body, and the fast reader knows the model's columns.
  const resolve = resolveModelHook(table);

  const serverMetadata = async () => ({ name: "forestd", version: deps.version, extensions: [] });
  // The protocol's OpenAPI file names the route `/v2/`; its text says `v2`: both answer.
  app.get("/v2", { schema: { summary: "OIP server metadata" } }, serverMetadata);
  app.get("/v2/", { schema: { hide: true } }, serverMetadata);
  app.get("/v2/health/live", { schema: { summary: "OIP liveness" } }, async () => ({ live: true }));
  app.get("/v2/health/ready", { schema: { summary: "OIP readiness" } }, async () => {
    if (!deps.isReady()) throw new NotReadyError("not ready");
    return { ready: true };
  });
  app.get(
    "/v2/models",
    {
      schema: { summary: "The models served (KServe's list), and every model version known with its state" },
    },
    async () => ({ models: table.names(), index: table.index() }),
  );
  for (const path of modelPaths("")) {
    app.get(
      path,
      {
        schema: {
          summary: "OIP model metadata",
          params: path.includes(":version") ? ModelVersionParams : ModelNameParams,
        },
        preParsing: resolve,
      },
      async (request) => metadata(table, modelOf(request)),
    );
  }
  for (const path of modelPaths("/ready")) {
    app.get(
      path,
      {
        schema: {
          summary: "OIP model readiness",
          params: path.includes(":version") ? ModelVersionParams : ModelNameParams,
        },
        preParsing: resolve,
      },
      async (request) => {
        if (!deps.isReady()) throw new NotReadyError("not ready");
        return { name: modelOf(request).served.name, ready: true };
      },
    );
  }
  // Its own scope: the fast body parser (the tensor straight into a typed array) is for this route only.
  await app.register(async (scope) => {
    fastJsonBodies(
      scope,
      (body, request) => {
        // Triton's clients may send a binary-data body as JSON's media type: the header says which.
        const headerLength = request.headers[HEADER_LENGTH];
        if (headerLength !== undefined) return parseBinaryBody(body, headerLength, parseExactJson);
        const entry = request.forestdModel;
        return entry ? parseInferBody(body, entry.layout) : null;
      },
      // INT64 and UINT64 beyond 2^53 kept exact (as BigInt), from their own digits.
      (body) => (body.includes("INT64") ? parseExactJson(body.toString("utf8")) : undefined),
    );
    // The binary data extension's own media type: a JSON header, then raw tensors (binary-data.ts).
    // Read so that the tensors start aligned, large bodies in shared memory (binary-body.ts).
    scope.addContentTypeParser(OCTET_STREAM, (request, payload, done) => {
      readAlignedBody(request, payload, (error, body) => {
        if (error) return done(error, undefined);
        try {
          done(null, parseBinaryBody(body as Buffer, request.headers[HEADER_LENGTH], parseExactJson));
        } catch (error) {
          done(error as Error, undefined);
        }
      });
    });
    for (const path of modelPaths("/infer")) {
      scope.post(
        path,
        {
          schema: {
            summary: "OIP inference",
            params: path.includes(":version") ? ModelVersionParams : ModelNameParams,
            body: InferBody,
            response: { 200: InferResponse },
          },
          serializerCompiler: () => JSON.stringify,
          preParsing: resolve,
        },
        async (request, reply) => infer(modelOf(request), request, reply),
      );
    }
  });
}

/** The OIP datatype of each input tensor type (onnxruntime's tensor(float), tensor(string), ...). */
const TENSOR_DATATYPES: Readonly<Record<InputTensor["type"], string>> = {
  float: "FP32",
  double: "FP64",
  int64: "INT64",
  int32: "INT32",
  string: "BYTES",
};

/** The model metadata object of one version (its name, every version served, inputs, outputs). */
export function metadata(table: ModelTable, entry: ModelEntry) {
  const { served } = entry;
  const model = served.model;
  const versions = table
    .entries()
    .filter((e) => e.served.name === served.name)
    .map((e) => e.served.version)
    .sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  const float = model.rowPrecision === "f64" ? "FP64" : "FP32";
  const vocab = vocabularies(model);
  const tensors = model.inputTensors;
  // A model with input tensors of its own (an ONNX graph's inputs) takes those, in their types; one
  // with string columns one tensor per column (BYTES for those); else the rows as one tensor.
  const inputs = tensors
    ? tensors.map((t) => ({ name: t.name, datatype: TENSOR_DATATYPES[t.type], shape: [-1, t.width] }))
    : vocab.some((v) => v !== null)
      ? featureNames(model).map((name, i) => ({ name, datatype: vocab[i] ? "BYTES" : float, shape: [-1, 1] }))
      : [{ name: model.inputTensor ?? "input-0", datatype: float, shape: [-1, model.numFeature] }];
  const own = model.head.outputTensors;
  return {
    name: served.name,
    versions,
    platform: model.format,
    inputs,
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
}

async function infer(deps: ModelEntry, request: FastifyRequest, reply: FastifyReply) {
  const { served } = deps;
  const body = request.body as InferRequest | ParsedTensor | BinaryInferRequest;
  // A bare tensor (no parameters, no outputs) fast-rows.ts read straight into typed rows, a request
  // with binary data (binary-data.ts), or the JSON.parse'd request.
  const fast = body instanceof ParsedTensor ? body : null;
  const binary = body instanceof BinaryInferRequest ? body : null;
  const slow = fast ? null : (body as InferRequest);
  const timeoutMs = deadlineMs(
    deps,
    slow?.parameters?.timeout ?? request.headers["x-request-timeout-ms"],
    "parameters.timeout",
  );
  const { values, rows } =
    fast ??
    (binary
      ? readRawInputs(
          served.model,
          deps.columns,
          binary.rawInputs(),
          deps.maxRequestRows,
          binary.parameters?.content_type,
        )
      : readInputs(
          served.model,
          deps.columns,
          (slow as InferRequest).inputs,
          deps.maxRequestRows,
          slow?.parameters?.content_type,
        ));
  request.forestdRows = rows;
  if (fast && !served.model.head.outputTensors) {
    // The common request, scored and written without building arrays. (A family with tensors of its
    // own, an ONNX graph's, answers with those: below, as any request.)
    const { outputs, width } = await scoreRows(deps, values, rows, false, timeoutMs);
    reply.type(JSON_TYPE);
    return inferJson({ name: served.name, version: served.version }, fast.id, outputs, rows, width);
  }
  // A fast-read body has no outputs or parameters: only its id.
  const req: InferRequest = slow ?? { id: fast?.id, inputs: [] };
  const outputs = await inferOutputs(deps, req, values, rows, timeoutMs);
  const answer = {
    model_name: served.name,
    model_version: served.version,
    ...(req.id !== undefined ? { id: req.id } : {}),
  };
  if (slow && outputs.some((o) => wantsBinary(slow, o.name))) {
    const { payload, headerLength } = binaryAnswer(answer, outputs, slow);
    reply.type(OCTET_STREAM).header(HEADER_LENGTH, String(headerLength));
    return payload;
  }
  return { ...answer, outputs: outputs.map((o) => ({ ...o, data: Array.from(o.data) })) };
}

/** One output tensor of an infer answer, its values typed where the datatype allows. */
export interface OutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: TensorData;
}

/**
 * A request's outputs, for rows already read: the family's own tensors, else those the request
 * names (outputs[].name, parameters.output; "predict" by default). Every path that infers (JSON,
 * binary REST, gRPC) comes through here, so they score through the same queue and answer alike.
 */
export async function inferOutputs(
  deps: ModelEntry,
  req: Pick<InferRequest, "outputs" | "parameters">,
  values: Numbers,
  rows: number,
  timeoutMs: number,
): Promise<OutputTensor[]> {
  const { served } = deps;
  if (served.model.head.outputTensors) return ownOutputs(deps, req.outputs, values, rows, timeoutMs);
  const names = requestedOutputs(served, req);
  // Scores once for every output derived from margins; each explanation is its own pool task.
  // A task takes its rows' buffer (transferred to the thread), so all but the last get a copy.
  const needsMargins = names.some((n) => !isExplainKind(n));
  let tasksLeft = names.filter(isExplainKind).length + (needsMargins ? 1 : 0);
  const rowsForTask = () => (--tasksLeft === 0 ? values : values.slice());
  // "predict" alone needs no margins: the batcher's predictions are the answer, as the fast path's.
  if (names.length === 1 && names[0] === "predict") {
    const meta = outputMeta(served, "predict");
    const { outputs } = await scoreRows(deps, values, rows, false, timeoutMs);
    return [{ name: "predict", datatype: meta.datatype, shape: [rows, ...meta.rowShape], data: outputs }];
  }
  const margins = needsMargins ? (await scoreRows(deps, rowsForTask(), rows, true, timeoutMs)).outputs : null;
  const outputs: OutputTensor[] = [];
  for (const name of names) {
    const meta = outputMeta(served, name);
    let data: TensorData;
    if (isExplainKind(name)) data = await explainRows(deps, rowsForTask(), rows, name, timeoutMs);
    else data = fromMargins(served, name, margins as Numbers, rows);
    outputs.push({ name, datatype: meta.datatype, shape: [rows, ...meta.rowShape], data });
  }
  return outputs;
}

/** The answer with outputs asked for as bytes: its JSON header, then those outputs' bytes in order. */
function binaryAnswer(
  answer: { model_name: string; model_version: string; id?: string },
  outputs: OutputTensor[],
  req: InferRequest,
): { payload: Buffer; headerLength: number } {
  const parts: Buffer[] = [];
  const described = outputs.map((o) => {
    if (!wantsBinary(req, o.name)) return { ...o, data: Array.from(o.data) };
    const bytes = tensorBytes(o.datatype, o.data);
    parts.push(bytes);
    return {
      name: o.name,
      datatype: o.datatype,
      shape: o.shape,
      parameters: { binary_data_size: bytes.length },
    };
  });
  const header = Buffer.from(JSON.stringify({ ...answer, outputs: described }), "utf8");
  return { payload: Buffer.concat([header, ...parts]), headerLength: header.length };
}

/** The outputs a request asks for: `outputs[].name`, else `parameters.output`, else "predict". */
function requestedOutputs(
  served: ServedModel,
  body: Pick<InferRequest, "outputs" | "parameters">,
): OutputName[] {
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
function fromMargins(served: ServedModel, name: OutputName, margins: Numbers, rows: number): TensorData {
  const model = served.model;
  switch (name) {
    case "margin":
      return margins;
    case "label":
      return labelsOf(served.model, margins, rows, served.labels);
    case "predict_proba":
      // Every class's probability per row, as scikit-learn's predict_proba.
      return model.head.probabilities(model.transform(margins, rows), rows);
    default:
      return model.transform(margins, rows);
  }
}

/** OIP datatype of a model's own labels: BYTES for strings, INT64 for integers. */
function labelDatatype(labels: readonly (string | number)[]): string {
  return typeof labels[0] === "string" ? "BYTES" : "INT64";
}

/** The family's own output tensors (those asked for, else all), from one scoring of margins. */
async function ownOutputs(
  deps: ModelEntry,
  requested: InferRequest["outputs"],
  values: Numbers,
  rows: number,
  timeoutMs: number,
): Promise<OutputTensor[]> {
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
      data: scores,
    };
  });
}
