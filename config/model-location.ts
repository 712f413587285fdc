/**
 * What MODEL_PATH may name: a local file (plain path or file:// URL), an S3 object
 * (s3://bucket/key) or an HTTPS URL; a local directory, S3 prefix or HTTPS URL ending in "/"
 * holding an MLflow model folder (MLmodel and its model). Parsed once when settings load, so a typo stops start-up
 * with a settings error rather than a failed download later.
 */
import { basename, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FORMATS } from "../model/index.js";

export type ModelLocation =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "s3"; readonly bucket: string; readonly key: string }
  | { readonly kind: "https"; readonly url: URL };

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;
/** S3 bucket names (also the looser legacy ones: capitals, underscores) of 3–255 characters. */
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;

export class ModelLocationError extends Error {}

/** A plain path is resolved against `cwd`; a URL must use a scheme forestd can fetch. */
export function parseModelLocation(value: string, cwd: string): ModelLocation {
  const scheme = SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: "file", path: isAbsolute(value) ? value : resolve(cwd, value) };
  switch (scheme) {
    case "file":
      try {
        return { kind: "file", path: fileURLToPath(value) };
      } catch (error) {
        throw new ModelLocationError(`${value} is not a file URL: ${(error as Error).message}`);
      }
    case "s3": {
      // Parsed by hand, not with URL: a key is taken literally (spaces, %, ?), as the AWS CLI does.
      const rest = value.slice("s3://".length);
      const slash = rest.indexOf("/");
      const bucket = slash < 0 ? rest : rest.slice(0, slash);
      const key = slash < 0 ? "" : rest.slice(slash + 1);
      if (!BUCKET.test(bucket)) throw new ModelLocationError(`s3://${bucket}/…: not a valid bucket name`);
      // A prefix ending in "/" is an MLflow model folder (its MLmodel names the model file).
      if (key === "" || key === "/")
        throw new ModelLocationError(
          `s3://${bucket}/${key} names no object: give s3://bucket/path/to/model.json, or an MLflow model folder s3://bucket/path/to/model/`,
        );
      return { kind: "s3", bucket, key };
    }
    case "https": {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new ModelLocationError(`${redactUrlText(value)} is not a valid URL`);
      }
      return { kind: "https", url };
    }
    case "http":
      throw new ModelLocationError(
        `${redactUrlText(value)}: plain http is refused (anyone on the path could swap the model); use https://`,
      );
    default:
      throw new ModelLocationError(
        `${redactUrlText(value)}: unsupported scheme "${scheme}:"; use a path, file://, s3:// or https://`,
      );
  }
}

/** Where MODEL_REPOSITORY's models are: a directory, an S3 prefix, or an HTTPS index. */
export type RepositoryLocation =
  | { readonly kind: "file"; readonly path: string }
  /** `prefix` is "" (the bucket's top) or ends with "/". */
  | { readonly kind: "s3"; readonly bucket: string; readonly prefix: string }
  /** `index`: the JSON listing of the repository's files, which are named relative to it. */
  | { readonly kind: "https"; readonly index: URL };

/**
 * MODEL_REPOSITORY: a path or file:// URL (a directory), s3://bucket/prefix/, or an https:// URL of
 * a directory (its index.json is read) or of the index itself (a name ending in .json).
 */
export function parseRepositoryLocation(value: string, cwd: string): RepositoryLocation {
  const scheme = SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme === "s3") {
    const rest = value.slice("s3://".length);
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    let prefix = slash < 0 ? "" : rest.slice(slash + 1);
    if (!BUCKET.test(bucket)) throw new ModelLocationError(`s3://${bucket}/…: not a valid bucket name`);
    if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";
    return { kind: "s3", bucket, prefix };
  }
  if (scheme === "https") {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ModelLocationError(`${redactUrlText(value)} is not a valid URL`);
    }
    if (!url.pathname.toLowerCase().endsWith(".json")) {
      if (!url.pathname.endsWith("/")) url.pathname += "/";
      url.pathname += "index.json";
    }
    return { kind: "https", index: url };
  }
  // A path, file:// and the refusals (http://, other schemes) are MODEL_PATH's.
  const location = parseModelLocation(value, cwd);
  if (location.kind !== "file") throw new ModelLocationError(`${redactUrlText(value)}: not a repository`);
  return location;
}

/** The repository as logs and the index may show it (no credentials, no query string). */
export function describeRepository(location: RepositoryLocation): string {
  switch (location.kind) {
    case "file":
      return location.path;
    case "s3":
      return `s3://${location.bucket}/${location.prefix}`;
    case "https":
      return `${location.index.protocol}//${location.index.host}${location.index.pathname}`;
  }
}

/**
 * The location as logs, errors, /model and metrics may show it: no user:password, no query string
 * (a presigned URL's signature is a credential), no fragment.
 */
export function describeLocation(location: ModelLocation): string {
  switch (location.kind) {
    case "file":
      return location.path;
    case "s3":
      return `s3://${location.bucket}/${location.key}`;
    case "https":
      return `${location.url.protocol}//${location.url.host}${location.url.pathname}`;
  }
}

/** Redacts a string that failed to parse as a location: drops userinfo and everything from ? or #. */
function redactUrlText(text: string): string {
  return text.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/@]*@/, "$1").replace(/[?#].*$/, "");
}

/** The model's default name: its file name without its format's extension, whatever the scheme. */
export function locationBaseName(location: ModelLocation): string {
  const path =
    location.kind === "file"
      ? location.path
      : location.kind === "s3"
        ? location.key
        : safeDecode(location.url.pathname);
  return modelNameOfFile(basename(path));
}

/**
 * Suffixes a model file's name ends with that are not part of the model's name: every format's own
 * extensions (model/formats: .json, .ubj, .onnx, ...), and ".model", which XGBoost's and LightGBM's
 * own examples put before them (`churn.model.json`, `xgb.model`). Lower case, with the dot.
 */
export function modelFileSuffixes(): readonly string[] {
  return [...new Set([...FORMATS.flatMap((f) => f.extensions), ".model"])];
}

/**
 * A model's name from its file's name: the name without its format's extension and a ".model"
 * before it (`churn.model.json` → `churn`, `fraud.onnx` → `fraud`); a name that would be empty
 * keeps its last suffix (`.json` → `.json`, made a valid name by `validModelName`).
 */
export function modelNameOfFile(fileName: string): string {
  const suffixes = modelFileSuffixes();
  let name = fileName;
  for (;;) {
    const lower = name.toLowerCase();
    const suffix = suffixes.find((s) => lower.endsWith(s) && lower.length > s.length);
    if (suffix === undefined) return name;
    name = name.slice(0, -suffix.length);
  }
}

/** What a model name may be: as MODEL_NAME's pattern, 1–128 of A-Z a-z 0-9 . _ - starting with a letter or digit. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A name derived from a file (not given by a person): characters outside the pattern become "_". */
export function validModelName(base: string): string {
  const clean = base.replace(/[^A-Za-z0-9._-]/g, "_");
  return /^[A-Za-z0-9]/.test(clean) ? clean.slice(0, 128) : `m${clean}`.slice(0, 128);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
