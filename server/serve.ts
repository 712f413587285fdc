/** `forestd serve`: validates the settings (and a local model) once, then runs the primary. */
import { loadSettings, SettingsError, settingsHelp } from "../config/load-settings.js";
import { parseModelLocation } from "../config/model-location.js";
import { tracingConfig } from "../config/tracing.js";
import { loadModel } from "../model/index.js";
import { classNamesProblem } from "../model/outputs.js";
import { runPrimary } from "./arbiter.js";

export async function serve(args: string[]): Promise<number> {
  const sources = { argv: args, env: process.env, cwd: process.cwd() };
  const { settings, help } = await loadSettings(sources);
  if (help) {
    process.stdout.write(`${settingsHelp()}\n`);
    return 0;
  }
  // A local model that cannot load, or CLASS_NAMES that do not fit it, stop start-up here, with the
  // reason; a remote one is fetched once, by the primary, which stops start-up the same way if it
  // cannot fetch or load it or CLASS_NAMES do not fit.
  // (A repository's models are read by the primary, one by one: one that does not load is skipped.)
  if (settings.model_repository === "" && parseModelLocation(settings.model_path, "/").kind === "file")
    checkLocalModel(settings.model_path, settings.class_names);
  tracingConfig(process.env); // so do OTEL_* variables forestd cannot honour (SettingsError)
  return runPrimary(sources, settings);
}

/**
 * Loads the local model once to refuse it (or CLASS_NAMES that do not fit it) before start-up.
 * In a call of its own: a model held in serve's frame would stay alive as long as the primary runs
 * (an async function's suspended frame keeps its locals), the whole compiled model in a process
 * that never scores.
 */
function checkLocalModel(path: string, classNames: readonly string[]): void {
  const model = loadModel(path);
  const problem = classNames.length > 0 ? classNamesProblem(model, classNames) : null;
  if (problem) throw new SettingsError(problem);
}
