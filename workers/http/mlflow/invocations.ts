/**
 * POST /invocations as MLflow's scoring server answers it, minus the model: the Content-Type
 * decides how the body is read (content-type.ts), the body becomes a Frame (json-input.ts,
 * csv-input.ts), the Frame the model's rows (to-rows.ts); the route then scores them like any
 * other request and answers `{"predictions": [...]}` (answers.ts). Each step throws MLflow's
 * error (protocol.ts) for what it refuses.
 */
import type { Model, PyfuncAnswer, Rows } from "../../../model/index.js";
import { type MlflowInputs, mlflowInfoOf, mlflowInputs } from "../../../model/index.js";
import { invocationsMediaType } from "./content-type.js";
import { frameFromCsv } from "./csv-input.js";
import { frameFromJson, parseInvocationsJson } from "./json-input.js";
import { badRequest, CONTENT_TYPE_CSV } from "./protocol.js";
import { frameToRows } from "./to-rows.js";

/** What /invocations needs to know of the served model. */
export interface InvocationsModel {
  readonly model: Model;
  readonly inputs: MlflowInputs;
  readonly answer: PyfuncAnswer;
  /** The signature's inputs as MLflow prints them, for messages; null without one. */
  readonly schema: string | null;
}

/** An MLflow folder's model as its flavor serves it; any other model as its own predict answers. */
export function invocationsModel(model: Model): InvocationsModel {
  const mlflow = mlflowInfoOf(model);
  if (mlflow)
    return { model, inputs: mlflow.inputs, answer: mlflow.answer, schema: mlflow.signature?.inputs ?? null };
  return { model, inputs: mlflowInputs(null, model), answer: "prediction", schema: null };
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The body's rows for the model: rows × numFeature values, and how many rows. */
export function invocationsRows(
  body: Uint8Array | undefined,
  contentType: string | undefined,
  served: InvocationsModel,
  parseJson: (text: string) => unknown,
): { values: Rows; rows: number } {
  const media = invocationsMediaType(contentType);
  let text: string;
  try {
    text = UTF8.decode(body ?? new Uint8Array(0));
  } catch {
    throw badRequest("The request body is not UTF-8 text; the scoring server only supports UTF-8");
  }
  const frame =
    media === CONTENT_TYPE_CSV ? frameFromCsv(text) : frameFromJson(parseInvocationsJson(text, parseJson));
  return { values: frameToRows(frame, served.inputs, served.model, served.schema), rows: frame.height };
}
