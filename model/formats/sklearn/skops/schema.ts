/**
 * skops' schema.json (skops/io/_general.py, _numpy.py, _sklearn.py): a tree of nodes, each naming
 * its class, module and loader, turned into the same inert values the pickle reader makes, so the
 * estimator readers serve both containers. Every class a node names passes the pickle reader's
 * allow-list first (skops' own idea: nothing untrusted is built); loaders forestd does not know are
 * refused by name.
 */
import { ModelError } from "../../../errors.js";
import { lookupGlobal } from "../pickle/allow-list.js";
import {
  Dtype,
  NdArray,
  PyDict,
  PyGlobal,
  type PyKey,
  PyList,
  PyObject,
  PyTuple,
  type PyValue,
} from "../pickle/values.js";
import { readNpy } from "./npy.js";

export interface SchemaLimits {
  readonly maxDepth: number;
  readonly maxArrayElements: number;
}

const INERT_BUILTIN_TYPES = new Set([
  "str",
  "int",
  "float",
  "bool",
  "bytes",
  "list",
  "tuple",
  "dict",
  "NoneType",
]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function invalid(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_INVALID", `skops schema: ${message}`);
}

function field(node: { [key: string]: Json }, key: string, where: string): Json {
  if (!Object.hasOwn(node, key)) invalid(`${where} has no "${key}"`);
  return node[key];
}

export class SchemaReader {
  constructor(
    private readonly files: Map<string, Uint8Array>,
    private readonly limits: SchemaLimits,
  ) {}

  read(node: Json, where = "schema", depth = 0): PyValue {
    if (depth > this.limits.maxDepth)
      throw new ModelError(
        "FORESTD_ERR_MODEL_TOO_LARGE",
        `skops schema nested more than ${this.limits.maxDepth} deep`,
      );
    if (typeof node !== "object" || node === null || Array.isArray(node)) invalid(`${where} is not a node`);
    const loader = field(node, "__loader__", where);
    const cls = field(node, "__class__", where);
    const module = field(node, "__module__", where);
    if (typeof loader !== "string" || typeof cls !== "string" || typeof module !== "string")
      invalid(`${where}'s __loader__, __class__ and __module__ are not strings`);
    const at = `${where} (${module}.${cls})`;
    const child = (v: Json, name: string) => this.read(v, `${where}.${name}`, depth + 1);
    const list = (v: Json, name: string): PyValue[] => {
      if (!Array.isArray(v)) invalid(`${at}'s ${name} is not a list`);
      return v.map((item, i) => child(item, `${name}[${i}]`));
    };
    switch (loader) {
      case "JsonNode": {
        const content = field(node, "content", where);
        if (typeof content !== "string") invalid(`${at}'s content is not JSON text`);
        // Python's json writes NaN and the infinities as bare words
        const special: Record<string, number> = {
          NaN: Number.NaN,
          Infinity: Infinity,
          "-Infinity": -Infinity,
        };
        if (Object.hasOwn(special, content)) return special[content];
        let value: unknown;
        try {
          value = JSON.parse(content);
        } catch {
          invalid(`${at}'s content is not valid JSON`);
        }
        if (value !== null && typeof value === "object")
          invalid(`${at} holds a JSON container; skops writes scalars there`);
        return value as PyValue;
      }
      case "ListNode":
        return new PyList(list(field(node, "content", where), "content"), depth);
      case "TupleNode":
        return new PyTuple(list(field(node, "content", where), "content"), depth);
      case "DictNode": {
        const content = field(node, "content", where);
        if (typeof content !== "object" || content === null || Array.isArray(content))
          invalid(`${at}'s content is not an object`);
        const keyTypes = node.key_types;
        const types =
          keyTypes &&
          typeof keyTypes === "object" &&
          !Array.isArray(keyTypes) &&
          Array.isArray(keyTypes.content)
            ? keyTypes.content
            : [];
        const dict = new PyDict(depth);
        Object.keys(content).forEach((key, i) => {
          const type = types[i] as { [key: string]: Json } | undefined;
          const k: PyKey = type && type.__class__ === "int" ? Number(key) : key;
          dict.map.set(k, child(content[key], key));
        });
        return dict;
      }
      case "NdArrayNode":
        return this.array(node, at, depth);
      case "ObjectNode":
      case "RandomStateNode":
      case "BitGeneratorNode": {
        const role = lookupGlobal(module, cls, 0);
        if (loader === "ObjectNode" && role !== "class") invalid(`${at} is not a class forestd builds`);
        const obj = new PyObject(new PyGlobal(module, cls), []);
        if (Object.hasOwn(node, "content")) obj.state = child(node.content, "content");
        obj.built = true;
        return obj;
      }
      case "TreeNode":
      case "LossNode":
      case "ReduceNode": {
        lookupGlobal(module, cls, 0);
        const reduce = field(node, "__reduce__", where);
        if (typeof reduce !== "object" || reduce === null || Array.isArray(reduce))
          invalid(`${at}'s __reduce__ is not an object`);
        const args = child(field(reduce, "args", `${where}.__reduce__`), "__reduce__.args");
        if (!(args instanceof PyTuple)) invalid(`${at}'s __reduce__ args are not a tuple`);
        const obj = new PyObject(new PyGlobal(module, cls), [...args.items]);
        if (Object.hasOwn(node, "content")) obj.state = child(node.content, "content");
        obj.built = true;
        return obj;
      }
      case "TypeNode":
      case "DTypeNode":
        // a type as data (a dict's key types, a dtype's scalar type): never called here
        if (
          !(module === "builtins" && INERT_BUILTIN_TYPES.has(cls)) &&
          !(module === "numpy" && /^(u?int\d+|float\d+|bool_?|str_|object_|dtype|ndarray)$/.test(cls))
        )
          lookupGlobal(module, cls, 0);
        return new PyGlobal(module, cls);
      default:
        throw new ModelError(
          "FORESTD_ERR_MODEL_UNSUPPORTED",
          `skops schema: ${at} uses loader ${loader.slice(0, 40)}, which forestd does not read`,
        );
    }
  }

  private array(node: { [key: string]: Json }, at: string, depth: number): NdArray {
    const type = field(node, "type", at);
    if (type === "numpy") {
      const file = field(node, "file", at);
      if (typeof file !== "string") invalid(`${at}'s file is not a name`);
      const bytes = this.files.get(file);
      if (!bytes) invalid(`${at} names ${file.slice(0, 60)}, which the archive does not hold`);
      return readNpy(bytes, `${at} ${file}`, this.limits.maxArrayElements);
    }
    if (type !== "json") invalid(`${at} has array type ${String(type)}`);
    // an object array: nested lists of nodes, and its shape
    const shape = this.read(field(node, "shape", at), `${at}.shape`, depth + 1);
    if (!(shape instanceof PyTuple) || shape.items.some((d) => typeof d !== "number"))
      invalid(`${at}'s shape is not a tuple of numbers`);
    const dims = shape.items as number[];
    const content = field(node, "content", at);
    if (!Array.isArray(content)) invalid(`${at}'s content is not a list`);
    const flat: PyValue[] = [];
    const collect = (items: PyValue[], level: number) => {
      if (items.length !== dims[level])
        invalid(`${at}: ${items.length} items where the shape says ${dims[level]}`);
      for (const v of items) {
        if (level < dims.length - 1) {
          if (!(v instanceof PyList)) invalid(`${at}: an object array row is not a list`);
          collect(v.items, level + 1);
        } else flat.push(v);
      }
    };
    collect(
      content.map((item, i) => this.read(item, `${at}[${i}]`, depth + 1)),
      0,
    );
    return new NdArray(Dtype.fromTypestr("O8", at), dims, false, null, flat, true);
  }
}
