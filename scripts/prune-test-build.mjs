// Removes compiled tests whose source is gone (a test renamed or deleted), before
// `npm run build:test` compiles test/ into dist/test/ incrementally: tap runs every
// dist/test/*.test.js, and a stale one would run a test that no longer exists.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");
const built = join(root, "dist", "test");

function prune(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) prune(path);
    else if (/\.js(\.map)?$/.test(entry.name)) {
      const source = join(root, "test", relative(built, path)).replace(/\.js(\.map)?$/, ".ts");
      if (!existsSync(source)) rmSync(path);
    }
  }
}

prune(built);
