/**
 * Every format forestd reads, and the one entry that picks a file's format by its content.
 *
 * A format is a folder under formats/ exporting a ModelFormat; adding one is adding it to FORMATS.
 * Content decides (a file from a bucket may be named anything); a file name's extension is only
 * a hint, used when the content matches no format, so a damaged `.onnx` file is refused with the
 * ONNX reader's own message rather than "unknown format".
 */
import { ModelError } from "../errors.js";
import type { Forest } from "../forest/forest.js";
import type { ModelFormat } from "./format.js";
import { lightgbmFormat } from "./lightgbm/index.js";
import { onnxFormat } from "./onnx/index.js";
import { sklearnFormat } from "./sklearn/index.js";
import { xgboostFormat } from "./xgboost/index.js";

/**
 * In sniffing order: the most specific signatures first. scikit-learn's (pickle PROTO 2-5, or a
 * compression's magic bytes) come before ONNX's, whose protobuf sniff also accepts "BZh" (field 8);
 * LightGBM's text ("tree", then "version=") before ONNX's and XGBoost's.
 */
export const FORMATS: readonly ModelFormat[] = [sklearnFormat, lightgbmFormat, onnxFormat, xgboostFormat];

/** The format of these bytes, by content, else by the name's extension; null when neither tells. */
export function formatOf(bytes: Uint8Array, name?: string): ModelFormat | null {
  for (const format of FORMATS) if (format.sniff(bytes)) return format;
  const lower = name?.toLowerCase() ?? "";
  return FORMATS.find((format) => format.extensions.some((ext) => lower.endsWith(ext))) ?? null;
}

/** A short, printable picture of a file's first bytes, for "unknown format" messages. */
function leadingBytes(bytes: Uint8Array): string {
  const head = bytes.subarray(0, 8);
  const hex = Array.from(head, (b) => b.toString(16).padStart(2, "0")).join(" ");
  const text = Array.from(head, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
  return `${hex} "${text}"`;
}

/** Reads bytes of any known format into a Forest; `name` (a path or URL) is only an extension hint. */
export function readForest(bytes: Uint8Array, name?: string): Forest {
  if (bytes.length === 0) throw new ModelError("FORESTD_ERR_MODEL_SYNTAX", "model file is empty");
  const format = formatOf(bytes, name);
  if (!format) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_SYNTAX",
      `model file is not in a format forestd reads (it starts with ${leadingBytes(bytes)}); forestd reads: ${FORMATS.map((f) => f.description).join("; ")}`,
    );
  }
  return format.read(bytes);
}
