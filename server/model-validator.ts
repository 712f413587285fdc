/**
 * Validating model bytes off the primary's event loop: a thread of its own (validate-thread.ts),
 * started on first use, answering what the engine says of the bytes (the objective and the bytes
 * the compiled model holds) or the error it raised, with its code and message unchanged (the logs,
 * the reload's failure and the start's refusal quote them).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { type LabelOptions, packageRoot } from "../model/index.js";

export interface ValidateRequest {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly labels: LabelOptions;
}

export type ValidateReply =
  | { readonly id: number; readonly objective: string; readonly bytes: number }
  | { readonly id: number; readonly error: { name: string; message: string; code?: string } };

export interface Validated {
  readonly objective: string;
  /** Bytes the compiled model holds in a worker. */
  readonly bytes: number;
}

function threadModule(): string {
  const sibling = fileURLToPath(new URL("./validate-thread.js", import.meta.url));
  return existsSync(sibling) ? sibling : join(packageRoot(), "dist", "server", "validate-thread.js");
}

export class ModelValidator {
  #thread: Worker | null = null;
  #next = 1;
  readonly #waiting = new Map<number, (reply: ValidateReply) => void>();

  /** Whether the engine serves these bytes with these labels; throws its error otherwise. */
  async validate(bytes: Uint8Array, labels: LabelOptions): Promise<Validated> {
    const id = this.#next++;
    const reply = await new Promise<ValidateReply>((resolve) => {
      this.#waiting.set(id, resolve);
      const thread = this.#worker();
      thread.ref();
      thread.postMessage({ id, bytes, labels } satisfies ValidateRequest);
    });
    if ("error" in reply) {
      const error = new Error(reply.error.message) as Error & { code?: string };
      error.name = reply.error.name;
      if (reply.error.code !== undefined) error.code = reply.error.code;
      throw error;
    }
    return { objective: reply.objective, bytes: reply.bytes };
  }

  #worker(): Worker {
    if (this.#thread) return this.#thread;
    const thread = new Worker(threadModule());
    thread.on("message", (reply: ValidateReply) => {
      this.#waiting.get(reply.id)?.(reply);
      this.#waiting.delete(reply.id);
      // Idle between validations: it must not keep the primary alive.
      if (this.#waiting.size === 0) thread.unref();
    });
    thread.on("error", (error) => {
      for (const resolve of this.#waiting.values())
        resolve({
          id: 0,
          error: { name: "Error", message: `the validating thread failed: ${error.message}` },
        });
      this.#waiting.clear();
      this.#thread = null;
    });
    thread.on("exit", () => {
      if (this.#thread === thread) this.#thread = null;
    });
    this.#thread = thread;
    return thread;
  }

  async close(): Promise<void> {
    await this.#thread?.terminate();
    this.#thread = null;
  }
}
