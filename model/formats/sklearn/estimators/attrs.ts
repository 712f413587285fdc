/**
 * Reading an estimator's attributes out of its pickled state (the `__dict__` BaseEstimator's
 * `__getstate__` returns), with every refusal naming the attribute's path in the model
 * ("Pipeline.steps[1].RandomForestClassifier.estimators_[3].tree_").
 */
import { ModelError } from "../../../errors.js";
import { elementsOf, numbersOf } from "../pickle/numpy.js";
import { NdArray, PyDict, PyList, PyObject, PyTuple, type PyValue, pyTypeName } from "../pickle/values.js";

export function invalid(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_INVALID", message);
}

export function unsupported(message: string): never {
  throw new ModelError("FORESTD_ERR_MODEL_UNSUPPORTED", message);
}

/** The short class name of a pickled object ("RandomForestClassifier"). */
export function className(obj: PyObject): string {
  return obj.cls.name;
}

export class Attrs {
  readonly state: PyDict;

  constructor(
    readonly obj: PyObject,
    readonly path: string,
  ) {
    if (!(obj.state instanceof PyDict)) invalid(`${path} (${obj.cls.qualified}) has no attribute dict`);
    this.state = obj.state;
  }

  static of(v: PyValue, path: string, expected?: string): Attrs {
    if (!(v instanceof PyObject)) invalid(`${path} is ${pyTypeName(v)}, not an estimator`);
    if (expected && v.cls.qualified !== expected) invalid(`${path} is a ${v.cls.qualified}, not ${expected}`);
    return new Attrs(v, path);
  }

  has(name: string): boolean {
    return this.state.map.has(name);
  }

  get(name: string): PyValue {
    if (!this.state.map.has(name)) invalid(`${this.path}.${name} is missing (is the model fitted?)`);
    return this.state.map.get(name)!;
  }

  optional(name: string): PyValue | undefined {
    return this.state.map.get(name);
  }

  int(name: string): number {
    const v = this.get(name);
    if (typeof v !== "number" || !Number.isInteger(v))
      invalid(`${this.path}.${name} is ${pyTypeName(v)}, not an integer`);
    return v;
  }

  number(name: string): number {
    const v = this.get(name);
    if (typeof v !== "number") invalid(`${this.path}.${name} is ${pyTypeName(v)}, not a number`);
    return v;
  }

  string(name: string): string {
    const v = this.get(name);
    if (typeof v !== "string") invalid(`${this.path}.${name} is ${pyTypeName(v)}, not a string`);
    return v;
  }

  array(name: string): NdArray {
    const v = this.get(name);
    if (!(v instanceof NdArray)) invalid(`${this.path}.${name} is ${pyTypeName(v)}, not a numpy array`);
    return v;
  }

  numbers(name: string): Float64Array {
    return numbersOf(this.array(name), `${this.path}.${name}`);
  }

  /** A list, a tuple or a 1-d object array, as its items. */
  items(name: string): readonly PyValue[] {
    return itemsOf(this.get(name), `${this.path}.${name}`);
  }
}

export function itemsOf(v: PyValue, what: string): readonly PyValue[] {
  if (v instanceof PyList || v instanceof PyTuple) return v.items;
  if (v instanceof NdArray && v.objects) return elementsOf(v, what);
  invalid(`${what} is ${pyTypeName(v)}, not a list`);
}

/** A classifier's `classes_`: numbers or strings, as scikit-learn's predict returns them. */
export function classLabels(attrs: Attrs, name = "classes_"): (string | number)[] {
  const array = attrs.array(name);
  if (array.shape.length !== 1)
    unsupported(
      `${attrs.path}.${name} has shape (${array.shape.join(", ")}): multi-output classifiers are not scored`,
    );
  return elementsOf(array, `${attrs.path}.${name}`).map((v, i) => {
    if (typeof v === "string" || typeof v === "number") return v;
    if (typeof v === "boolean") return v ? 1 : 0;
    if (typeof v === "bigint") return Number(v);
    return invalid(`${attrs.path}.${name}[${i}] is ${pyTypeName(v)}, not a string or number`);
  });
}

/** `feature_names_in_` (a model fitted on a DataFrame), or null. */
export function featureNames(attrs: Attrs, count: number): string[] | null {
  const v = attrs.optional("feature_names_in_");
  if (v === undefined || v === null) return null;
  if (!(v instanceof NdArray)) invalid(`${attrs.path}.feature_names_in_ is ${pyTypeName(v)}`);
  const names = elementsOf(v, `${attrs.path}.feature_names_in_`);
  if (names.length !== count)
    invalid(`${attrs.path}.feature_names_in_ names ${names.length} features; the model has ${count}`);
  return names.map((n, i) => {
    if (typeof n !== "string") invalid(`${attrs.path}.feature_names_in_[${i}] is ${pyTypeName(n)}`);
    return n;
  });
}
