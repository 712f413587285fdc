/**
 * The model bytes each served model version owns.
 *
 * The primary reads each model's source (MODEL_PATH at start and on each reload; a repository's
 * files when it is scanned, polled or asked to load; a path, S3 or HTTPS through
 * server/model-source), validates the bytes by loading them with the engine, and writes them to a
 * content-addressed snapshot (`<sha256>.model`) in a private runtime directory that only it writes
 * and that it removes at exit. Every worker — first boot, respawn, TTIN, MAX_REQUESTS or TIMEOUT
 * replacement — loads exactly that snapshot and checks its digest, so a file replaced or corrupted
 * on disk after it was validated cannot reach a worker, and all workers serve the same model.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LabelOptions } from "../model/index.js";
import { ModelValidator } from "./model-validator.js";

export interface ModelSnapshot {
  readonly sha256: string;
  /** The file every worker loads. */
  readonly path: string;
  /** Where the bytes came from (without credentials or query string). */
  readonly source: string;
  readonly objective: string;
  /** Bytes the compiled model holds in a worker (Model.compiledBytes). */
  readonly bytes: number;
}

export class ModelStore {
  readonly dir: string;
  /** Snapshot digest → who uses it (model versions, by key). */
  readonly #users = new Map<string, Set<string>>();
  /** The engine's verdict, off the event loop and at the lowest priority. */
  readonly #validator = new ModelValidator();

  constructor(dir = mkdtempSync(join(tmpdir(), "forestd-"))) {
    this.dir = dir;
  }

  /**
   * Validates and snapshots the model's bytes for `owner` (a model version); throws (a
   * ModelError, or the labels' refusal) if it is not servable, or CLASS_NAMES / THRESHOLD
   * (`labels`) do not fit it.
   */
  async prepare(
    bytes: Uint8Array,
    source: string,
    owner: string,
    labels: LabelOptions = { classNames: null, threshold: 0.5 },
  ): Promise<ModelSnapshot> {
    // Refuse a bad model (or settings that do not fit it) here, before any worker is touched.
    const model = await this.#validator.validate(bytes, labels);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const path = join(this.dir, `${sha256}.model`);
    if (!existsSync(path)) {
      const partial = `${path}.${process.pid}.partial`;
      writeFileSync(partial, bytes, { mode: 0o400 });
      renameSync(partial, path);
    }
    const users = this.#users.get(sha256) ?? new Set<string>();
    users.add(owner);
    this.#users.set(sha256, users);
    return { sha256, path, source, objective: model.objective, bytes: model.bytes };
  }

  /** Another owner of a snapshot already made (a version kept across a change of its key). */
  retain(snapshot: ModelSnapshot, owner: string): void {
    const users = this.#users.get(snapshot.sha256) ?? new Set<string>();
    users.add(owner);
    this.#users.set(snapshot.sha256, users);
  }

  /** `owner` is done with it: the snapshot goes too unless another owner shares it. */
  release(snapshot: ModelSnapshot, owner: string): void {
    const users = this.#users.get(snapshot.sha256);
    users?.delete(owner);
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
    void this.#validator.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
