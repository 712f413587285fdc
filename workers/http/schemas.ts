/**
 * The HTTP API's shapes, in typebox, for validation where it is used and for /openapi.json.
 */
import { Type } from "typebox";
import { DATATYPES } from "./datatypes.js";

const Value = Type.Union([Type.Number(), Type.Null()], { description: "a feature value; null = missing" });
export const PositionalRow = Type.Array(Value, { description: "values in the model's feature order" });
export const NamedRow = Type.Record(Type.String(), Value, {
  description: "values keyed by feature name; absent = missing",
});
export const Row = Type.Union([PositionalRow, NamedRow]);

export const PredictBody = Type.Union([
  Type.Object({ instances: Type.Array(Row, { minItems: 1 }) }, { description: "a batch of rows" }),
  NamedRow,
]);
export const PredictQuery = Type.Object({
  output: Type.Optional(
    Type.Union(
      [
        Type.Literal("prediction"),
        Type.Literal("margin"),
        Type.Literal("proba"),
        Type.Literal("label"),
        Type.Literal("contribs"),
        Type.Literal("interactions"),
        Type.Literal("leaf"),
      ],
      {
        default: "prediction",
        description:
          "prediction (as XGBoost's predict; an ONNX binary classifier's P(positive)); margin (scores before the output transform); proba (every class's probability); label (the class: CLASS_NAMES, else its index, THRESHOLD splitting binary ones; an ONNX classifier's own label); contribs (SHAP values as XGBoost's pred_contribs: F+1 per row, bias last, [K][F+1] for K classes); interactions (pred_interactions: [F+1][F+1], per class); leaf (pred_leaf: a leaf id per tree)",
      },
    ),
  ),
});
const Matrix = Type.Array(Type.Array(Type.Number()));
const Output = Type.Union(
  [Type.Number(), Type.String(), Type.Array(Type.Number()), Matrix, Type.Array(Matrix)],
  {
    description:
      "per row: a number (or a class label, string or integer, for label); an array for multi:softprob, multi-class margins, contribs and leaf; a matrix for multi-class contribs and for interactions; matrices per class for multi-class interactions",
  },
);
export const PredictResponse = Type.Union([
  Type.Object({ predictions: Type.Array(Output) }),
  Type.Object({ prediction: Output }),
]);

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: "FORESTD_ERR_*: stable, for clients to branch on" }),
  error: Type.String(),
  message: Type.String(),
  row: Type.Optional(Type.Integer()),
  field: Type.Optional(Type.String()),
  requestId: Type.String({ description: "the request's X-Request-Id (the caller's, or one made for it)" }),
});

/**
 * Open Inference Protocol (KServe V2) request: one tensor of shape [N, F] (or [F]), or one tensor
 * per input column by name, each [N] or [N, 1], of any of the protocol's datatypes (BYTES for string
 * columns). parameters.content_type "pd" (MLServer's pandas codec: columns) or "np" (one tensor).
 */
export const InferBody = Type.Object({
  id: Type.Optional(Type.String({ maxLength: 256 })),
  parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  inputs: Type.Array(
    Type.Object({
      name: Type.String({ maxLength: 256 }),
      shape: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, maxItems: 2 }),
      datatype: Type.Union(DATATYPES.map((d) => Type.Literal(d))),
      data: Type.Array(Type.Unknown()),
      parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
    { minItems: 1, maxItems: 65_536 },
  ),
  outputs: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String({
          maxLength: 64,
          description: "predict, predict_proba, margin, label, contribs, interactions or leaf",
        }),
      }),
      { maxItems: 16 },
    ),
  ),
});

export const InferResponse = Type.Object({
  model_name: Type.String(),
  model_version: Type.Optional(Type.String()),
  id: Type.Optional(Type.String()),
  outputs: Type.Array(
    Type.Object({
      name: Type.String(),
      datatype: Type.String(),
      shape: Type.Array(Type.Integer()),
      data: Type.Array(Type.Union([Type.Number(), Type.String()]), {
        description: "row-major; strings for label when classes have names (BYTES)",
      }),
    }),
  ),
});

export const ModelNameParams = Type.Object({ name: Type.String({ maxLength: 256 }) });
export const ModelVersionParams = Type.Object({
  name: Type.String({ maxLength: 256 }),
  version: Type.String({ maxLength: 64 }),
});
