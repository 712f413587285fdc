/**
 * MODEL_CACHE_DIR: the last fetched copy of each remote model, with the validators it came with.
 * A restart then asks the source "changed since this ETag?" and, on 304, serves the copy without
 * downloading it again. Entries are written to a temporary name and renamed, so a crash leaves
 * the old entry or the new one, never half of one; an entry whose bytes no longer match their
 * recorded digest is ignored.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FetchedModel, ModelOrigin } from "./origin.js";

let privateDir: string | undefined;

/** MODEL_CACHE_DIR, or (when unset) a private directory of this process, removed at exit. */
export function cacheDir(configured: string): string {
  if (configured !== "") {
    mkdirSync(configured, { recursive: true, mode: 0o700 });
    return configured;
  }
  if (privateDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "forestd-models-"));
    privateDir = dir;
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return privateDir;
}

function entryName(source: string): string {
  return createHash("sha256").update(source).digest("hex").slice(0, 32);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export async function readCached(dir: string, source: string): Promise<FetchedModel | undefined> {
  const base = join(dir, entryName(source));
  try {
    const origin = JSON.parse(await readFile(`${base}.json`, "utf8")) as ModelOrigin;
    const bytes = new Uint8Array(await readFile(`${base}.model`));
    if (origin.source !== source || sha256Hex(bytes) !== origin.sha256) return undefined;
    return { bytes, sha256: origin.sha256, origin };
  } catch {
    return undefined; // no entry yet, or an unreadable one: fetch afresh
  }
}

export async function writeCached(dir: string, model: FetchedModel): Promise<void> {
  const base = join(dir, entryName(model.origin.source));
  const suffix = `.${process.pid}.tmp`;
  try {
    await writeFile(`${base}.model${suffix}`, model.bytes, { mode: 0o600 });
    await writeFile(`${base}.json${suffix}`, JSON.stringify(model.origin), { mode: 0o600 });
    // Bytes first, then the record that vouches for them.
    await rename(`${base}.model${suffix}`, `${base}.model`);
    await rename(`${base}.json${suffix}`, `${base}.json`);
  } finally {
    await rm(`${base}.model${suffix}`, { force: true });
    await rm(`${base}.json${suffix}`, { force: true });
  }
}
