/**
 * A Pipeline's steps before its estimator, as Forest preprocessing with scikit-learn's own order of
 * operations on float64 rows (sklearn/preprocessing/_data.py, sklearn/impute/_base.py transform):
 * StandardScaler x -= mean_; x /= scale_ · MinMaxScaler x *= scale_; x += min_ · MaxAbsScaler
 * x /= scale_ · RobustScaler x -= center_; x /= scale_ · SimpleImputer (numeric strategies): columns
 * whose statistic is NaN dropped (unless keep_empty_features or strategy "constant"), then missing
 * values replaced by the statistics. The estimator then rounds the result to float32 itself.
 */
import type { PreprocessStep } from "../../../forest/forest.js";
import { supportedNames } from "../pickle/allow-list.js";
import { PyObject, PyTuple, type PyValue, pyTypeName } from "../pickle/values.js";
import { Attrs, featureNames, invalid, unsupported } from "./attrs.js";

export interface Steps {
  readonly steps: PreprocessStep[];
  readonly numInputs: number;
  readonly inputNames: string[] | null;
  readonly names: string[];
}

function operand(attrs: Attrs, name: string, width: number): Float64Array {
  const v = attrs.numbers(name);
  if (v.length !== width) invalid(`${attrs.path}.${name} has ${v.length} values for ${width} columns`);
  return v;
}

function flag(attrs: Attrs, name: string): boolean {
  const v = attrs.get(name);
  if (typeof v !== "boolean") invalid(`${attrs.path}.${name} is ${pyTypeName(v)}, not a bool`);
  return v;
}

/** One step's preprocessing; `width` is the columns it receives; returns the columns it leaves. */
function stepOf(attrs: Attrs, name: string, width: number, out: PreprocessStep[]): number {
  const f64 = "f64" as const;
  switch (name) {
    case "StandardScaler": {
      const ops: { op: "sub" | "div"; operand: Float64Array }[] = [];
      if (flag(attrs, "with_mean")) ops.push({ op: "sub", operand: operand(attrs, "mean_", width) });
      if (flag(attrs, "with_std")) ops.push({ op: "div", operand: operand(attrs, "scale_", width) });
      if (ops.length) out.push({ kind: "elementwise", precision: f64, ops });
      return width;
    }
    case "MinMaxScaler":
      if (attrs.optional("clip") === true) unsupported(`${attrs.path}: MinMaxScaler(clip=True) is not read`);
      out.push({
        kind: "elementwise",
        precision: f64,
        ops: [
          { op: "mul", operand: operand(attrs, "scale_", width) },
          { op: "add", operand: operand(attrs, "min_", width) },
        ],
      });
      return width;
    case "MaxAbsScaler":
      out.push({
        kind: "elementwise",
        precision: f64,
        ops: [{ op: "div", operand: operand(attrs, "scale_", width) }],
      });
      return width;
    case "RobustScaler": {
      const ops: { op: "sub" | "div"; operand: Float64Array }[] = [];
      if (flag(attrs, "with_centering")) ops.push({ op: "sub", operand: operand(attrs, "center_", width) });
      if (flag(attrs, "with_scaling")) ops.push({ op: "div", operand: operand(attrs, "scale_", width) });
      if (ops.length) out.push({ kind: "elementwise", precision: f64, ops });
      return width;
    }
    case "SimpleImputer": {
      const strategy = attrs.string("strategy");
      if (!["mean", "median", "most_frequent", "constant"].includes(strategy))
        unsupported(`${attrs.path}: SimpleImputer strategy "${strategy}"`);
      if (attrs.optional("add_indicator") === true)
        unsupported(`${attrs.path}: SimpleImputer(add_indicator=True) is not read`);
      const missing = attrs.get("missing_values");
      if (typeof missing !== "number")
        unsupported(`${attrs.path}: SimpleImputer missing_values ${pyTypeName(missing)}`);
      const stats = operand(attrs, "statistics_", width);
      const keep = strategy === "constant" || attrs.optional("keep_empty_features") === true;
      let values = stats;
      let left = width;
      if (!keep && stats.some(Number.isNaN)) {
        const columns = Int32Array.from([...stats.keys()].filter((c) => !Number.isNaN(stats[c])));
        out.push({ kind: "select", columns });
        values = Float64Array.from(columns, (c) => stats[c]);
        left = columns.length;
      }
      out.push({ kind: "impute", missingValue: missing, values });
      return left;
    }
    default:
      unsupported(`${attrs.path} is a ${name}; forestd reads ${supportedNames()}`);
  }
}

/** Splits a Pipeline into its preprocessing and its final estimator. */
export function readPipeline(pipeline: Attrs): { steps: Steps; estimator: PyObject; estimatorPath: string } {
  const items = pipeline.items("steps");
  if (items.length === 0) invalid(`${pipeline.path}.steps is empty`);
  const pairs = items.map((item, i): [string, PyValue] => {
    if (!(item instanceof PyTuple) || item.items.length !== 2 || typeof item.items[0] !== "string")
      invalid(`${pipeline.path}.steps[${i}] is not a (name, estimator) pair`);
    return [item.items[0], item.items[1]];
  });
  const [lastName, last] = pairs[pairs.length - 1];
  if (!(last instanceof PyObject))
    invalid(`${pipeline.path}'s last step "${lastName}" is ${pyTypeName(last)}, not an estimator`);
  const steps: PreprocessStep[] = [];
  const names: string[] = [];
  let width = -1;
  let numInputs = -1;
  let inputNames: string[] | null = null;
  for (const [i, [stepName, step]] of pairs.slice(0, -1).entries()) {
    if (step === null || step === "passthrough") continue;
    if (!(step instanceof PyObject))
      invalid(`${pipeline.path}.steps[${i}] "${stepName}" is ${pyTypeName(step)}`);
    const attrs = new Attrs(step, `${pipeline.path}.steps[${i}]`);
    const n = attrs.int("n_features_in_");
    if (width === -1) {
      width = n;
      numInputs = n;
      inputNames = featureNames(attrs, n);
    } else if (n !== width)
      invalid(`${attrs.path} reads ${n} columns but the step before it leaves ${width}`);
    width = stepOf(attrs, step.cls.name, width, steps);
    names.push(step.cls.name);
  }
  return {
    steps: { steps, numInputs, inputNames, names },
    estimator: last,
    estimatorPath: `${pipeline.path}.steps[${pairs.length - 1}]`,
  };
}
