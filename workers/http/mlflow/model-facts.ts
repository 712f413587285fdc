/** What /model reports of a model from an MLflow folder: its MLmodel's facts; null for any other. */
import { type Model, mlflowInfoOf } from "../../../model/index.js";

export function mlflowModelFacts(model: Model): Record<string, unknown> | null {
  const m = mlflowInfoOf(model);
  if (!m) return null;
  return {
    flavor: m.flavor,
    run_id: m.runId,
    mlflow_version: m.mlflowVersion,
    utc_time_created: m.utcTimeCreated,
    model_uuid: m.modelUuid,
    artifact_path: m.artifactPath,
    model_file: m.dataFile,
    ...m.details,
    pyfunc_answers: m.answer,
    best_iteration: m.bestIteration,
    signature: m.signature,
    columns: m.inputs.from === "model" ? null : m.inputs.columns,
    metadata: m.metadata,
  };
}
