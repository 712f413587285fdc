/**
 * MODEL_PATH may name a directory holding one model file: KServe's storage initializer copies a
 * storageUri into /mnt/models, keeping the file's own name (model.json, churn-v3.ubj, ...), so the
 * runtime can only be told the directory.
 */
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";

const MODEL_EXTENSIONS = new Set([".json", ".ubj", ".onnx"]);

/** The model file a path names: the path itself, or the one .json/.ubj/.onnx file in a directory. */
export function resolveModelFile(path: string): string {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    return path; // missing: the model loader reports it, with the path, as for any file
  }
  if (!isDirectory) return path;
  const models = readdirSync(path)
    .filter((name) => !name.startsWith(".") && MODEL_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort();
  if (models.length !== 1) {
    const found = models.length === 0 ? "none" : models.join(", ");
    throw new Error(
      `MODEL_PATH ${path} is a directory: it must hold exactly one .json, .ubj or .onnx model (found ${found})`,
    );
  }
  return join(path, models[0]);
}
