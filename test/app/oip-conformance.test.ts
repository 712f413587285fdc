/**
 * The Open Inference Protocol, held to its own specification: every route the published OpenAPI
 * file names (third_party/open-inference-protocol/open_inference_rest.yaml, vendored unchanged with
 * its licence), and the unversioned forms its text allows, is requested of a worker app serving an
 * XGBoost and an ONNX model with versions, an ONNX graph of several inputs (one tensor each, BYTES
 * among them) and a LightGBM model (its FP64 contributions); each answer is validated against the file's own schema
 * for it (errors against its *_error_response schemas). The requests themselves are checked against
 * its inference_request schema, so the test cannot drift from what a conforming client sends.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import t from "tap";
import { parse as parseYaml } from "yaml";
import { loadModel } from "../../model/index.js";
import { modelSpec, testApp } from "../helpers/app.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";

const SPEC_FILE = join(ROOT, "third_party", "open-inference-protocol", "open_inference_rest.yaml");
interface Operation {
  responses?: Record<string, { content?: { "application/json"?: { schema?: { $ref: string } } } }>;
  requestBody?: { content: { "application/json": { schema: { $ref: string } } } };
}
const spec = parseYaml(readFileSync(SPEC_FILE, "utf8")) as {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

// OpenAPI 3.0's schema objects are JSON Schema plus annotations ajv does not know (x-examples).
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema({ $id: "oip.json", components: spec.components });
function check(schemaRef: string, value: unknown): string[] {
  const validate = ajv.getSchema(`oip.json${schemaRef}`);
  if (!validate) throw new Error(`no schema ${schemaRef} in the spec`);
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

const xgbFile = join(FIXTURES, "binary_logistic.json");
const onnxFile = join(ROOT, "test", "fixtures", "onnx", "rf_multiclass_strings.onnx");
const onnxWidth = loadModel(onnxFile).numFeature;
// An ONNX graph of several inputs (a string one two columns wide, an int64, a float), sent as one
// tensor each; and a LightGBM model, whose contributions are an FP64 tensor.
const graphFile = join(ROOT, "test", "fixtures", "onnx", "graphs", "coltrans_ordinal_int64.onnx");
const lightgbmFile = join(ROOT, "test", "fixtures", "lightgbm", "binary.txt");
const graphRequest = {
  id: "g",
  inputs: [
    { name: "labels", shape: [2, 2], datatype: "BYTES", data: ["S", "round", "XL", "oval"] },
    { name: "count", shape: [2, 1], datatype: "INT64", data: [2, 20] },
    { name: "weight", shape: [2, 1], datatype: "FP32", data: [2.1877, 0.8578] },
  ],
};
const lightgbmRequest = {
  inputs: [{ name: "x", shape: [1, 6], datatype: "FP64", data: [0.5, -1, 2, 0, 1e-3, 7] }],
  outputs: [{ name: "contribs" }, { name: "predict" }],
};

t.test("every route of the spec answers what its schema says", async (t) => {
  const { app, close } = await testApp(
    [],
    {},
    {
      models: [
        modelSpec(xgbFile, "churn", { version: "1", isDefault: false }),
        modelSpec(join(FIXTURES, "binary_logistic.ubj"), "churn", { version: "2", isDefault: true }),
        modelSpec(onnxFile, "iris"),
        modelSpec(graphFile, "shapes"),
        modelSpec(lightgbmFile, "lgbm"),
      ],
    },
  );
  t.teardown(close);
  const irisVersion = (await app.inject("/v2/models/iris")).json().versions[0] as string;
  const shapesVersion = (await app.inject("/v2/models/shapes")).json().versions[0] as string;
  const requests: Record<string, unknown>[] = [
    {
      id: "42",
      inputs: [
        { name: "input-0", shape: [2, 6], datatype: "FP32", data: [1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 1] },
      ],
    },
    {
      inputs: [{ name: "input-0", shape: [1, 6], datatype: "INT64", data: [[1, 2, 3, 4, 5, 6]] }],
      outputs: [{ name: "predict_proba" }, { name: "label" }],
    },
    {
      parameters: { content_type: "pd" },
      inputs: ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
        .filter((_, i) => i < 6)
        .map((name, i) => ({
          name: loadModel(xgbFile).featureNames[i] ?? name,
          shape: [2, 1],
          datatype: i % 2 ? "FP64" : "UINT8",
          data: [[i], [i + 1]],
        })),
    },
    {
      inputs: [{ name: "input-0", shape: [1, 6], datatype: "FP16", data: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] }],
      parameters: { output: "contribs" },
    },
  ];
  for (const body of [...requests, graphRequest, lightgbmRequest])
    t.same(check("#/components/schemas/inference_request", body), [], "a conforming request");

  const covered = new Set<string>();
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      if (method === "parameters") continue;
      covered.add(`${method.toUpperCase()} ${path}`);
      // Each spec path, for each model and version, and (the text allows it) without the version.
      const urls = [
        path.replace(/\$\{MODEL_NAME\}/, "churn").replace(/\$\{MODEL_VERSION\}/, "1"),
        path.replace(/\$\{MODEL_NAME\}/, "iris").replace(/\$\{MODEL_VERSION\}/, irisVersion),
        path.replace(/\$\{MODEL_NAME\}/, "shapes").replace(/\$\{MODEL_VERSION\}/, shapesVersion),
        path.replace(/\/versions\/\$\{MODEL_VERSION\}/, "").replace(/\$\{MODEL_NAME\}/, "lgbm"),
        path.replace(/\/versions\/\$\{MODEL_VERSION\}/, "").replace(/\$\{MODEL_NAME\}/, "churn"),
      ];
      for (const url of new Set(urls)) {
        const bodies =
          method === "post"
            ? url.includes("iris")
              ? [
                  {
                    inputs: [
                      { name: "x", shape: [1, onnxWidth], datatype: "FP32", data: Array(onnxWidth).fill(1) },
                    ],
                  },
                ]
              : url.includes("shapes")
                ? [graphRequest]
                : url.includes("lgbm")
                  ? [lightgbmRequest]
                  : requests
            : [undefined];
        for (const payload of bodies) {
          const r = await app.inject({
            method: method.toUpperCase() as "GET" | "POST",
            url,
            ...(payload ? { payload } : {}),
          });
          t.equal(r.statusCode, 200, `${method.toUpperCase()} ${url}: 200`);
          const ref = operation.responses?.["200"]?.content?.["application/json"]?.schema?.$ref;
          if (ref)
            t.same(check(ref, r.json()), [], `${method.toUpperCase()} ${url}: ${ref.split("/").at(-1)}`);
          if (payload && (payload as { id?: string }).id)
            t.equal(r.json().id, (payload as { id: string }).id, "the id echoed");
        }
      }
    }
  }
  t.same(
    [...covered].sort(),
    Object.keys(spec.paths)
      .flatMap((p) =>
        Object.keys(spec.paths[p])
          .filter((m) => m !== "parameters")
          .map((m) => `${m.toUpperCase()} ${p}`),
      )
      .sort(),
    "every route of the spec requested",
  );

  // Errors: the spec's error objects ({"error": "..."}), with forestd's code beside.
  const errors: [string, "GET" | "POST", unknown, string, number][] = [
    ["/v2/models/nope", "GET", undefined, "#/components/schemas/metadata_model_error_response", 404],
    [
      "/v2/models/churn/versions/9",
      "GET",
      undefined,
      "#/components/schemas/metadata_model_error_response",
      404,
    ],
    ["/v2/models/nope/infer", "POST", requests[0], "#/components/schemas/inference_error_response", 404],
    [
      "/v2/models/churn/infer",
      "POST",
      { inputs: [{ name: "x", shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }] },
      "#/components/schemas/inference_error_response",
      400,
    ],
    [
      "/v2/models/churn/infer",
      "POST",
      { inputs: [{ name: "x", shape: [1, 6], datatype: "UINT8", data: [1, 2, 3, 4, 5, 256] }] },
      "#/components/schemas/inference_error_response",
      400,
    ],
    [
      "/v2/models/churn/infer",
      "POST",
      { inputs: [{ name: "x", shape: [1, 6], datatype: "COMPLEX", data: [1, 2, 3, 4, 5, 6] }] },
      "#/components/schemas/inference_error_response",
      400,
    ],
  ];
  for (const [url, method, payload, ref, status] of errors) {
    const r = await app.inject({ method, url, ...(payload ? { payload: payload as object } : {}) });
    t.equal(r.statusCode, status, `${method} ${url}: ${status}`);
    t.same(check(ref, r.json()), [], `${method} ${url}: ${ref.split("/").at(-1)}`);
    t.match(
      r.json(),
      { error: /\S/, code: /^FORESTD_ERR_/ },
      "a message in `error`, forestd's code beside it",
    );
  }
});
