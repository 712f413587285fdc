/**
 * A model repository's layout, from the list of its files (Triton's and KServe's layout):
 *
 *   <repository>/
 *     churn/                  a model, named by its folder
 *       forestd.json          optional: its own settings (name, version_policy, class_names, ...)
 *       1/model.json          version 1: one model file of any format forestd reads
 *       2/model.ubj           version 2
 *     fraud/
 *       fraud.onnx            a model without version folders: one version, named by its digest
 *     price.model.json        a model file at the top: a model named after the file ("price")
 *     risk/                   an MLflow model folder (MLmodel, its model, conda.yaml, ...): one
 *       MLmodel               version, read as MLmodel says (model/mlflow/); likewise a version
 *       model.pkl             folder holding an MLmodel (risk/3/MLmodel, risk/3/model.xgb, ...)
 *
 * Pure: paths in, models and refusals out (with the reason each entry is not served). Hidden
 * entries (".name", a storage initializer's markers, KServe's agent's SUCCESS.<sha256>) are not
 * part of the repository. What is in a
 * file (a model or not, a valid config or not) is for the reader to say later.
 */
import { MODEL_NAME_PATTERN, modelNameOfFile, validModelName } from "../../config/model-location.js";

/** The per-model settings file in a model's folder. */
export const CONFIG_FILE = "forestd.json";

/** Most files a repository may list (S3 pages, an HTTPS index, a directory walk). */
export const MAX_FILES = 100_000;

/** A file as the repository lists it: its path below the repository, and its version validators. */
export interface ListedFile {
  /** Relative, "/"-separated: "churn/1/model.json". */
  readonly path: string;
  readonly etag?: string;
  readonly lastModified?: string;
  readonly size?: number;
}

export interface VersionLayout {
  /** The version folder's number ("1", "2"), or null for a model without version folders. */
  readonly version: string | null;
  /** The model file (an MLflow folder's MLmodel). */
  readonly file: ListedFile;
  /** An MLflow model folder ("risk/", "risk/3/"): its MLmodel names the model file to read. */
  readonly mlflowFolder?: string;
}

/** An MLflow model folder's descriptor (model/mlflow/): a folder holding it is one model version. */
export const MLMODEL_FILE = "MLmodel";

export interface ModelLayout {
  /** The name from the folder or file (forestd.json may give another). */
  readonly name: string;
  /** The entry at the top of the repository it comes from: "churn" (a folder) or "price.model.json". */
  readonly entry: string;
  readonly config: ListedFile | null;
  readonly versions: readonly VersionLayout[];
}

/** An entry that is not served, and why: what the index and the log say. */
export interface Refusal {
  readonly entry: string;
  /** The model it would have been, when a name could be told. */
  readonly name?: string;
  readonly reason: string;
}

/** A version folder's name: a positive whole number without leading zeros (as Triton reads them). */
const VERSION = /^[1-9][0-9]{0,17}$/;

/**
 * KServe's model agent marks a finished download with SUCCESS.<sha256 of the model spec> in the
 * model's folder (pkg/agent/downloader.go): a marker, not a model file.
 */
const KSERVE_MARKER = /^SUCCESS\.[0-9a-f]{64}$/;

function hidden(segment: string): boolean {
  return segment.startsWith(".") || KSERVE_MARKER.test(segment);
}

/** Short for messages: at most 80 characters of an entry's name. */
export function shown(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

export function layoutOf(files: readonly ListedFile[]): { models: ModelLayout[]; refused: Refusal[] } {
  const refused: Refusal[] = [];
  const tops = new Map<string, ListedFile[]>();
  for (const file of files) {
    const segments = file.path.split("/");
    if (segments.some((s) => s === "" || s === "." || s === "..")) {
      refused.push({ entry: shown(file.path), reason: "not a plain relative path" });
      continue;
    }
    if (segments.some(hidden)) continue;
    const top = segments[0];
    const list = tops.get(top) ?? [];
    list.push(file);
    tops.set(top, list);
  }
  const models: ModelLayout[] = [];
  for (const [top, entries] of [...tops].sort(([a], [b]) => a.localeCompare(b))) {
    const lone = entries.length === 1 && entries[0].path === top ? entries[0] : null;
    if (lone) {
      // A file at the top: a model named after it (a config file here belongs to no model).
      if (top === CONFIG_FILE) {
        refused.push({
          entry: top,
          reason: `${CONFIG_FILE} belongs in a model's folder, not at the repository's top`,
        });
        continue;
      }
      models.push({
        name: validModelName(modelNameOfFile(top)),
        entry: top,
        config: null,
        versions: [{ version: null, file: lone }],
      });
      continue;
    }
    const model = folder(top, entries, refused);
    if (model) models.push(model);
  }
  return { models, refused };
}

/** A model's folder: its config, version folders or its one model file. */
function folder(name: string, entries: readonly ListedFile[], refused: Refusal[]): ModelLayout | null {
  if (!MODEL_NAME_PATTERN.test(name)) {
    refused.push({
      entry: shown(name),
      reason: "not a model name: 1 to 128 of A-Z a-z 0-9 . _ - starting with a letter or digit",
    });
    return null;
  }
  let config: ListedFile | null = null;
  const loose: ListedFile[] = [];
  const versions = new Map<string, ListedFile[]>();
  // An MLflow model folder is one version whatever else it holds (conda.yaml, metadata/, code/).
  const mlmodel = entries.find((f) => f.path === `${name}/${MLMODEL_FILE}`);
  if (mlmodel) {
    const config = entries.find((f) => f.path === `${name}/${CONFIG_FILE}`) ?? null;
    return {
      name,
      entry: name,
      config,
      versions: [{ version: null, file: mlmodel, mlflowFolder: `${name}/` }],
    };
  }
  const mlflowVersions = new Set(
    entries
      .map((f) => f.path.split("/"))
      .filter((p) => p.length === 3 && p[2] === MLMODEL_FILE && VERSION.test(p[1]))
      .map((p) => p[1]),
  );
  for (const file of entries) {
    const rest = file.path.split("/").slice(1);
    if (mlflowVersions.has(rest[0]) && rest.length > 1) {
      // An MLflow version folder: its MLmodel stands for it, the rest is read as MLmodel says.
      if (rest.length === 2 && rest[1] === MLMODEL_FILE) versions.set(rest[0], [file]);
      continue;
    }
    if (rest.length === 1) {
      if (rest[0] === CONFIG_FILE) config = file;
      else loose.push(file);
    } else if (!VERSION.test(rest[0])) {
      refused.push({
        entry: shown(`${name}/${rest[0]}`),
        name,
        reason: "a folder in a model's folder must be a version number (1, 2, ...)",
      });
    } else if (rest.length > 2) {
      refused.push({
        entry: shown(file.path),
        name,
        reason: "a version folder holds its model file, no folders",
      });
    } else {
      const list = versions.get(rest[0]) ?? [];
      list.push(file);
      versions.set(rest[0], list);
    }
  }
  const out: VersionLayout[] = [];
  if (versions.size > 0) {
    for (const file of loose)
      refused.push({
        entry: shown(file.path),
        name,
        reason: "a file beside version folders is not served: put it in a version folder",
      });
    for (const [version, files] of [...versions].sort(([a], [b]) => Number(a) - Number(b))) {
      const models = files.filter((f) => !f.path.endsWith(`/${CONFIG_FILE}`));
      if (mlflowVersions.has(version))
        out.push({ version, file: models[0], mlflowFolder: `${name}/${version}/` });
      else if (models.length === 1) out.push({ version, file: models[0] });
      else
        refused.push({
          entry: shown(`${name}/${version}`),
          name,
          reason:
            models.length === 0
              ? "a version folder without a model file"
              : `a version folder must hold one model file; it holds ${models.length} (${models
                  .map((f) => shown(f.path.split("/").at(-1) ?? ""))
                  .slice(0, 5)
                  .join(", ")})`,
        });
    }
  } else if (loose.length === 1) out.push({ version: null, file: loose[0] });
  else
    refused.push({
      entry: shown(name),
      name,
      reason:
        loose.length === 0
          ? "a model's folder without a model file or version folders"
          : `a model's folder must hold one model file, or version folders; it holds ${loose.length} files (${loose
              .map((f) => shown(f.path.split("/").at(-1) ?? ""))
              .slice(0, 5)
              .join(", ")})`,
    });
  if (out.length === 0) return null;
  return { name, entry: name, config, versions: out };
}
