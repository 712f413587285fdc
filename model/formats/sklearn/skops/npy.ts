/**
 * numpy's .npy files (numpy/lib/format.py, versions 1–3), as skops stores arrays: the magic
 * "\x93NUMPY", a version, a header that is a Python dict literal {'descr': ..., 'fortran_order':
 * ..., 'shape': (...)}, then the raw data. The header is parsed here as the small literal grammar it
 * is (strings, booleans, integers, tuples, lists); `descr` is a type string ('<f8', '|u1', '<U10')
 * or, for structured arrays, a list of (name, type string) pairs with '' names for padding.
 */
import { ModelError } from "../../../errors.js";
import { checkDataLength, shapeSize } from "../pickle/numpy.js";
import { Dtype, type DtypeField, NdArray } from "../pickle/values.js";

function invalid(where: string, message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_INVALID", `${where}: ${message}`);
}

type Literal = string | number | boolean | null | Literal[] | { [key: string]: Literal };

/** A Python literal of the kinds .npy headers hold. */
function parseLiteral(text: string, where: string): Literal {
  let i = 0;
  const space = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const value = (depth: number): Literal => {
    if (depth > 8) invalid(where, "the .npy header nests too deep");
    space();
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) invalid(where, "an unterminated string in the .npy header");
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    if (c === "{" || c === "(" || c === "[") {
      const close = c === "{" ? "}" : c === "(" ? ")" : "]";
      i++;
      const items: Literal[] = [];
      const dict: { [key: string]: Literal } = Object.create(null);
      for (;;) {
        space();
        if (text[i] === close) {
          i++;
          break;
        }
        const item = value(depth + 1);
        space();
        if (c === "{") {
          if (text[i] !== ":" || typeof item !== "string")
            invalid(where, "a .npy header key is not a string");
          i++;
          dict[item] = value(depth + 1);
        } else items.push(item);
        space();
        if (text[i] === ",") i++;
        else if (text[i] !== close) invalid(where, `unexpected "${text[i] ?? "end"}" in the .npy header`);
      }
      return c === "{" ? dict : items;
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(text.slice(i, i + 32));
    if (!m) invalid(where, `unexpected "${text.slice(i, i + 10)}" in the .npy header`);
    i += m[0].length;
    return m[0] === "True"
      ? true
      : m[0] === "False"
        ? false
        : m[0] === "None"
          ? null
          : Number(m[0].replace("L", ""));
  };
  const out = value(0);
  space();
  if (i !== text.length) invalid(where, "trailing text after the .npy header");
  return out;
}

function simpleDtype(descr: string, where: string): Dtype {
  const m = /^([<>|=]?)([a-zA-Z]\d+)$/.exec(descr);
  if (!m) invalid(where, `.npy dtype "${descr.slice(0, 20)}" is not one forestd reads`);
  const dtype = Dtype.fromTypestr(m[2], where);
  const order = m[1] === "" || m[1] === "=" ? "<" : m[1];
  if (dtype.kind !== "O")
    dtype.byteorder = dtype.itemsize === 1 && order !== ">" ? "|" : (order as "<" | ">" | "|");
  dtype.built = true;
  return dtype;
}

function structuredDtype(descr: Literal[], where: string): Dtype {
  const fields: DtypeField[] = [];
  let offset = 0;
  for (const entry of descr) {
    if (
      !Array.isArray(entry) ||
      entry.length !== 2 ||
      typeof entry[0] !== "string" ||
      typeof entry[1] !== "string"
    )
      invalid(where, "a structured .npy dtype entry is not (name, type)");
    const [name, type] = entry as [string, string];
    const field = simpleDtype(type, where);
    if (name !== "") fields.push({ name, dtype: field, offset });
    offset += field.itemsize;
  }
  const dtype = new Dtype("V", offset);
  dtype.byteorder = "|";
  dtype.fields = fields;
  dtype.built = true;
  return dtype;
}

/** One .npy file as an array. `maxElements` bounds its shape before anything is allocated. */
export function readNpy(bytes: Uint8Array, where: string, maxElements: number): NdArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) invalid(where, "not a .npy file");
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (major < 1 || major > 3) invalid(where, `.npy version ${major}`);
  if (start + headerLength > bytes.length || headerLength > 1 << 20)
    invalid(where, "the .npy header runs past the file");
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(start, start + headerLength),
  );
  const header = parseLiteral(text.trim(), where);
  if (typeof header !== "object" || header === null || Array.isArray(header))
    invalid(where, "the .npy header is not a dict");
  const { descr, fortran_order: fortran, shape } = header as Record<string, Literal>;
  if (!Array.isArray(shape)) invalid(where, "the .npy header has no shape");
  const dtype =
    typeof descr === "string"
      ? simpleDtype(descr, where)
      : Array.isArray(descr)
        ? structuredDtype(descr, where)
        : null;
  if (!dtype) invalid(where, "the .npy header has no dtype");
  if (dtype.kind === "O") invalid(where, "a .npy file of Python objects (skops never writes one)");
  const dims = shapeSize(shape as number[], where, maxElements);
  const data = bytes.subarray(start + headerLength);
  const array = new NdArray(dtype, dims, fortran === true, data, null, true);
  checkDataLength(array, data.length, where);
  return array;
}
