/**
 * A local MLflow model folder (a directory holding MLmodel): its MLmodel and the model file MLmodel
 * names, packed into one bundle (model/mlflow/bundle.ts) that the rest of the pipeline handles
 * like a model file. Versioned by the later modification time of the two files.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { MLMODEL_FILE, mlflowModelFile, packMlflowFolder } from "../../model/mlflow/index.js";
import type { Download, Probe, SourceDriver } from "./driver.js";
import { ModelSourceError } from "./errors.js";

export function mlflowFolderDriver(dir: string): SourceDriver {
  function failure(error: unknown, file: string): ModelSourceError {
    const code = (error as NodeJS.ErrnoException).code;
    const message = (error as Error).message;
    if (code === "ENOENT" || code === "ENOTDIR")
      return new ModelSourceError(
        "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND",
        dir,
        `the MLflow model folder has no ${file}`,
      );
    if (code === "EACCES" || code === "EPERM")
      return new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_DENIED", dir, `cannot read ${file}: ${message}`);
    return new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_FAILED", dir, `cannot read ${file}: ${message}`);
  }
  async function read(file: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(join(dir, file)));
    } catch (error) {
      throw failure(error, file);
    }
  }
  /** The later mtime of MLmodel and the model file it names (read before the files themselves). */
  async function version(): Promise<string> {
    const mlmodel = await read(MLMODEL_FILE);
    const file = mlflowModelFile(mlmodel);
    const times = await Promise.all(
      [MLMODEL_FILE, file].map((f) =>
        stat(join(dir, f)).then(
          (s) => s.mtimeMs,
          (error) => Promise.reject(failure(error, f)),
        ),
      ),
    );
    return new Date(Math.max(...times)).toISOString();
  }
  return {
    source: dir,
    remote: false,
    async download(): Promise<Download> {
      const lastModified = await version();
      return { modified: true, bytes: await packMlflowFolder(read), validators: { lastModified } };
    },
    async probe(): Promise<Probe> {
      return { lastModified: await version() };
    },
  };
}
