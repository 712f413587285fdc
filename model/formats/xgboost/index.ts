/**
 * XGBoost's own files, as `save_model` writes them: JSON (.json), UBJSON (.ubj) or, before XGBoost
 * 2.1, the legacy binary format (any other name: MLflow's model.xgb), told apart by content, read
 * into a Forest.
 */
import { ModelError } from "../../errors.js";
import type { Forest } from "../../forest/forest.js";
import type { ModelFormat } from "../format.js";
import { parseXGBoostJson } from "./json-text.js";
import { decodeLegacyBinary, looksLikeLegacyBinary } from "./legacy-binary.js";
import { readModelDocument } from "./read-document.js";
import { decodeUbjson } from "./ubjson.js";

/** A JSON document opens with `{` then whitespace, `"` or `}`; UBJSON's `{` is followed by a type marker. */
export function looksLikeJson(bytes: Uint8Array): boolean {
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3; // UTF-8 BOM
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)
  )
    i++;
  if (bytes[i] !== 0x7b /* { */) return false;
  const next = bytes[i + 1];
  return next === 0x22 || next === 0x20 || next === 0x0a || next === 0x0d || next === 0x09 || next === 0x7d;
}

/** UBJSON's object opens with `{` followed by a type marker or a key's length marker. */
function looksLikeUbjson(bytes: Uint8Array): boolean {
  return bytes[0] === 0x7b && !looksLikeJson(bytes);
}

export function readXGBoostForest(bytes: Uint8Array): Forest {
  if (looksLikeLegacyBinary(bytes)) {
    const forest = readModelDocument(decodeLegacyBinary(bytes));
    return {
      ...forest,
      provenance: { ...forest.provenance, details: { ...forest.provenance.details, file: "legacy binary" } },
    };
  }
  let document: unknown;
  if (looksLikeJson(bytes)) {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (error) {
      throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", "model file is JSON but not valid UTF-8", {
        cause: error,
      });
    }
    document = parseXGBoostJson(text);
  } else {
    document = decodeUbjson(bytes);
  }
  return readModelDocument(document);
}

export const xgboostFormat: ModelFormat = {
  name: "xgboost",
  description: "XGBoost JSON, UBJSON or legacy binary (.json, .ubj, .xgb, as save_model writes them)",
  extensions: [".json", ".ubj", ".xgb"],
  sniff: (bytes) => looksLikeJson(bytes) || looksLikeUbjson(bytes) || looksLikeLegacyBinary(bytes),
  read: readXGBoostForest,
  describe: (d) => [
    [
      "booster",
      `${d.booster}${Number(d.numParallelTree) > 1 ? ` (${d.numParallelTree} trees per round)` : ""}`,
    ],
    ["base_score", (d.baseScore as number[]).join(", ")],
    ["xgboost", String(d.xgboostVersion ?? "unknown")],
    ...(d.file === "legacy binary"
      ? ([["file", "legacy binary format (no feature names; rows by position)"]] as [string, string][])
      : []),
  ],
};
