/**
 * scikit-learn models as users save them: `joblib.dump(model, "model.joblib")` (any compression
 * joblib writes) or `pickle.dump`, read as data with an allow-list, never executed.
 */
import { checkForest } from "../../forest/check.js";
import type { ModelFormat } from "../format.js";
import { detectCompression } from "./container.js";
import { isZip, readSklearn } from "./read.js";

/** A pickle's first bytes: PROTO 2–5, or protocol 0/1's GLOBAL "module\nname\n" or MARK. */
function looksLikePickle(bytes: Uint8Array): boolean {
  if (bytes.length < 2) return false;
  if (bytes[0] === 0x80) return bytes[1] >= 2 && bytes[1] <= 5;
  if (bytes[0] === 0x63) {
    // GLOBAL: a dotted module name, a newline, a name, a newline
    const head = new TextDecoder("latin1").decode(bytes.subarray(1, 256));
    return /^[A-Za-z_][\w.]*\n[A-Za-z_]\w*\n/.test(head);
  }
  return bytes[0] === 0x28 && (bytes[1] === 0x63 || bytes[1] === 0x69); // MARK then GLOBAL / INST
}

export const sklearnFormat: ModelFormat = {
  name: "sklearn",
  description:
    "scikit-learn models saved with joblib.dump, pickle.dump or skops (.joblib, .pkl, .skops), read as data",
  // joblib names a compressed file by adding the compressor's own extension.
  extensions: [".joblib", ".pkl", ".pickle"]
    .flatMap((ext) => [ext, ...[".z", ".gz", ".bz2", ".xz", ".lzma", ".lz4"].map((c) => ext + c)])
    .concat(".skops"),
  sniff(bytes: Uint8Array): boolean {
    return detectCompression(bytes) !== "none" || looksLikePickle(bytes) || isZip(bytes);
  },
  read(bytes: Uint8Array) {
    const forest = readSklearn(bytes);
    checkForest(forest);
    return forest;
  },
  describe(d) {
    const lines: [string, string][] = [
      ["estimator", String(d.estimator)],
      [
        "saved by",
        `scikit-learn ${String(d.sklearnVersion)} (joblib's and numpy's versions are not recorded in the file)`,
      ],
      [
        "container",
        `${String(d.container)}, pickle protocol ${String(d.protocol)}; read as data, nothing executed`,
      ],
    ];
    if (Array.isArray(d.pipeline)) lines.push(["pipeline", d.pipeline.join(" -> ")]);
    if (d.loss !== undefined) lines.push(["loss", String(d.loss)]);
    if (d.learningRate !== undefined) lines.push(["rate", String(d.learningRate)]);
    if (d.init !== undefined) lines.push(["init", String(d.init)]);
    if (d.stages !== undefined) lines.push(["stages", String(d.stages)]);
    if (d.iterations !== undefined) lines.push(["iterations", String(d.iterations)]);
    if (d.maxSamples !== undefined) lines.push(["max_samples", String(d.maxSamples)]);
    if (d.offset !== undefined) lines.push(["offset_", String(d.offset)]);
    return lines;
  },
};

export default sklearnFormat;
