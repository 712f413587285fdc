/**
 * V8_FLAGS: the V8 flags each worker process is started with (on its command line, so they hold
 * from its first allocation and for every isolate in it, scoring threads included).
 *
 * A flag this Node's V8 does not know would stop every worker at start ("bad option"), so each is
 * checked against `node --v8-options` first and left out when unknown: a flag tuned for one Node
 * version must not take the server down on another. The default's flag is one of those: V8 13
 * (Node 24) has it, V8 12.4 (Node 22) does not.
 */
import { spawnSync } from "node:child_process";

/** A flag's name as V8 lists it: no dashes, no `no-` prefix, no value, `_` read as `-`. */
export function v8FlagName(flag: string): string {
  const bare = flag.replace(/^--?/, "").split("=", 1)[0].replaceAll("_", "-");
  return bare.startsWith("no-") ? bare.slice(3) : bare;
}

/**
 * The names of the flags `node --v8-options` lists: each as `  --name (help)` after its `Options:`
 * line (before it, a synopsis shows the syntax with placeholders such as `  --flag`).
 */
export function parseV8Options(text: string): Set<string> {
  const names = new Set<string>();
  const options = text.indexOf("\nOptions:");
  if (options < 0) return names;
  for (const match of text.slice(options).matchAll(/^ {2}--([a-z0-9_-]+)/gm)) names.add(v8FlagName(match[1]));
  return names;
}

let known: Set<string> | null = null;

/**
 * Flags this Node's V8 knows, read once from `node --v8-options` (~40 ms); null when they cannot be
 * read (not remembered: the next worker started asks again).
 */
function knownFlags(): ReadonlySet<string> | null {
  if (known === null) {
    const listing = spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8", timeout: 5000 });
    const names = listing.status === 0 ? parseV8Options(listing.stdout) : new Set<string>();
    if (names.size > 0) known = names;
  }
  return known;
}

export interface SortedV8Flags {
  /** Flags this V8 knows, in the order given. */
  usable: string[];
  /** Flags it does not know (or all of them, when its flags could not be listed). */
  unknown: string[];
  /** False when `node --v8-options` could not be read, so nothing could be checked. */
  checked: boolean;
}

/**
 * Splits V8_FLAGS (space-separated; `none` for none: an empty variable reads as unset) into the
 * flags to start workers with and the rest. `names` is the set to check against (default: this
 * Node's; when it cannot be listed, no flag is passed on).
 */
export function sortV8Flags(
  setting: string,
  names: ReadonlySet<string> | null = knownFlags(),
): SortedV8Flags {
  const flags = setting.trim() === "none" ? [] : setting.split(/\s+/).filter(Boolean);
  if (names === null) return { usable: [], unknown: flags, checked: false };
  return {
    usable: flags.filter((flag) => names.has(v8FlagName(flag))),
    unknown: flags.filter((flag) => !names.has(v8FlagName(flag))),
    checked: true,
  };
}
