/**
 * An MLflow model folder on the local disk (a path, a mounted volume, what KServe's storage
 * initializer copies into /mnt/models): a directory holding an MLmodel file.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ModelError } from "../errors.js";
import { packMlflowBundle } from "./bundle.js";
import { MLMODEL_FILE, mlflowModelFile } from "./load.js";

/** Whether `path` is a directory holding an MLmodel file. */
export function isMlflowFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory() && statSync(join(path, MLMODEL_FILE)).isFile();
  } catch {
    return false;
  }
}

function read(dir: string, file: string): Uint8Array {
  try {
    return readFileSync(join(dir, file));
  } catch (error) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_READ",
      `cannot read ${file} in the MLflow model folder ${dir}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** The folder's MLmodel and model file, packed (bundle.ts). */
export function packMlflowFolderSync(dir: string): Uint8Array {
  const mlmodel = read(dir, MLMODEL_FILE);
  const dataFile = mlflowModelFile(mlmodel);
  return packMlflowBundle([
    [MLMODEL_FILE, mlmodel],
    [dataFile, read(dir, dataFile)],
  ]);
}
