/**
 * Where the bundled default model lives, found from this module's own location so it works from
 * the sources (tests), from `dist/` and from an installed package alike.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const DEFAULT_MODEL_NAME = "body";

/** The package root: the nearest directory above this module holding model/default/model.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "model", "default", "model.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("forestd: cannot find model/default/model.json above this module");
    dir = parent;
  }
}

export function defaultModelPath(): string {
  return join(packageRoot(), "model", "default", "model.json");
}
