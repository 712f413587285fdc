/**
 * What onnxruntime does with a row's tree sums: base values and averaging (margins), then the
 * post_transform and the binary-classifier column tricks (probabilities), the label, and the
 * Normalizer / Softmax nodes a graph puts after the ensemble.
 *
 * A port of onnxruntime's TreeAggregator*::FinalizeScores and write_scores
 * (core/providers/cpu/ml/tree_ensemble_aggregator.h, ml_common.h), one rounding per C++ operation.
 * Sums and margins are in the ensemble's threshold type: float32, or float64 for double inputs,
 * where onnxruntime adds leaves and base values in double, decides labels on the double scores,
 * and writes float outputs (TreeEnsembleClassifier / TreeEnsembleRegressor: the double score
 * rounded to float32, then the float32 transform). `hasScore` is decided per model (every column
 * the model feeds is fed on every row: tree-ensemble.ts refuses the rest), so the popped single
 * column of binary classifiers is a property of the model, not of the row.
 */
import { onnxruntimeNormalize } from "../forest/evaluate.js";
import type { Forest, HeadSpec, Precision } from "../forest/forest.js";
import { expf, logf } from "./glibc-math.js";
import type { Head, HeadFactory, OptionalOutput, Values } from "./head.js";
import { mlasSoftmax } from "./onnx-softmax.js";

export type PostTransform = "NONE" | "LOGISTIC" | "SOFTMAX" | "SOFTMAX_ZERO" | "PROBIT";
export type Aggregate = "SUM" | "AVERAGE" | "MIN" | "MAX";

/** What an ONNX forest's head descriptor holds: the ensemble's attributes onnxruntime finishes with. */
export interface OnnxHeadSpec extends HeadSpec {
  readonly family: "onnx";
  /** The ensemble's op type (TreeEnsembleClassifier, TreeEnsembleRegressor, TreeEnsemble). */
  readonly operator: string;
  readonly kind: "classifier" | "regressor";
  /** Scores per row: classes (classifier) or n_targets (regressor). */
  readonly numScores: number;
  readonly postTransform: PostTransform;
  readonly aggregate: Aggregate;
  /** base_values rounded to float32, as onnxruntime holds them. */
  readonly baseValues: readonly number[];
  /** Classifier labels: strings or int64s; null for regressors. */
  readonly classLabels: readonly string[] | readonly number[] | null;
  /** Per score column: whether some leaf weight feeds it on every row (onnxruntime's has_score). */
  readonly hasScore: readonly boolean[];
  /** onnxruntime's binary_case_: two classes, weights for one class id only. */
  readonly binaryCase: boolean;
  readonly weightsAllPositive: boolean;
  /** Trees in the ONNX node (onnxruntime's n_trees, which AVERAGE divides by). */
  readonly numOnnxTrees: number;
  /** The graph's outputs, and what each carries. */
  readonly outputs: readonly { name: string; carries: "label" | "probabilities" | "values" }[];
  /** The threshold type scores are added in (float64 for double inputs); absent: float32. */
  readonly precision?: Precision;
  /** The scores' output type: float32 (opset 1/3, and float opset 5) or float64 (opset 5 on doubles). */
  readonly output?: Precision;
  /** Normalizer / Softmax nodes after the ensemble, applied to the scores in order. */
  readonly post?: readonly ({ op: "normalize"; norm: "L1" | "L2" | "MAX" } | { op: "softmax" })[];
}

type EnsembleSpec = OnnxHeadSpec;

const f = Math.fround;
// biome-ignore lint/suspicious/noApproximativeNumericConstant: onnxruntime's own literal (ml_common.h)
const SQRT2 = f(1.41421356);

/** onnxruntime's ComputeLogistic (std::exp on a float: the C library's expf). */
function logistic(x: number): number {
  const v = f(1 / f(1 + expf(-Math.abs(x))));
  return x < 0 ? f(1 - v) : v;
}

/** onnxruntime's ErfInv (a float32 approximation, not the exact inverse). */
function erfInv(x0: number): number {
  const sgn = x0 < 0 ? -1 : 1;
  const x = f(f(1 - x0) * f(1 + x0));
  const log = logf(x);
  // onnxruntime writes static_cast<float>(M_PI) here (older releases: 3.14159f).
  const v = f(f(2 / f(f(Math.PI) * f(0.147))) + f(f(0.5) * log));
  const v2 = f(f(1 / f(0.147)) * log);
  const v3 = f(-v + f(Math.sqrt(f(f(v * v) - v2))));
  return f(sgn * f(Math.sqrt(v3)));
}

function probit(x: number): number {
  return f(SQRT2 * erfInv(f(f(2 * x) - 1)));
}

function softmax(v: Values, at: number, n: number): void {
  let max = -3.4028234663852886e38;
  for (let k = 0; k < n; k++) if (v[at + k] > max) max = v[at + k];
  let sum = 0;
  for (let k = 0; k < n; k++) {
    v[at + k] = expf(f(v[at + k] - max));
    sum = f(sum + v[at + k]);
  }
  for (let k = 0; k < n; k++) v[at + k] = f(v[at + k] / sum);
}

function softmaxZero(v: Values, at: number, n: number): void {
  let max = -3.4028234663852886e38;
  for (let k = 0; k < n; k++) if (v[at + k] > max) max = v[at + k];
  const expNegMax = expf(-max);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const x = v[at + k];
    if (x > 1e-7 || x < -1e-7) {
      v[at + k] = expf(f(x - max));
      sum = f(sum + v[at + k]);
    } else v[at + k] = f(x * expNegMax);
  }
  for (let k = 0; k < n; k++) v[at + k] = f(v[at + k] / sum);
}

/** The parts of a head that differ between onnxruntime's classifiers and regressors. */
interface OnnxHead {
  /** Values per row of the tree sums and of the margins (1 for a popped binary classifier). */
  readonly numMargins: number;
  /** Values per row of the probabilities / values. */
  readonly numOutputs: number;
  /** Tree sums → margins (base values, averaging), in place. */
  finishMargins(sums: Values, rows: number): void;
  /** Margins → outputs (rows × numOutputs). */
  transform(margins: Values, rows: number, out: Values): void;
  /** Margins → each row's label index and label (as onnxruntime's `label` output). */
  labels(margins: Values, rows: number): { index: Int32Array; labels: (string | number)[] };
}

const EXPLAIN_REASON = "explanations need an XGBoost model; this is an ONNX tree ensemble";

export const onnxHead: HeadFactory = (_forest: Forest, headSpec: HeadSpec): Head => {
  const spec = headSpec as OnnxHeadSpec;
  const classifier = spec.kind === "classifier";
  const parts = classifier ? classifierHead(spec) : regressorHead(spec);
  const classLabels = [...(spec.classLabels ?? [])];
  const task = classifier ? (spec.numScores === 2 ? "binary" : "multiclass") : "regression";
  return {
    family: "onnx",
    objective: `onnx:${spec.operator}`,
    task,
    numMargins: parts.numMargins,
    numOutputs: parts.numOutputs,
    classLabels,
    precision: spec.precision ?? "f32",
    predictionIs: classifier && spec.numScores === 2 ? "positive" : "values",
    unavailable(output: OptionalOutput): string | null {
      if (output === "label" || output === "proba")
        return classifier
          ? null
          : `output "${output}" needs a classifier; this model (onnx:${spec.operator}) is a regression model`;
      return EXPLAIN_REASON;
    },
    finish(sums, rows) {
      parts.finishMargins(sums, rows);
      return sums;
    },
    predict(margins, rows, out) {
      parts.transform(margins, rows, out);
      const n = parts.numOutputs;
      for (const op of spec.post ?? [])
        for (let r = 0; r < rows; r++) {
          if (op.op === "softmax") mlasSoftmax(out, r * n, n);
          else
            out.set(
              onnxruntimeNormalize(op.norm, Float64Array.from(out.subarray(r * n, (r + 1) * n))),
              r * n,
            );
        }
    },
    classes(values, rows, from) {
      if (from === "margins") return parts.labels(values, rows).index;
      const n = parts.numOutputs;
      const out = new Int32Array(rows);
      for (let r = 0; r < rows; r++) {
        let best = 0;
        for (let k = 1; k < n; k++) if (values[r * n + k] > values[r * n + best]) best = k;
        out[r] = best;
      }
      return out;
    },
    probabilities: (predictions, rows) => predictions.slice(0, rows * parts.numOutputs),
    ownLabels: classifier ? (margins, rows) => parts.labels(margins, rows).labels : undefined,
    outputTensors: spec.outputs,
  };
};

/** The threshold type's rounding: float32's, or none for float64. */
function rounding(spec: EnsembleSpec): (x: number) => number {
  return (spec.precision ?? "f32") === "f32" ? f : (x) => x;
}

/** Margins as the outputs start from: float32 outputs take each score rounded to float32. */
function outputScores(
  spec: EnsembleSpec,
  margins: Values,
  from: number,
  to: number,
  out: Values,
  at: number,
): void {
  if ((spec.output ?? "f32") === "f32" && margins instanceof Float64Array)
    for (let i = from; i < to; i++) out[at + i - from] = f(margins[i]);
  else out.set(margins.subarray(from, to), at);
}

function regressorHead(spec: EnsembleSpec): OnnxHead {
  const n = spec.numScores;
  const base = spec.baseValues;
  const average = spec.aggregate === "AVERAGE";
  const trees = spec.numOnnxTrees;
  const useBase = base.length === n;
  const origin = base.length === 1 ? base[0] : 0;
  const round = rounding(spec);
  return {
    numMargins: n,
    numOutputs: n,
    finishMargins(sums, rows) {
      if (n === 1) {
        // FinalizeScores1: score (/ n_trees) + origin_.
        for (let r = 0; r < rows; r++) sums[r] = round((average ? round(sums[r] / trees) : sums[r]) + origin);
        return;
      }
      for (let i = 0; i < rows * n; i++) {
        const s = average ? round(sums[i] / trees) : sums[i];
        // A target no leaf feeds has no score: onnxruntime writes 0, base value or not.
        sums[i] = !spec.hasScore[i % n] ? 0 : useBase ? round(s + base[i % n]) : s;
      }
    },
    transform(margins, rows, out) {
      outputScores(spec, margins, 0, rows * n, out, 0);
      if (n === 1) {
        // The one-output path applies PROBIT only.
        if (spec.postTransform === "PROBIT") for (let r = 0; r < rows; r++) out[r] = probit(out[r]);
        return;
      }
      for (let r = 0; r < rows; r++) applyTransform(spec.postTransform, out, r * n, n);
    },
    labels: (_margins, rows) => ({ index: new Int32Array(rows), labels: [] }),
  };
}

function applyTransform(transform: EnsembleSpec["postTransform"], v: Values, at: number, n: number): void {
  switch (transform) {
    case "LOGISTIC":
      for (let k = 0; k < n; k++) v[at + k] = logistic(v[at + k]);
      return;
    case "SOFTMAX":
      softmax(v, at, n);
      return;
    case "SOFTMAX_ZERO":
      softmaxZero(v, at, n);
      return;
    case "PROBIT":
      for (let k = 0; k < n; k++) v[at + k] = probit(v[at + k]);
      return;
    case "NONE":
      return;
  }
}

function classifierHead(spec: EnsembleSpec): OnnxHead {
  const n = spec.numScores;
  const base = spec.baseValues;
  const labels = spec.classLabels ?? [];
  const post = spec.postTransform;
  const binary = n === 2;
  // has_score after FinalizeScores adds base values (the trees' has_score is per model, see
  // tree-ensemble.ts). onnxruntime reads a column without a score as 0, whatever was added to it.
  const has = [...spec.hasScore];
  if (!binary) for (let k = 0; k < Math.min(base.length, n); k++) has[k] = true;
  else if (base.length === 2 && spec.hasScore[1]) has[1] = true;
  // Binary: onnxruntime drops the second column when nothing scores it (the one-score trick).
  const popped = binary && !spec.hasScore[1] && base.length < 2;
  const width = popped ? 1 : n;
  // write_additional_scores before _set_score_binary (which sets it for binary_case_).
  const fixedAdditional = binary && base.length === 0 ? 3 : -1;
  const round = rounding(spec);

  /** _set_score_binary: the label (index, or outside binary_case_ the literal 1 / 0) and the column mode. */
  const binaryDecision = (margins: Values, at: number): { label: number; additional: number } => {
    const pos = width === 2 && has[1] ? margins[at + 1] : margins[at];
    if (spec.binaryCase) {
      if (spec.weightsAllPositive)
        return pos > 0.5 ? { label: 1, additional: 0 } : { label: 0, additional: 1 };
      return pos > 0 ? { label: 1, additional: 2 } : { label: 0, additional: 3 };
    }
    return { label: pos > 0 ? 1 : 0, additional: fixedAdditional };
  };

  return {
    numMargins: width,
    numOutputs: n,
    finishMargins(sums, rows) {
      for (let r = 0; r < rows; r++) {
        const at = r * width;
        if (!binary) {
          for (let k = 0; k < Math.min(base.length, n); k++) sums[at + k] = round(sums[at + k] + base[k]);
        } else if (base.length === 2 && spec.hasScore[1]) {
          // onnxruntime: scores[1] = base[1] + scores[0]; scores[0] = -scores[1].
          const s1 = round(base[1] + sums[at]);
          sums[at + 1] = s1;
          sums[at] = -s1;
        } else if (base.length === 2) {
          sums[at + 1] = round(sums[at + 1] + base[1]);
          sums[at] = round(sums[at] + base[0]);
        } else if (base.length === 1) sums[at] = round(sums[at] + base[0]);
        // What write_scores and the label read: a column without a score is 0.
        for (let k = 0; k < width; k++) if (!has[k]) sums[at + k] = 0;
      }
    },
    transform(margins, rows, out) {
      for (let r = 0; r < rows; r++) {
        const at = r * width;
        const o = r * n;
        if (width === n) {
          outputScores(spec, margins, at, at + n, out, o);
          applyTransform(post, out, o, n);
          continue;
        }
        // One score: write_scores makes the second column. Its own arithmetic (1 − s) is in the
        // score's type; the transforms take a float.
        const exact = margins[at];
        const s = f(exact);
        if (post === "PROBIT") {
          out[o] = probit(s);
          out[o + 1] = 0; // onnxruntime leaves this column unwritten
          continue;
        }
        const { additional } = binaryDecision(margins, at);
        if ((additional === 0 || additional === 1) && post !== "LOGISTIC") {
          out[o] = f(1 - exact);
          out[o + 1] = s;
        } else if (additional >= 0) {
          // onnxruntime 1.30 applies LOGISTIC whether or not the weights are all positive.
          out[o] = post === "LOGISTIC" ? logistic(-s) : -s;
          out[o + 1] = post === "LOGISTIC" ? logistic(s) : s;
        } else {
          out[o] = s;
          out[o + 1] = 0; // onnxruntime leaves this column unwritten
        }
      }
    },
    labels(margins, rows) {
      const result = new Array<string | number>(rows);
      const indices = new Int32Array(rows);
      for (let r = 0; r < rows; r++) {
        const at = r * width;
        if (binary) {
          const { label } = binaryDecision(margins, at);
          indices[r] = label;
          // Outside binary_case_ onnxruntime returns the literal 1 / 0 as the int label.
          result[r] = !spec.binaryCase && typeof labels[0] === "number" ? label : labels[label];
          continue;
        }
        let index = -1;
        let best = 0;
        for (let k = 0; k < n; k++) {
          if (!has[k]) continue;
          if (index === -1 || margins[at + k] > best) {
            index = k;
            best = margins[at + k];
          }
        }
        indices[r] = Math.max(0, index);
        result[r] = labels[indices[r]];
      }
      return { index: indices, labels: result };
    },
  };
}
