/**
 * fetchModel: the primary reads MODEL_PATH (path, file://, s3://, https://), verifies
 * MODEL_SHA256 and keeps remote copies in MODEL_CACHE_DIR. checkModel: the poller's cheap look
 * at whether the source holds a newer version than the one being served.
 */
import { describeLocation, parseModelLocation } from "../../config/model-location.js";
import type { Settings } from "../../config/settings.js";
import { isMlflowFolder } from "../../model/mlflow/index.js";
import { cacheDir, readCached, sha256Hex, writeCached } from "./cache.js";
import type { SourceDriver } from "./driver.js";
import { ModelSourceError } from "./errors.js";
import { fileDriver } from "./file-source.js";
import { httpsDriver } from "./https-source.js";
import { mlflowFolderDriver } from "./mlflow-folder-source.js";
import { mlflowRemoteFolderDriver } from "./mlflow-remote-folder.js";
import {
  type FetchedModel,
  type ModelOrigin,
  sameVersion,
  type UnchangedModel,
  validatorsOf,
} from "./origin.js";
import { s3Driver } from "./s3-source.js";

export type SourceSettings = Pick<
  Settings,
  "model_path" | "model_sha256" | "model_cache_dir" | "model_fetch_timeout" | "s3_force_path_style"
>;

/** forestd_model_fetch_total's result label. */
export type FetchResult = "fetched" | "unchanged" | "failed" | "rejected";
export const FETCH_RESULTS: readonly FetchResult[] = ["fetched", "unchanged", "failed", "rejected"];
export type FetchObserver = (result: FetchResult, seconds: number) => void;

export function driverFor(settings: SourceSettings): SourceDriver {
  // model_path was parsed when settings loaded; plain paths are absolute by then.
  const location = parseModelLocation(settings.model_path, "/");
  const source = describeLocation(location);
  switch (location.kind) {
    case "file":
      return isMlflowFolder(location.path) ? mlflowFolderDriver(location.path) : fileDriver(location.path);
    case "s3": {
      const options = {
        forcePathStyle: settings.s3_force_path_style,
        timeoutMs: settings.model_fetch_timeout * 1000,
      };
      // A prefix (s3://bucket/…/model/) is an MLflow model folder: its files through the same driver.
      if (location.key.endsWith("/"))
        return mlflowRemoteFolderDriver(source, (file) =>
          s3Driver(location.bucket, location.key + file, `${source}${file}`, options),
        );
      return withFolderHint(s3Driver(location.bucket, location.key, source, options), location.key);
    }
    case "https":
      if (location.url.pathname.endsWith("/"))
        return mlflowRemoteFolderDriver(source, (file) => {
          const url = new URL(file, location.url);
          url.search = location.url.search; // a token in the query string goes to every file
          url.username = location.url.username;
          url.password = location.url.password;
          return httpsDriver(url, `${source}${file}`);
        });
      return withFolderHint(httpsDriver(location.url, source), location.url.pathname);
  }
}

/**
 * `mlflow models serve -m s3://…/artifacts/model` names a folder without a final "/": when such a
 * name (no extension) is not found, the error says how forestd spells a folder.
 */
function withFolderHint(driver: SourceDriver, path: string): SourceDriver {
  const last = path.slice(path.lastIndexOf("/") + 1);
  if (last.includes(".")) return driver;
  const hint = (error: unknown): never => {
    if (error instanceof ModelSourceError && error.code === "FORESTD_ERR_MODEL_SOURCE_NOT_FOUND")
      throw new ModelSourceError(
        error.code,
        error.source,
        `${error.message.slice(error.source.length + 2)}; if it is an MLflow model folder, end the path with "/"`,
      );
    throw error;
  };
  return {
    ...driver,
    download: (since, signal) => driver.download(since, signal).catch(hint),
    probe: (since, signal) => driver.probe(since, signal).catch(hint),
  };
}

/** The source as logs may name it (no credentials, no query string). */
export function modelSource(settings: Pick<Settings, "model_path">): string {
  return describeLocation(parseModelLocation(settings.model_path, "/"));
}

function checkPin(settings: Pick<SourceSettings, "model_sha256">, source: string, sha256: string): void {
  const pin = settings.model_sha256.toLowerCase();
  if (pin !== "" && pin !== sha256)
    throw new ModelSourceError(
      "FORESTD_ERR_MODEL_CHECKSUM",
      source,
      `SHA-256 is ${sha256}, but MODEL_SHA256 pins ${pin}; the model is refused`,
    );
}

/**
 * Reads the model. With `previous` (the origin of the model being served, from the same source),
 * a remote source is asked conditionally, and an unchanged object answers `{ unchanged: true }`.
 * Throws a ModelSourceError naming the source, never a credential.
 */
export async function fetchModel(
  settings: SourceSettings,
  previous?: ModelOrigin,
  observe?: FetchObserver,
): Promise<FetchedModel | UnchangedModel> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const result = await fetchOnce(settings, previous);
    observe?.("unchanged" in result ? "unchanged" : "fetched", seconds());
    return result;
  } catch (error) {
    const rejected = (error as ModelSourceError).code === "FORESTD_ERR_MODEL_CHECKSUM";
    observe?.(rejected ? "rejected" : "failed", seconds());
    throw error;
  }
}

async function fetchOnce(
  settings: SourceSettings,
  previous?: ModelOrigin,
): Promise<FetchedModel | UnchangedModel> {
  return fetchFrom(driverFor(settings), settings, previous);
}

/**
 * One object through its driver (MODEL_PATH's, or a repository file's): asked conditionally when
 * `previous` is the version held, else with the validators of MODEL_CACHE_DIR's copy; MODEL_SHA256
 * checked when set (a repository passes ""). Throws a ModelSourceError naming the source.
 */
export async function fetchFrom(
  driver: SourceDriver,
  settings: Pick<SourceSettings, "model_sha256" | "model_cache_dir" | "model_fetch_timeout">,
  previous?: ModelOrigin,
): Promise<FetchedModel | UnchangedModel> {
  const { source } = driver;
  const held = previous?.source === source ? previous : undefined;
  const dir = driver.remote ? cacheDir(settings.model_cache_dir) : undefined;
  const cached = dir !== undefined && held === undefined ? await readCached(dir, source) : undefined;
  const base = held ?? cached?.origin;
  const signal = AbortSignal.timeout(settings.model_fetch_timeout * 1000);
  const fetchedAt = new Date().toISOString();

  const download = await driver.download(base ? validatorsOf(base) : undefined, signal);
  if (!download.modified) {
    if (held) {
      checkPin(settings, source, held.sha256);
      return { unchanged: true, origin: { ...held, fetchedAt } };
    }
    if (cached) {
      checkPin(settings, source, cached.sha256);
      return { ...cached, origin: { ...cached.origin, fetchedAt } };
    }
    throw new ModelSourceError(
      "FORESTD_ERR_MODEL_SOURCE_FAILED",
      source,
      "answered 304 to an unconditional GET",
    );
  }
  const sha256 = sha256Hex(download.bytes);
  checkPin(settings, source, sha256);
  const origin: ModelOrigin = { source, sha256, fetchedAt, ...withoutUndefined(download.validators) };
  // A server that ignores conditional requests may resend the same bytes: not a new version.
  if (held && held.sha256 === sha256) return { unchanged: true, origin };
  const fetched = { bytes: download.bytes, sha256, origin };
  if (dir !== undefined) await writeCached(dir, fetched);
  return fetched;
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Whether the source now holds another version than `current` (undefined: nothing served yet). */
export async function checkModel(
  settings: SourceSettings,
  current: ModelOrigin | undefined,
): Promise<boolean> {
  const driver = driverFor(settings);
  if (current === undefined || current.source !== driver.source) return true;
  const probe = await driver.probe(
    validatorsOf(current),
    AbortSignal.timeout(settings.model_fetch_timeout * 1000),
  );
  return probe !== "not-modified" && !sameVersion(current, probe);
}
