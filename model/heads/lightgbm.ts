/**
 * LightGBM's output head: what GBDT::Predict does after the trees (src/boosting/
 * gbdt_prediction.cpp) and each objective's ConvertOutput (src/objective/*.hpp), in float64 and
 * in LightGBM's own operation order.
 *
 * - Margins are LightGBM's raw scores (predict(raw_score=True), GBDT::PredictRaw): the trees' sums,
 *   nothing added. A random forest's (boosting=rf, `average_output`) too: PredictRaw does not
 *   average.
 * - Predictions (GBDT::Predict): with average_output each sum is divided by the number of
 *   iterations (`output[k] /= num_iteration_for_pred_`), then ConvertOutput:
 *   binary                1.0f / (1.0f + exp(-sigmoid * x))   (1.0f is exactly 1.0)
 *   multiclassova         the same per class
 *   cross_entropy         1 / (1 + exp(-x))
 *   cross_entropy_lambda  log1p(exp(x))
 *   multiclass            Common::Softmax: exp(x - max), summed in class order, each divided by the sum
 *   poisson, gamma, tweedie  exp(x)
 *   regression, regression_l1, quantile, fair, mape  x, or with `sqrt` Sign(x) * x * x
 *   huber                 x (its constructor turns sqrt off)
 *   lambdarank, rank_xendcg  x (the base ObjectiveFunction::ConvertOutput)
 *   no objective line     x (a custom objective: LightGBM converts nothing)
 *
 * exp is glibc's own (glibc-exp.ts: its x86-64 FMA build, bit for bit), as LightGBM calls it:
 * V8's Math.exp rounds differently on 7-8% of inputs, which 1 / (1 + exp(-x)) turns
 * into up to three ulps. log1p is V8's, an fdlibm port like glibc's s_log1p.c (no FMA build), so
 * the same double. Where LightGBM runs glibc's SSE2 exp (a CPU without FMA) its answers may differ
 * from these in the last place.
 */
import type { Forest, HeadSpec } from "../forest/forest.js";
import { glibcExp } from "./glibc-exp.js";
import type { Head, HeadFactory, OptionalOutput, Task, Values } from "./head.js";

/** LightGBM's objective names after ParseObjectiveAlias, and "custom" for a file without one. */
export type LightGbmObjective =
  | "binary"
  | "multiclass"
  | "multiclassova"
  | "cross_entropy"
  | "cross_entropy_lambda"
  | "regression"
  | "regression_l1"
  | "huber"
  | "fair"
  | "quantile"
  | "mape"
  | "poisson"
  | "gamma"
  | "tweedie"
  | "lambdarank"
  | "rank_xendcg"
  | "custom";

export interface LightGbmHeadSpec extends HeadSpec {
  readonly family: "lightgbm";
  readonly objective: LightGbmObjective;
  /** The objective line as the file writes it ("binary sigmoid:1"), or null without one. */
  readonly objectiveText: string | null;
  /** binary, multiclassova: the sigmoid scale, as LightGBM's Common::Atof read it. */
  readonly sigmoid: number;
  /** The regression family's `sqrt` (reg_sqrt=true): predictions are Sign(x) * x * x. */
  readonly sqrt: boolean;
  /** Outputs per row: num_class for multiclass and multiclassova, else 1 (custom: num_tree_per_iteration). */
  readonly numClass: number;
  /** boosting=rf: predictions divide each sum by this many iterations; null otherwise. */
  readonly averageOver: number | null;
  /** Why pred_contrib cannot be served for this model, or null when it can. */
  readonly contribsUnavailable: string | null;
}

const CLASSIFIERS = new Set<LightGbmObjective>(["binary", "multiclass", "multiclassova"]);
const EXP_LINK = new Set<LightGbmObjective>(["poisson", "gamma", "tweedie"]);
/** Objectives whose ConvertOutput is RegressionL2loss's (sqrt honoured). */
const L2_CONVERT = new Set<LightGbmObjective>(["regression", "regression_l1", "quantile", "fair", "mape"]);

export function isLightGbmSpec(spec: HeadSpec): spec is LightGbmHeadSpec {
  return spec.family === "lightgbm";
}

function taskOf(objective: LightGbmObjective): Task {
  if (objective === "binary") return "binary";
  if (objective === "multiclass" || objective === "multiclassova") return "multiclass";
  if (objective === "lambdarank" || objective === "rank_xendcg") return "ranking";
  return "regression";
}

/** Common::Sign. */
function sign(x: number): number {
  return (x > 0 ? 1 : 0) - (x < 0 ? 1 : 0);
}

/** One row's ConvertOutput, from `input[at..at+n)` into `out[at..at+n)`. */
function convert(
  spec: LightGbmHeadSpec,
  input: Float64Array,
  out: Float64Array,
  at: number,
  n: number,
): void {
  switch (spec.objective) {
    case "binary":
    case "multiclassova": {
      const s = -spec.sigmoid;
      for (let k = 0; k < n; k++) out[at + k] = 1.0 / (1.0 + glibcExp(s * input[at + k]));
      return;
    }
    case "cross_entropy":
      out[at] = 1.0 / (1.0 + glibcExp(-input[at]));
      return;
    case "cross_entropy_lambda":
      out[at] = Math.log1p(glibcExp(input[at]));
      return;
    case "multiclass": {
      let max = input[at];
      for (let k = 1; k < n; k++) max = input[at + k] > max ? input[at + k] : max; // std::max(x, wmax)
      let sum = 0.0;
      for (let k = 0; k < n; k++) {
        out[at + k] = glibcExp(input[at + k] - max);
        sum += out[at + k];
      }
      for (let k = 0; k < n; k++) out[at + k] /= sum;
      return;
    }
    default:
      if (EXP_LINK.has(spec.objective)) out[at] = glibcExp(input[at]);
      else if (spec.sqrt && L2_CONVERT.has(spec.objective)) {
        const x = input[at];
        out[at] = sign(x) * x * x;
      } else for (let k = 0; k < n; k++) out[at + k] = input[at + k];
  }
}

export const lightgbmHead: HeadFactory = (forest: Forest, headSpec: HeadSpec): Head => {
  if (!isLightGbmSpec(headSpec))
    throw new TypeError(`a ${headSpec.family} head spec given to LightGBM's head`);
  const spec = headSpec;
  const width = forest.numGroups;
  const classifier = CLASSIFIERS.has(spec.objective);
  const numClasses = spec.objective === "binary" ? 2 : classifier ? spec.numClass : 0;
  const classLabels = Array.from({ length: numClasses }, (_, k) => k);

  const predict = (margins: Values, rows: number, out: Values): void => {
    const input = margins as Float64Array;
    const target = out as Float64Array;
    const averaged = spec.averageOver === null ? input : new Float64Array(width);
    for (let r = 0; r < rows; r++) {
      const at = r * width;
      if (spec.averageOver === null) {
        convert(spec, input, target, at, width);
        continue;
      }
      for (let k = 0; k < width; k++) averaged[k] = input[at + k] / spec.averageOver;
      convert(spec, averaged, scratch, 0, width);
      target.set(scratch, at);
    }
  };
  const scratch = new Float64Array(width);

  return {
    family: "lightgbm",
    objective: spec.objectiveText ?? "custom",
    task: taskOf(spec.objective),
    numMargins: width,
    numOutputs: width,
    classLabels,
    precision: "f64",
    predictionIs: "values",
    // Each output is read before it is written (softmax takes its max first), so margins may be overwritten.
    predictsInPlace: true,
    treeShap: "lightgbm",
    unavailable(output: OptionalOutput): string | null {
      switch (output) {
        case "proba":
        case "label":
          return classifier
            ? null
            : `the model's objective ${spec.objectiveText ?? "(custom)"} is not a classifier`;
        case "leaf":
          return null;
        case "contribs":
          return spec.contribsUnavailable;
        case "interactions":
          return "LightGBM has no SHAP interaction values (its predict has pred_contrib only)";
      }
    },
    finish(sums: Values): Values {
      return sums; // raw scores: GBDT::PredictRaw adds nothing to the trees' sums
    },
    predict,
    classes(values: Values, rows: number, from: "margins" | "predictions", threshold: number): Int32Array {
      let p = values;
      if (from === "margins") {
        p = new Float64Array(rows * width);
        predict(values, rows, p);
      }
      const out = new Int32Array(rows);
      for (let r = 0; r < rows; r++) {
        if (spec.objective === "binary") {
          // LGBMClassifier.predict: argmax of [1 - p, p], i.e. p > 0.5; THRESHOLD moves the 0.5.
          out[r] = p[r] > threshold ? 1 : 0;
          continue;
        }
        // numpy's argmax, as LGBMClassifier.predict takes it: the first largest probability.
        let best = 0;
        for (let k = 1; k < width; k++) if (p[r * width + k] > p[r * width + best]) best = k;
        out[r] = best;
      }
      return out;
    },
    probabilities(predictions: Values, rows: number): Values {
      if (spec.objective !== "binary") return Float64Array.from(predictions);
      const out = new Float64Array(rows * 2);
      for (let r = 0; r < rows; r++) {
        out[2 * r] = 1 - predictions[r];
        out[2 * r + 1] = predictions[r];
      }
      return out;
    },
  };
};
