/** Local models (a path, or file:// resolved to one): read whole, versioned by modification time. */
import { readFile, stat } from "node:fs/promises";
import type { Download, Probe, SourceDriver } from "./driver.js";
import { ModelSourceError } from "./errors.js";

export function fileDriver(path: string): SourceDriver {
  function failure(error: unknown): ModelSourceError {
    const code = (error as NodeJS.ErrnoException).code;
    const message = (error as Error).message;
    if (code === "ENOENT" || code === "ENOTDIR")
      return new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_NOT_FOUND", path, "no such file");
    if (code === "EACCES" || code === "EPERM")
      return new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_DENIED", path, `cannot read: ${message}`);
    return new ModelSourceError("FORESTD_ERR_MODEL_SOURCE_FAILED", path, `cannot read: ${message}`);
  }

  return {
    source: path,
    remote: false,
    async download(): Promise<Download> {
      try {
        // mtime before the read: a write landing during the read then shows as a newer version.
        const { mtime } = await stat(path);
        const bytes = new Uint8Array(await readFile(path));
        return { modified: true, bytes, validators: { lastModified: mtime.toISOString() } };
      } catch (error) {
        throw failure(error);
      }
    },
    async probe(): Promise<Probe> {
      try {
        return { lastModified: (await stat(path)).mtime.toISOString() };
      } catch (error) {
        throw failure(error);
      }
    },
  };
}
