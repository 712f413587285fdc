/**
 * An MLflow model folder in S3 (s3://bucket/…/artifacts/model/) or behind HTTPS
 * (https://host/…/model/): its MLmodel and the model file MLmodel names, each fetched through the
 * one-object driver of its scheme (s3-source.ts, https-source.ts: the same credentials, timeouts,
 * errors and redaction), packed into one bundle (model/mlflow/bundle.ts).
 *
 * A version is the pair of objects: ETags (or S3 version ids, or modification times) joined, so
 * either object changing is a new version. Each download fetches both whole: MLmodel is a few KB,
 * and the model file is only fetched again when the poller saw it change.
 */
import { MLMODEL_FILE, mlflowModelFile, packMlflowFolder } from "../../model/mlflow/index.js";
import type { Download, Probe, SourceDriver } from "./driver.js";
import { ModelSourceError } from "./errors.js";
import type { Validators } from "./origin.js";

/** The versions of the folder's files as one: each validator joined when every file has it. */
function joined(parts: readonly (Validators & { sha256?: string })[]): Validators & { sha256?: string } {
  const all = (key: "etag" | "versionId" | "sha256") =>
    parts.every((p) => p[key]) ? parts.map((p) => p[key]).join("+") : undefined;
  const times = parts.map((p) => p.lastModified);
  return {
    etag: all("etag"),
    versionId: all("versionId"),
    sha256: all("sha256"),
    lastModified: times.every((t) => t !== undefined) ? [...(times as string[])].sort().at(-1) : undefined,
  };
}

/**
 * @param source the folder as logs show it (s3://bucket/prefix/, https://host/path/)
 * @param fileDriver the one-object driver for a file of the folder, by its path in the folder
 */
export function mlflowRemoteFolderDriver(
  source: string,
  fileDriver: (file: string) => SourceDriver,
): SourceDriver {
  async function fetchWhole(
    file: string,
    signal: AbortSignal,
  ): Promise<Extract<Download, { modified: true }>> {
    const download = await fileDriver(file).download(undefined, signal);
    if (!download.modified)
      throw new ModelSourceError(
        "FORESTD_ERR_MODEL_SOURCE_FAILED",
        source,
        `${file}: an unconditional GET answered 304`,
      );
    return download;
  }
  return {
    source,
    remote: true,
    async download(_since, signal): Promise<Download> {
      const versions: Validators[] = [];
      const bytes = await packMlflowFolder(async (file) => {
        const download = await fetchWhole(file, signal);
        versions.push(download.validators);
        return download.bytes;
      });
      return { modified: true, bytes, validators: joined(versions) };
    },
    async probe(_since, signal): Promise<Probe> {
      // MLmodel names the model file, so it is read whole; the model file gets its scheme's cheap look.
      const mlmodel = await fetchWhole(MLMODEL_FILE, signal);
      const probe = await fileDriver(mlflowModelFile(mlmodel.bytes)).probe(undefined, signal);
      if (probe === "not-modified")
        throw new ModelSourceError(
          "FORESTD_ERR_MODEL_SOURCE_FAILED",
          source,
          "an unconditional look answered 304",
        );
      return joined([mlmodel.validators, probe]);
    },
  };
}
