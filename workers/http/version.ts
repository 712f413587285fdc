/** forestd's version, from package.json, read once. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../model/default-model.js";

export const VERSION: string = (
  JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }
).version;
