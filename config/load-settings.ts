/**
 * Resolves settings with Gunicorn's precedence — defaults < environment < config file <
 * FORESTD_CMD_ARGS < command line — then validates every value against its typebox schema once,
 * fills in derived values and deep-freezes the result (as Fastify's initial-config-validation does).
 */
import { existsSync, readFileSync } from "node:fs";
import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { TSchema } from "typebox";
import { Value } from "typebox/value";
import { defaultModelPath } from "../model/index.js";
import { resolveModelFile } from "./model-file.js";
import {
  locationBaseName,
  type ModelLocation,
  parseModelLocation,
  parseRepositoryLocation,
  validModelName,
} from "./model-location.js";
import { SETTINGS, type SettingSpec, type Settings } from "./settings.js";
import { SettingsError } from "./settings-error.js";
import { readTlsMaterial, TlsError, type TlsSettings, tlsFiles, tlsSettingsProblems } from "./tls.js";

/** "host:port" / "[::1]:port" → listen options. */
export function parseBind(bind: string): { host: string; port: number } {
  const at = bind.lastIndexOf(":");
  const host = bind.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(bind.slice(at + 1)) };
}

// In a module of its own so that the forestd command can recognise it without loading the settings.
export { SettingsError };

const specs: readonly SettingSpec[] = SETTINGS;
const modelPathSpec = specs.find((s) => s.key === "model_path") as SettingSpec;
type Raw = Record<string, unknown>;

function label(spec: SettingSpec): string {
  return `${spec.env} (--${spec.flag}, "${spec.key}")`;
}

/** A string from the environment or the command line, as the setting's type. */
function fromString(spec: SettingSpec, text: string): unknown {
  const trimmed = text.trim();
  switch (spec.kind) {
    case "integer":
    case "number":
      return trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) : text;
    case "boolean": {
      const lower = trimmed.toLowerCase();
      if (["1", "true", "yes", "on"].includes(lower)) return true;
      if (["0", "false", "no", "off"].includes(lower)) return false;
      return text;
    }
    case "list":
      return trimmed === "" ? [] : trimmed.split(",").map((s) => s.trim());
    default:
      return text;
  }
}

/** Human words for what a schema allows, for error messages. */
function allowed(spec: SettingSpec): string {
  const s = spec.schema as TSchema & Record<string, unknown>;
  if (Array.isArray(s.anyOf))
    return `one of ${(s.anyOf as { const: string }[]).map((o) => o.const).join(", ")}`;
  switch (spec.kind) {
    case "integer":
      return `a whole number from ${s.minimum} to ${s.maximum}`;
    case "number":
      return `a number of seconds from ${s.minimum} to ${s.maximum}`;
    case "boolean":
      return "true or false (also 1/0, yes/no, on/off)";
    case "list":
      return spec.key === "bind" ? "HOST:PORT addresses, comma-separated" : "a comma-separated list";
    default:
      return s.pattern ? `a string matching ${s.pattern}` : "a string";
  }
}

/** Other environment names a setting answers to, read only when its own is unset. */
const ENV_ALIASES: Readonly<Record<string, string>> = { MODEL_URI: "MODEL_PATH" };

function fromEnvironment(env: NodeJS.ProcessEnv): Raw {
  const raw: Raw = {};
  for (const spec of specs) {
    const alias = Object.keys(ENV_ALIASES).find((name) => ENV_ALIASES[name] === spec.env);
    const value = env[spec.env] || (alias ? env[alias] : undefined);
    if (value !== undefined && value !== "") raw[spec.key] = fromString(spec, value);
  }
  return raw;
}

/** Command-line flags (the serve command's, or FORESTD_CMD_ARGS) → raw values; also -c/--config. */
function fromArgs(args: readonly string[], source: string): { raw: Raw; config?: string; help: boolean } {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {
    config: { type: "string", short: "c" },
    help: { type: "boolean", short: "h" },
  };
  for (const spec of specs) {
    options[spec.flag] = {
      type: "string",
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.kind === "list" ? { multiple: true } : {}),
    };
    if (spec.kind === "boolean") options[`no-${spec.flag}`] = { type: "boolean" };
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new SettingsError(`${source}: ${(error as Error).message}`);
  }
  const raw: Raw = {};
  for (const spec of specs) {
    const value = values[spec.flag];
    if (Array.isArray(value)) raw[spec.key] = value.flatMap((v) => fromString(spec, String(v)) as string[]);
    else if (typeof value === "string") raw[spec.key] = fromString(spec, value);
    if (values[`no-${spec.flag}`]) raw[spec.key] = false;
  }
  return { raw, config: values.config as string | undefined, help: values.help === true };
}

async function fromConfigFile(path: string, cwd: string): Promise<Raw> {
  const file = resolve(cwd, path);
  if (!existsSync(file)) throw new SettingsError(`config file ${file} does not exist`);
  let content: unknown;
  try {
    if ([".js", ".mjs", ".cjs"].includes(extname(file))) {
      const module = (await import(pathToFileURL(file).href)) as { default?: unknown };
      content = module.default ?? module;
    } else {
      content = JSON.parse(readFileSync(file, "utf8"));
    }
  } catch (error) {
    throw new SettingsError(`config file ${file} cannot be read: ${(error as Error).message}`);
  }
  if (typeof content !== "object" || content === null || Array.isArray(content)) {
    throw new SettingsError(`config file ${file} must hold an object of settings`);
  }
  const raw: Raw = {};
  for (const [key, value] of Object.entries(content)) {
    const spec = specs.find((s) => s.key === key || s.env === key);
    if (!spec) {
      throw new SettingsError(
        `config file ${file}: unknown setting "${key}"; known: ${specs.map((s) => s.key).join(", ")}`,
      );
    }
    raw[spec.key] = typeof value === "string" && spec.kind !== "string" ? fromString(spec, value) : value;
  }
  return raw;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Splits FORESTD_CMD_ARGS like a shell would for simple cases: whitespace, with '…' or "…" quoting. */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(match[1] ?? match[2] ?? match[3]);
  return out;
}

export interface SettingsSources {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface LoadedSettings {
  settings: Settings;
  help: boolean;
}

export async function loadSettings({
  argv,
  env,
  cwd = process.cwd(),
}: SettingsSources): Promise<LoadedSettings> {
  const cli = fromArgs(argv, "command line");
  const cmdArgs = env.FORESTD_CMD_ARGS
    ? fromArgs(splitArgs(env.FORESTD_CMD_ARGS), "FORESTD_CMD_ARGS")
    : { raw: {}, help: false };
  const configPath = cli.config ?? (cmdArgs as { config?: string }).config;
  const file = configPath ? await fromConfigFile(configPath, cwd) : {};

  const merged: Raw = {};
  for (const spec of specs)
    merged[spec.key] = typeof spec.default === "function" ? spec.default(env) : spec.default;
  Object.assign(merged, fromEnvironment(env), file, cmdArgs.raw, cli.raw);

  const problems: string[] = [];
  for (const spec of specs) {
    const value = merged[spec.key];
    if (!Value.Check(spec.schema, value)) {
      problems.push(`${label(spec)}: must be ${allowed(spec)}; got ${JSON.stringify(value)}`);
    }
  }
  if (problems.length > 0) throw new SettingsError(`invalid settings:\n  ${problems.join("\n  ")}`);
  settleTls(merged, cwd);

  if (merged.model_repository !== "") {
    settleRepository(merged, cwd);
    return { settings: deepFreeze(merged as Settings), help: cli.help };
  }
  if (merged.repository_api === true && merged.repository_api_token === "")
    throw new SettingsError(
      `invalid settings:\n  ${label(spec("repository_api"))}: needs REPOSITORY_API_TOKEN (the bearer token its requests must send)`,
    );
  if (merged.model_path === "") {
    merged.model_path = defaultModelPath();
    if (merged.model_name === "") merged.model_name = "default";
  }
  merged.model_path = (merged.model_path as string).trim();
  let location: ModelLocation;
  try {
    location = parseModelLocation(merged.model_path as string, cwd);
  } catch (error) {
    throw new SettingsError(`invalid settings:\n  ${label(modelPathSpec)}: ${(error as Error).message}`);
  }
  // A local model is kept as an absolute path (workers read it), a directory resolved to the one
  // model it holds (KServe's /mnt/models); a remote one is kept as written.
  if (location.kind === "file") {
    try {
      location = { kind: "file", path: resolveModelFile(location.path) };
    } catch (error) {
      throw new SettingsError((error as Error).message);
    }
    merged.model_path = location.path;
  }
  if (merged.model_name === "") {
    merged.model_name = validModelName(locationBaseName(location));
  }
  // MODEL_PATH's one model is the default model unless DEFAULT_MODEL names it otherwise (which
  // leaves /predict without a model: a 404 that says so).
  if (merged.default_model === "") merged.default_model = merged.model_name;
  settlePaths(merged, cwd);
  return { settings: deepFreeze(merged as Settings), help: cli.help };
}

/**
 * CERTFILE, KEYFILE and CA_CERTS made absolute against the directory forestd was started in, then
 * checked together and read (a missing or unreadable file, a key that is not the certificate's):
 * every problem stops start-up here, or fails a reload while the old workers keep serving.
 */
function settleTls(merged: Raw, cwd: string): void {
  for (const key of ["certfile", "keyfile", "ca_certs"])
    if (merged[key] !== "") merged[key] = resolve(cwd, (merged[key] as string).trim());
  const tls = merged as unknown as TlsSettings;
  const problems = tlsSettingsProblems(tls);
  const files = tlsFiles(tls);
  if (problems.length === 0 && files !== null) {
    try {
      readTlsMaterial(files);
    } catch (error) {
      if (!(error instanceof TlsError)) throw error;
      problems.push(error.message);
    }
  }
  if (problems.length > 0) throw new SettingsError(`invalid settings:\n  ${problems.join("\n  ")}`);
}

/** Paths in settings, made absolute against the directory forestd was started in. */
function settlePaths(merged: Raw, cwd: string): void {
  if (merged.model_cache_dir !== "") merged.model_cache_dir = resolve(cwd, merged.model_cache_dir as string);
  if (merged.pid_file !== "") merged.pid_file = resolve(cwd, merged.pid_file as string);
}

/**
 * MODEL_REPOSITORY instead of MODEL_PATH: the location parsed now (a typo stops start-up here), a
 * local one kept as an absolute path; MODEL_PATH and MODEL_NAME, which name one model, refused
 * beside it.
 */
function settleRepository(merged: Raw, cwd: string): void {
  const problems: string[] = [];
  if (merged.model_path !== "")
    problems.push(`${label(spec("model_path"))}: set MODEL_PATH or MODEL_REPOSITORY, not both`);
  if (merged.model_name !== "")
    problems.push(
      `${label(spec("model_name"))}: names MODEL_PATH's one model; a repository's models are named by their folders (or their forestd.json)`,
    );
  if (merged.model_sha256 !== "")
    problems.push(`${label(spec("model_sha256"))}: pins MODEL_PATH's one model, not a repository`);
  if (merged.repository_api === true && merged.repository_api_token === "")
    problems.push(
      `${label(spec("repository_api"))}: needs REPOSITORY_API_TOKEN (the bearer token its requests must send)`,
    );
  const value = (merged.model_repository as string).trim();
  try {
    const location = parseRepositoryLocation(value, cwd);
    merged.model_repository = location.kind === "file" ? location.path : value;
  } catch (error) {
    problems.push(`${label(spec("model_repository"))}: ${(error as Error).message}`);
  }
  if (problems.length > 0) throw new SettingsError(`invalid settings:\n  ${problems.join("\n  ")}`);
  settlePaths(merged, cwd);
}

function spec(key: string): SettingSpec {
  return specs.find((s) => s.key === key) as SettingSpec;
}

/** `forestd serve --help`: every setting with its flag, env var, default and doc line. */
export function settingsHelp(): string {
  const lines = [
    "Usage: forestd serve [options]",
    "",
    "Every option is also an environment variable and a config-file key.",
    "",
  ];
  lines.push("  -c, --config FILE              config file (.json, or .js exporting an object)");
  for (const spec of specs) {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${spec.flag} ${spec.kind === "boolean" ? "on|off" : spec.env}`;
    const dflt = spec.defaultDoc ?? JSON.stringify(spec.default);
    lines.push(`  ${flag.padEnd(30)} ${spec.doc}`);
    lines.push(`  ${"".padEnd(30)} env ${spec.env}; config "${spec.key}"; default ${dflt}`);
  }
  lines.push("", "Precedence: defaults < environment < config file < FORESTD_CMD_ARGS < command line.");
  return lines.join("\n");
}
