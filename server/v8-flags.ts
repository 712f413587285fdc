/**
 * V8_FLAGS: the V8 flags each worker process is started with (on its command line, so they hold
 * from its first allocation and for every isolate in it, scoring threads included).
 *
 * A flag this Node's V8 does not know would stop every worker at start ("bad option"), so each is
 * checked against `node --v8-options` first and left out, with a warning, when unknown: a flag
 * tuned for one Node version must not take the server down on another.
 */
import { spawnSync } from "node:child_process";

/** A flag's name as V8 lists it: no dashes, no `no-` prefix, no value, `_` read as `-`. */
export function v8FlagName(flag: string): string {
  const bare = flag.replace(/^--?/, "").split("=", 1)[0].replaceAll("_", "-");
  return bare.startsWith("no-") ? bare.slice(3) : bare;
}

/** The names of the flags `node --v8-options` lists (each appears as `  --name (help)`). */
export function parseV8Options(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/^ {2}--([a-z0-9_-]+)/gm)) names.add(v8FlagName(match[1]));
  return names;
}

let known: Set<string> | null = null;

/** Flags this Node's V8 knows, read once from `node --v8-options` (~40 ms); empty if it cannot be read. */
function knownFlags(): Set<string> {
  if (known === null) {
    const listing = spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8", timeout: 10_000 });
    known = listing.status === 0 ? parseV8Options(listing.stdout) : new Set();
  }
  return known;
}

/**
 * Splits V8_FLAGS (space-separated; `none` for none: an empty variable reads as unset) into the
 * flags to start workers with and those this V8 does not know. `names` is the set to check
 * against (default: this Node's).
 */
export function sortV8Flags(
  setting: string,
  names: ReadonlySet<string> = knownFlags(),
): { usable: string[]; unknown: string[] } {
  const usable: string[] = [];
  const unknown: string[] = [];
  if (setting.trim() === "none") return { usable, unknown };
  for (const flag of setting.split(/\s+/).filter(Boolean)) {
    (names.has(v8FlagName(flag)) ? usable : unknown).push(flag);
  }
  return { usable, unknown };
}
