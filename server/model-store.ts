/**
 * The model bytes each generation owns.
 *
 * The primary reads MODEL_PATH once per generation (at start and on each reload), validates the
 * bytes by loading them with the engine, and writes them to a content-addressed snapshot
 * (`<sha256>.model`) in a private runtime directory that only it writes and that it removes at exit.
 * Every worker of the generation — first boot, respawn, TTIN, MAX_REQUESTS or TIMEOUT replacement —
 * loads exactly that snapshot and checks its digest, so a file replaced or corrupted on disk after
 * the reload cannot reach a worker, and all workers of a generation serve the same model.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, readModelBytes } from "../model/index.js";

export interface ModelSnapshot {
  readonly sha256: string;
  /** The file every worker of the generation loads. */
  readonly path: string;
  /** Where the bytes came from (MODEL_PATH as given). */
  readonly source: string;
  readonly objective: string;
}

/** How a generation's bytes are obtained: a local read today; remote sources plug in here. */
export type ModelReader = (source: string) => Promise<Uint8Array> | Uint8Array;

export const readLocalModel: ModelReader = (source) => readModelBytes(source);

export class ModelStore {
  readonly dir: string;
  readonly #read: ModelReader;
  /** Snapshot digest → generations using it. */
  readonly #users = new Map<string, Set<number>>();

  constructor(read: ModelReader = readLocalModel, dir = mkdtempSync(join(tmpdir(), "forestd-"))) {
    this.#read = read;
    this.dir = dir;
  }

  /** Reads, validates and snapshots the model for `generation`; throws (a ModelError) if it is not servable. */
  async prepare(source: string, generation: number): Promise<ModelSnapshot> {
    const bytes = await this.#read(source);
    // Refuse a bad model here, before any worker is touched.
    const model = loadModel(bytes);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const path = join(this.dir, `${sha256}.model`);
    if (!existsSync(path)) {
      const partial = `${path}.${process.pid}.partial`;
      writeFileSync(partial, bytes, { mode: 0o400 });
      renameSync(partial, path);
    }
    const users = this.#users.get(sha256) ?? new Set<number>();
    users.add(generation);
    this.#users.set(sha256, users);
    return { sha256, path, source, objective: model.objective };
  }

  /** The generation is gone: its snapshot goes too unless another generation shares it. */
  release(snapshot: ModelSnapshot, generation: number): void {
    const users = this.#users.get(snapshot.sha256);
    users?.delete(generation);
    if (users && users.size > 0) return;
    this.#users.delete(snapshot.sha256);
    try {
      chmodSync(snapshot.path, 0o600);
    } catch {
      // already gone
    }
    rmSync(snapshot.path, { force: true });
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
