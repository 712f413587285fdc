/**
 * An MLflow model folder in S3 (s3://bucket/…/artifacts/model/) or behind HTTPS
 * (https://host/…/model/): its MLmodel and the model file MLmodel names, each fetched through the
 * one-object driver of its scheme (s3-source.ts, https-source.ts: the same credentials, timeouts,
 * errors and redaction), packed into one bundle (model/mlflow/bundle.ts).
 *
 * A version is the pair of objects: ETags (or S3 version ids, or modification times) joined, so
 * either object changing is a new version. A download given the version held reads MLmodel (a few
 * KB) and asks for the model file only if it changed (a conditional GET: 304 costs no body), so a
 * restart with MODEL_CACHE_DIR or a poll of an unchanged folder does not fetch the model again.
 */
import {
  MLMODEL_FILE,
  mlflowModelFile,
  packMlflowBundle,
  packMlflowFolder,
} from "../../model/mlflow/index.js";
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

/** Two quoted (or weak) ETags as joined() joins them, apart; null when they are not that. */
function splitEtag(etag: string | undefined): [string, string] | null {
  const m = etag ? /^((?:W\/)?"[^"]*")\+((?:W\/)?"[^"]*")$/.exec(etag) : null;
  return m ? [m[1], m[2]] : null;
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
    async download(since, signal): Promise<Download> {
      const held = splitEtag(since?.etag);
      if (held) {
        // MLmodel unchanged: its model file is asked for only if it changed since the version held.
        const mlmodel = await fetchWhole(MLMODEL_FILE, signal);
        if (mlmodel.validators.etag === held[0]) {
          const file = mlflowModelFile(mlmodel.bytes);
          const data = await fileDriver(file).download({ etag: held[1] }, signal);
          if (!data.modified) return { modified: false };
          return {
            modified: true,
            bytes: packMlflowBundle([
              [MLMODEL_FILE, mlmodel.bytes],
              [file, data.bytes],
            ]),
            validators: joined([mlmodel.validators, data.validators]),
          };
        }
      }
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
