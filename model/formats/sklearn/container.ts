/**
 * The bytes around the pickle: joblib's compressions, told apart by their magic bytes as joblib's
 * `_detect_compressor` does (numpy_pickle_utils.py, compressor.py): zlib (0x78), gzip (1f 8b), bz2
 * ("BZ"), xz (fd 37 7a 58 5a), lzma "alone" (5d 00), lz4 frames (04 22 4d 18). Every decompressor
 * is bounded: output past `maxBytes`, or a ratio past `maxRatio` once past 64 MiB, is refused as a
 * compression bomb before it is all allocated.
 */
import { gunzipSync, inflateSync } from "node:zlib";
import { ModelError } from "../../errors.js";
import { Bz2BoundError, bz2Decompress } from "./bz2.js";
import { Lz4BoundError, lz4Decompress } from "./lz4.js";
import { LzmaBoundError, lzmaAloneDecompress, xzDecompress } from "./lzma.js";

export type Compression = "none" | "zlib" | "gzip" | "bz2" | "xz" | "lzma" | "lz4";

export interface DecompressLimits {
  /** Largest decompressed model. */
  readonly maxBytes: number;
  /** Largest decompressed / compressed ratio for outputs over 64 MiB (real models compress 2–20x). */
  readonly maxRatio: number;
}

export const DEFAULT_DECOMPRESS_LIMITS: DecompressLimits = { maxBytes: 2 ** 31, maxRatio: 200 };

const RATIO_FLOOR = 64 * 2 ** 20;

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

export function detectCompression(bytes: Uint8Array): Compression {
  if (startsWith(bytes, [0x5a, 0x46])) return "none"; // "ZF": joblib < 0.9.3, refused by the reader
  if (bytes.length >= 2 && bytes[0] === 0x78 && ((bytes[0] << 8) | bytes[1]) % 31 === 0) return "zlib";
  if (startsWith(bytes, [0x1f, 0x8b, 0x08])) return "gzip";
  if (startsWith(bytes, [0x42, 0x5a, 0x68]) && bytes.length > 3 && bytes[3] >= 0x31 && bytes[3] <= 0x39)
    return "bz2";
  if (startsWith(bytes, [0xfd, 0x37, 0x7a, 0x58, 0x5a])) return "xz";
  if (startsWith(bytes, [0x5d, 0x00, 0x00])) return "lzma";
  if (startsWith(bytes, [0x04, 0x22, 0x4d, 0x18])) return "lz4";
  return "none";
}

/** The bound for this input: the smaller of maxBytes and (above 64 MiB) maxRatio × its size. */
export function outputBound(inputLength: number, limits: DecompressLimits): number {
  return Math.min(limits.maxBytes, Math.max(RATIO_FLOOR, inputLength * limits.maxRatio));
}

export function bomb(compression: Compression, inputLength: number, bound: number): never {
  throw new ModelError(
    "FORESTD_ERR_MODEL_TOO_LARGE",
    `the ${compression}-compressed file (${inputLength} bytes) decompresses to more than ${bound} bytes: refused as a compression bomb`,
  );
}

function corrupt(compression: Compression, cause: unknown): never {
  const why = cause instanceof Error ? cause.message : String(cause);
  throw new ModelError(
    "FORESTD_ERR_MODEL_SYNTAX",
    `the ${compression}-compressed file is corrupt or truncated: ${why}`,
    { cause },
  );
}

const DECODERS: Record<"bz2" | "xz" | "lzma" | "lz4", (input: Uint8Array, bound: number) => Uint8Array> = {
  bz2: bz2Decompress,
  xz: xzDecompress,
  lzma: lzmaAloneDecompress,
  lz4: lz4Decompress,
};

export interface Decompressed {
  readonly bytes: Uint8Array;
  readonly compression: Compression;
}

export function decompress(
  input: Uint8Array,
  limits: DecompressLimits = DEFAULT_DECOMPRESS_LIMITS,
): Decompressed {
  const compression = detectCompression(input);
  if (compression === "none") return { bytes: input, compression };
  const bound = outputBound(input.length, limits);
  switch (compression) {
    case "zlib":
    case "gzip":
      try {
        const options = { maxOutputLength: bound };
        const out = compression === "zlib" ? inflateSync(input, options) : gunzipSync(input, options);
        return { bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength), compression };
      } catch (e) {
        if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") bomb(compression, input.length, bound);
        corrupt(compression, e);
      }
      break;
    default:
      try {
        return { bytes: DECODERS[compression](input, bound), compression };
      } catch (e) {
        if (e instanceof Bz2BoundError || e instanceof Lz4BoundError || e instanceof LzmaBoundError)
          bomb(compression, input.length, bound);
        corrupt(compression, e);
      }
  }
}
