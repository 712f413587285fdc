/**
 * Validating model bytes off the primary's event loop: a thread of its own (validate-thread.ts),
 * started on first use, answering what the engine says of the bytes (the objective and the bytes
 * the compiled model holds) or the error it raised, with its code and message unchanged (the logs,
 * the reload's failure and the start's refusal quote them).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RequestThread } from "../contract/request-thread.js";
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
  // Ended when idle (as the workers' loading thread): a model validated leaves its file, Forest
  // and compiled copies on the thread's heap, which an idle thread never collects.
  readonly #thread = new RequestThread<ValidateRequest, ValidateReply>(
    threadModule,
    (message) => ({
      id: 0,
      error: { name: "Error", message: `the validating thread failed: ${message}` },
    }),
    { endAfterIdleMs: 1000 },
  );

  /** Whether the engine serves these bytes with these labels; throws its error otherwise. */
  async validate(bytes: Uint8Array, labels: LabelOptions): Promise<Validated> {
    const reply = await this.#thread.ask((id) => ({ id, bytes, labels }));
    if ("error" in reply) {
      const error = new Error(reply.error.message) as Error & { code?: string };
      error.name = reply.error.name;
      if (reply.error.code !== undefined) error.code = reply.error.code;
      throw error;
    }
    return { objective: reply.objective, bytes: reply.bytes };
  }

  close(): Promise<void> {
    return this.#thread.close();
  }
}
