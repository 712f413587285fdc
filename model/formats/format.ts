/**
 * A model format: a folder that only reads and validates. It tells its files by content and turns
 * their bytes into a Forest (model/forest/); it compiles nothing and scores nothing. Adding a
 * format is one folder exporting one of these, listed in formats/index.ts.
 */
import type { Forest } from "../forest/forest.js";

export interface ModelFormat {
  /** Short name, as Forest.provenance.format and /model report it: "xgboost", "onnx", ... */
  readonly name: string;
  /** What a user would call the files, for "which formats exist" messages. */
  readonly description: string;
  /** File name endings this format's files usually have (lower case, with the dot). */
  readonly extensions: readonly string[];
  /** Whether the bytes look like this format (cheap: a few leading bytes). */
  sniff(bytes: Uint8Array): boolean;
  /** Reads and checks the bytes; throws a ModelError naming what and where on any problem. */
  read(bytes: Uint8Array): Forest;
  /**
   * `forestd inspect`'s lines about what the file itself says (its Forest's provenance details):
   * label and value, in order.
   */
  describe(details: Readonly<Record<string, unknown>>): [string, string][];
}
