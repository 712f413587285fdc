/**
 * What onnxruntime does with a row's tree sums: base values and averaging (margins), then the
 * post_transform and the binary-classifier column tricks (probabilities), and the label.
 *
 * A port of onnxruntime's TreeAggregator*::FinalizeScores and write_scores
 * (core/providers/cpu/ml/tree_ensemble_aggregator.h, ml_common.h) in float32, one Math.fround per
 * C++ float operation. `hasScore` is decided per model (every column the model feeds is fed on every
 * row: tree-ensemble.ts refuses the rest), so the popped single column of binary classifiers is a
 * property of the model, not of the row.
 */
import type { EnsembleSpec } from "./tree-ensemble.js";

const f = Math.fround;
// biome-ignore lint/suspicious/noApproximativeNumericConstant: onnxruntime's own literal (ml_common.h)
const SQRT2 = f(1.41421356);

/** onnxruntime's ComputeLogistic. */
function logistic(x: number): number {
  const v = f(1 / f(1 + f(Math.exp(-Math.abs(x)))));
  return x < 0 ? f(1 - v) : v;
}

/** onnxruntime's ErfInv (a float32 approximation, not the exact inverse). */
function erfInv(x0: number): number {
  const sgn = x0 < 0 ? -1 : 1;
  const x = f(f(1 - x0) * f(1 + x0));
  const log = f(Math.log(x));
  // onnxruntime writes static_cast<float>(M_PI) here (older releases: 3.14159f).
  const v = f(f(2 / f(f(Math.PI) * f(0.147))) + f(f(0.5) * log));
  const v2 = f(f(1 / f(0.147)) * log);
  const v3 = f(-v + f(Math.sqrt(f(f(v * v) - v2))));
  return f(sgn * f(Math.sqrt(v3)));
}

function probit(x: number): number {
  return f(SQRT2 * erfInv(f(f(2 * x) - 1)));
}

function softmax(v: Float32Array, at: number, n: number): void {
  let max = -3.4028234663852886e38;
  for (let k = 0; k < n; k++) if (v[at + k] > max) max = v[at + k];
  let sum = 0;
  for (let k = 0; k < n; k++) {
    v[at + k] = Math.exp(f(v[at + k] - max));
    sum = f(sum + v[at + k]);
  }
  for (let k = 0; k < n; k++) v[at + k] = v[at + k] / sum;
}

function softmaxZero(v: Float32Array, at: number, n: number): void {
  let max = -3.4028234663852886e38;
  for (let k = 0; k < n; k++) if (v[at + k] > max) max = v[at + k];
  const expNegMax = f(Math.exp(-max));
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const x = v[at + k];
    if (x > 1e-7 || x < -1e-7) {
      v[at + k] = Math.exp(f(x - max));
      sum = f(sum + v[at + k]);
    } else v[at + k] = x * expNegMax;
  }
  for (let k = 0; k < n; k++) v[at + k] = v[at + k] / sum;
}

export interface OnnxHead {
  readonly kind: "classifier" | "regressor";
  /** Values per row of the tree sums and of the margins (1 for a popped binary classifier). */
  readonly numMargins: number;
  /** Values per row of the probabilities / values. */
  readonly numOutputs: number;
  readonly classLabels: readonly string[] | readonly number[] | null;
  /** Tree sums → margins (base values, averaging), in place. */
  finishMargins(sums: Float32Array, rows: number): void;
  /** Margins → outputs (rows × numOutputs). */
  transform(margins: Float32Array, rows: number, out: Float32Array): void;
  /** Margins → each row's label (a class label, as onnxruntime's `label` output). */
  labels(margins: Float32Array, rows: number): (string | number)[];
}

export function onnxHead(spec: EnsembleSpec): OnnxHead {
  return spec.kind === "classifier" ? classifierHead(spec) : regressorHead(spec);
}

function regressorHead(spec: EnsembleSpec): OnnxHead {
  const n = spec.numScores;
  const base = spec.baseValues;
  const average = spec.aggregate === "AVERAGE";
  const trees = spec.numOnnxTrees;
  const useBase = base.length === n;
  const origin = base.length === 1 ? base[0] : 0;
  return {
    kind: "regressor",
    numMargins: n,
    numOutputs: n,
    classLabels: null,
    finishMargins(sums, rows) {
      if (n === 1) {
        // FinalizeScores1: score (/ n_trees) + origin_.
        for (let r = 0; r < rows; r++) sums[r] = (average ? f(sums[r] / trees) : sums[r]) + origin;
        return;
      }
      for (let i = 0; i < rows * n; i++) {
        const s = average ? f(sums[i] / trees) : sums[i];
        // A target no leaf feeds has no score: onnxruntime writes 0, base value or not.
        sums[i] = !spec.hasScore[i % n] ? 0 : useBase ? s + base[i % n] : s;
      }
    },
    transform(margins, rows, out) {
      out.set(margins.subarray(0, rows * n));
      if (n === 1) {
        // The one-output path applies PROBIT only.
        if (spec.postTransform === "PROBIT") for (let r = 0; r < rows; r++) out[r] = probit(out[r]);
        return;
      }
      for (let r = 0; r < rows; r++) applyTransform(spec.postTransform, out, r * n, n);
    },
    labels: () => [],
  };
}

function applyTransform(
  transform: EnsembleSpec["postTransform"],
  v: Float32Array,
  at: number,
  n: number,
): void {
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

  /** _set_score_binary: the label (index, or outside binary_case_ the literal 1 / 0) and the column mode. */
  const binaryDecision = (margins: Float32Array, at: number): { label: number; additional: number } => {
    const pos = width === 2 && has[1] ? margins[at + 1] : margins[at];
    if (spec.binaryCase) {
      if (spec.weightsAllPositive)
        return pos > 0.5 ? { label: 1, additional: 0 } : { label: 0, additional: 1 };
      return pos > 0 ? { label: 1, additional: 2 } : { label: 0, additional: 3 };
    }
    return { label: pos > 0 ? 1 : 0, additional: fixedAdditional };
  };

  return {
    kind: "classifier",
    numMargins: width,
    numOutputs: n,
    classLabels: spec.classLabels,
    finishMargins(sums, rows) {
      for (let r = 0; r < rows; r++) {
        const at = r * width;
        if (!binary) {
          for (let k = 0; k < Math.min(base.length, n); k++) sums[at + k] = sums[at + k] + base[k];
        } else if (base.length === 2 && spec.hasScore[1]) {
          // onnxruntime: scores[1] = base[1] + scores[0]; scores[0] = -scores[1].
          const s1 = f(base[1] + sums[at]);
          sums[at + 1] = s1;
          sums[at] = -s1;
        } else if (base.length === 2) {
          sums[at + 1] = sums[at + 1] + base[1];
          sums[at] = sums[at] + base[0];
        } else if (base.length === 1) sums[at] = sums[at] + base[0];
        // What write_scores and the label read: a column without a score is 0.
        for (let k = 0; k < width; k++) if (!has[k]) sums[at + k] = 0;
      }
    },
    transform(margins, rows, out) {
      for (let r = 0; r < rows; r++) {
        const at = r * width;
        const o = r * n;
        if (width === n) {
          out.set(margins.subarray(at, at + n), o);
          applyTransform(post, out, o, n);
          continue;
        }
        // One score: write_scores makes the second column.
        const s = margins[at];
        if (post === "PROBIT") {
          out[o] = probit(s);
          out[o + 1] = 0; // onnxruntime leaves this column unwritten
          continue;
        }
        const { additional } = binaryDecision(margins, at);
        if (additional === 0 || additional === 1) {
          out[o] = f(1 - s);
          out[o + 1] = s;
        } else if (additional === 2 || additional === 3) {
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
      for (let r = 0; r < rows; r++) {
        const at = r * width;
        if (binary) {
          const { label } = binaryDecision(margins, at);
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
        result[r] = labels[Math.max(0, index)];
      }
      return result;
    },
  };
}
