/**
 * Where MODEL_REPOSITORY's files come from, listed and read through the model sources forestd
 * already has (server/model-source/): a directory (walked three levels deep: model, version,
 * file), an S3 prefix (ListObjectsV2, then one GetObject per file), or an HTTPS index (a JSON list
 * of the repository's files, relative to it; each file fetched with conditional GETs). A file is
 * only ever read below the repository: the listing says which, and a path that would leave it is
 * refused.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { describeRepository, parseRepositoryLocation } from "../../config/model-location.js";
import type { Settings } from "../../config/settings.js";
import type { SourceDriver } from "../model-source/driver.js";
import { ModelSourceError } from "../model-source/errors.js";
import { fileDriver } from "../model-source/file-source.js";
import { httpsDriver } from "../model-source/https-source.js";
import { s3Driver, s3List } from "../model-source/s3-source.js";
import { type ListedFile, MAX_FILES } from "./layout.js";

export interface RepositorySource {
  /** The repository as logs and the index may name it (no credentials, no query string). */
  readonly description: string;
  /** Every file in it, with its validators. */
  list(signal: AbortSignal): Promise<ListedFile[]>;
  /** A driver for one listed file (path relative to the repository). */
  driver(path: string): SourceDriver;
}

export type RepositorySettings = Pick<
  Settings,
  "model_repository" | "model_fetch_timeout" | "s3_force_path_style"
>;

export function repositorySource(settings: RepositorySettings): RepositorySource {
  const location = parseRepositoryLocation(settings.model_repository, "/");
  const description = describeRepository(location);
  switch (location.kind) {
    case "file":
      return {
        description,
        list: () => walk(location.path, description),
        driver: (path) => fileDriver(join(location.path, ...path.split("/"))),
      };
    case "s3": {
      const options = {
        forcePathStyle: settings.s3_force_path_style,
        timeoutMs: settings.model_fetch_timeout * 1000,
      };
      return {
        description,
        list: (signal) => s3List(location.bucket, location.prefix, description, options, signal, MAX_FILES),
        driver: (path) => s3Driver(location.bucket, location.prefix + path, `${description}${path}`, options),
      };
    }
    case "https":
      return httpsRepository(location.index, description);
  }
}

/** Files of a local repository: model folders, their version folders and the files in them. */
async function walk(root: string, description: string): Promise<ListedFile[]> {
  const out: ListedFile[] = [];
  const visit = async (dir: string, prefix: string, depth: number): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (error) {
      if (depth > 0) return; // a folder that vanished while being read: gone from this listing
      const code = (error as NodeJS.ErrnoException).code;
      throw new ModelSourceError(
        code === "ENOENT" || code === "ENOTDIR"
          ? "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND"
          : "FORESTD_ERR_MODEL_SOURCE_FAILED",
        description,
        code === "ENOENT"
          ? "no such directory"
          : code === "ENOTDIR"
            ? "not a directory"
            : (error as Error).message,
      );
    }
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const path = join(dir, name);
      const info = await stat(path).catch(() => null);
      if (info === null) continue;
      const relative = prefix === "" ? name : `${prefix}/${name}`;
      if (info.isDirectory()) {
        // model/version/file: anything deeper is listed no further (the layout refuses the folder).
        if (depth < 2) await visit(path, relative, depth + 1);
        else out.push({ path: `${relative}/…`, size: 0 });
      } else if (info.isFile()) {
        out.push({ path: relative, lastModified: info.mtime.toISOString(), size: info.size });
      }
      if (out.length > MAX_FILES)
        throw new ModelSourceError(
          "FORESTD_ERR_MODEL_SOURCE_FAILED",
          description,
          `holds more than ${MAX_FILES} files; a repository holds at most that many`,
        );
    }
  };
  await visit(root, "", 0);
  return out;
}

/**
 * An HTTPS repository: its index is JSON, `{"files": [...]}` or the bare list, each a relative path
 * ("churn/1/model.json") or `{"path": ..., "etag": ...}`; files are fetched relative to the index,
 * with its credentials (user:password in the URL), never from anywhere else.
 */
function httpsRepository(index: URL, description: string): RepositorySource {
  const base = new URL(".", index);
  const fileUrl = (path: string): URL => {
    const url = new URL(path.split("/").map(encodeURIComponent).join("/"), base);
    url.username = index.username;
    url.password = index.password;
    return url;
  };
  return {
    description,
    async list(signal) {
      const download = await httpsDriver(index, description).download(undefined, signal);
      if (!download.modified)
        throw new ModelSourceError(
          "FORESTD_ERR_MODEL_SOURCE_FAILED",
          description,
          "answered 304 to an unconditional GET",
        );
      let listing: unknown;
      try {
        listing = JSON.parse(new TextDecoder().decode(download.bytes));
      } catch (error) {
        throw new ModelSourceError(
          "FORESTD_ERR_MODEL_SOURCE_FAILED",
          description,
          `the index is not JSON: ${(error as Error).message}`,
        );
      }
      const files = Array.isArray(listing) ? listing : (listing as { files?: unknown } | null)?.files;
      if (!Array.isArray(files))
        throw new ModelSourceError(
          "FORESTD_ERR_MODEL_SOURCE_FAILED",
          description,
          'the index must be {"files": ["model/1/model.json", ...]} or the bare list',
        );
      if (files.length > MAX_FILES)
        throw new ModelSourceError(
          "FORESTD_ERR_MODEL_SOURCE_FAILED",
          description,
          `lists more than ${MAX_FILES} files`,
        );
      const out: ListedFile[] = [];
      for (const item of files) {
        const path = typeof item === "string" ? item : (item as { path?: unknown } | null)?.path;
        const etag =
          typeof item === "object" && item !== null ? (item as { etag?: unknown }).etag : undefined;
        if (typeof path !== "string" || path.length > 1024) continue;
        // Below the index only: no scheme, no absolute path, no "..": the layout refuses the rest.
        if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(path) || path.startsWith("/") || path.includes("\\")) {
          out.push({ path: `../${path.slice(0, 100)}` });
          continue;
        }
        out.push({ path, ...(typeof etag === "string" ? { etag } : {}) });
      }
      return out;
    },
    driver: (path) => httpsDriver(fileUrl(path), `${description.replace(/[^/]*$/, "")}${path}`),
  };
}
