/**
 * Model loading: bytes or a path → parse (JSON, UBJSON or ONNX, told apart by content; a `.onnx`
 * path is always read as ONNX) → read → compile.
 */
import { readFileSync } from "node:fs";
import { compileForest } from "./compile.js";
import { ModelError } from "./errors.js";
import { parseXGBoostJson } from "./json-text.js";
import { Model } from "./model.js";
import { loadOnnxModel, looksLikeOnnx } from "./onnx/load-onnx.js";
import { readModelDocument } from "./read-document.js";
import { decodeUbjson } from "./ubjson.js";

export type ModelSource = string | URL | Uint8Array | ArrayBuffer;

/** A JSON document opens with `{` then whitespace, `"` or `}`; UBJSON's `{` is followed by a type marker. */
export function looksLikeJson(bytes: Uint8Array): boolean {
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3; // UTF-8 BOM
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)
  )
    i++;
  if (bytes[i] !== 0x7b /* { */) return true; // not an object at all: let the JSON parser say so
  const next = bytes[i + 1];
  return next === 0x22 || next === 0x20 || next === 0x0a || next === 0x0d || next === 0x09 || next === 0x7d;
}

export function readModelBytes(source: string | URL): Uint8Array {
  try {
    return readFileSync(source);
  } catch (error) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_READ",
      `cannot read model file ${String(source)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Parses, checks and compiles a model written by XGBoost's `save_model` (.json or .ubj), or an
 * ONNX-ML tree ensemble (.onnx, from skl2onnx, onnxmltools, CatBoost...).
 */
export function loadModel(source: ModelSource): Model {
  const bytes =
    typeof source === "string" || source instanceof URL
      ? readModelBytes(source)
      : source instanceof ArrayBuffer
        ? new Uint8Array(source)
        : source;
  if (bytes.length === 0) throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", "model file is empty");
  const onnxPath = (typeof source === "string" || source instanceof URL) && /\.onnx$/i.test(String(source));
  if (onnxPath || looksLikeOnnx(bytes)) return loadOnnxModel(bytes);
  let document: unknown;
  if (looksLikeJson(bytes)) {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (error) {
      throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", "model file is neither UBJSON nor UTF-8 JSON", {
        cause: error,
      });
    }
    document = parseXGBoostJson(text);
  } else {
    document = decodeUbjson(bytes);
  }
  const spec = readModelDocument(document);
  return new Model(spec, compileForest(spec));
}
