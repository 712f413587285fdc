/**
 * MODEL_PATH may name a directory holding one model file: KServe's storage initializer copies a
 * storageUri into /mnt/models, keeping the file's own name (model.json, churn-v3.ubj, ...), so the
 * runtime can only be told the directory. A directory holding an MLmodel file is an MLflow model
 * folder, served as it is (its MLmodel names the model file).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { FORMATS } from "../model/formats/index.js";

/** Every file name ending a format forestd reads is saved under (each format lists its own). */
const MODEL_ENDINGS = FORMATS.flatMap((format) => format.extensions);

function isModelFile(name: string): boolean {
  const lower = name.toLowerCase();
  return !name.startsWith(".") && MODEL_ENDINGS.some((ending) => lower.endsWith(ending));
}

/**
 * The model a path names: the path itself (a file, or an MLflow model folder), or the one model
 * file in a directory.
 */
export function resolveModelFile(path: string): string {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    return path; // missing: the model loader reports it, with the path, as for any file
  }
  if (!isDirectory || existsSync(join(path, "MLmodel"))) return path;
  const models = readdirSync(path).filter(isModelFile).sort();
  if (models.length !== 1) {
    const found = models.length === 0 ? "none" : models.join(", ");
    throw new Error(
      `MODEL_PATH ${path} is a directory: it must hold exactly one model file (${MODEL_ENDINGS.filter((e) => e.lastIndexOf(".") === 0).join(", ")}, or compressed as joblib compresses; found ${found}), or be an MLflow model folder (an MLmodel file and its model)`,
    );
  }
  return join(path, models[0]);
}
