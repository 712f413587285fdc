/**
 * A model's forestd.json: its name (instead of its folder's), its version policy (Triton's), and
 * its own values of the per-model settings (config/settings.ts marks them `perModel`; keys as in a
 * config file: `max_queue_wait`, or the variable's name `MAX_QUEUE_WAIT`):
 *
 *   {"name": "churn", "version_policy": {"latest": {"num_versions": 2}},
 *    "class_names": ["stay", "churn"], "max_queue_wait": 0.02}
 *
 * Version policies: {"latest": {"num_versions": N}} (the N highest; the default, with N = 1),
 * {"all": {}}, {"specific": {"versions": [1, 3]}}. Every problem is refused by name.
 */
import { Value } from "typebox/value";
import { MODEL_NAME_PATTERN } from "../../config/model-location.js";
import { SETTINGS, type SettingSpec } from "../../config/settings.js";
import type { ModelConfig } from "../../contract/models.js";

export type VersionPolicy =
  | { readonly kind: "latest"; readonly count: number }
  | { readonly kind: "all" }
  | { readonly kind: "specific"; readonly versions: readonly string[] };

export interface FolderConfig {
  readonly name?: string;
  readonly policy: VersionPolicy;
  readonly overrides: Partial<ModelConfig>;
}

/** The largest forestd.json read: it holds a few settings, not data. */
export const MAX_CONFIG_BYTES = 64 * 1024;

export const DEFAULT_POLICY: VersionPolicy = { kind: "latest", count: 1 };

const PER_MODEL: readonly SettingSpec[] = (SETTINGS as readonly SettingSpec[]).filter((s) => s.perModel);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads a forestd.json; throws an Error whose message says what is wrong and where. */
export function parseFolderConfig(bytes: Uint8Array): FolderConfig {
  if (bytes.length > MAX_CONFIG_BYTES)
    throw new Error(`is ${bytes.length} bytes; a forestd.json holds at most ${MAX_CONFIG_BYTES}`);
  let content: unknown;
  try {
    content = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new Error(`is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(content)) throw new Error("must hold a JSON object of settings");
  let name: string | undefined;
  let policy = DEFAULT_POLICY;
  const overrides: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(content)) {
    if (key === "name") {
      if (typeof value !== "string" || !MODEL_NAME_PATTERN.test(value))
        throw new Error(
          `"name" must be a model name (1 to 128 of A-Z a-z 0-9 . _ - starting with a letter or digit)`,
        );
      name = value;
      continue;
    }
    if (key === "version_policy") {
      policy = versionPolicy(value);
      continue;
    }
    const spec = PER_MODEL.find((s) => s.key === key || s.env === key);
    if (!spec)
      throw new Error(
        `unknown key "${key.slice(0, 60)}"; a forestd.json may set name, version_policy, ${PER_MODEL.map((s) => s.key).join(", ")}`,
      );
    if (!Value.Check(spec.schema, value))
      throw new Error(`"${key}" is not a valid ${spec.env} (${JSON.stringify(value)?.slice(0, 60)})`);
    overrides[spec.key] = value;
  }
  return { ...(name !== undefined ? { name } : {}), policy, overrides: overrides as Partial<ModelConfig> };
}

function versionPolicy(value: unknown): VersionPolicy {
  const usage =
    '"version_policy" must be {"latest": {"num_versions": N}}, {"all": {}} or {"specific": {"versions": [1, 3]}}';
  if (!isObject(value) || Object.keys(value).length !== 1) throw new Error(usage);
  const [kind, body] = Object.entries(value)[0];
  if (!isObject(body)) throw new Error(usage);
  if (kind === "all" && Object.keys(body).length === 0) return { kind: "all" };
  if (kind === "latest") {
    const n = body.num_versions ?? 1;
    if (
      Object.keys(body).some((k) => k !== "num_versions") ||
      !Number.isInteger(n) ||
      (n as number) < 1 ||
      (n as number) > 1000
    )
      throw new Error(`${usage}; num_versions is a whole number from 1 to 1000`);
    return { kind: "latest", count: n as number };
  }
  if (kind === "specific") {
    const versions = body.versions;
    if (
      Object.keys(body).some((k) => k !== "versions") ||
      !Array.isArray(versions) ||
      versions.length === 0 ||
      versions.length > 1000 ||
      !versions.every((v) => Number.isSafeInteger(v) && v > 0)
    )
      throw new Error(`${usage}; versions are positive whole numbers`);
    return { kind: "specific", versions: versions.map(String) };
  }
  throw new Error(usage);
}

/** Which of the available version numbers the policy serves, and why each other one is not. */
export function applyPolicy(
  available: readonly string[],
  policy: VersionPolicy,
): { served: string[]; skipped: { version: string; reason: string }[] } {
  const sorted = [...available].sort((a, b) => Number(a) - Number(b));
  let served: string[];
  switch (policy.kind) {
    case "all":
      served = sorted;
      break;
    case "latest":
      served = sorted.slice(-policy.count);
      break;
    case "specific":
      served = sorted.filter((v) => policy.versions.includes(v));
      break;
  }
  const why =
    policy.kind === "latest"
      ? `not among the latest ${policy.count} (version_policy)`
      : "not among the versions version_policy names";
  return {
    served,
    skipped: sorted.filter((v) => !served.includes(v)).map((version) => ({ version, reason: why })),
  };
}
