/**
 * A head finishes a forest's sums into what a caller asks for, the way one family of models does
 * it (XGBoost's objectives, onnxruntime's post-transforms, scikit-learn's estimators, LightGBM's
 * objectives). XGBoost makes the output transform a method of the objective; here it is a method
 * of the head, so the routes, the CLI and the metrics ask the head and never test the format.
 *
 * Every array is in the forest's accumulate precision (`precision`): Float32Array for float32
 * families (XGBoost, ONNX float), Float64Array for float64 ones (scikit-learn, LightGBM).
 */
import type { Forest, HeadSpec, Precision } from "../forest/forest.js";

export type Values = Float32Array | Float64Array;

export type Task = "binary" | "multiclass" | "regression" | "ranking" | "survival" | "anomaly";

/** Answers beyond predictions and margins; a head says which it can give. */
export type OptionalOutput = "proba" | "label" | "contribs" | "interactions" | "leaf";

/** How a classifier's classes are named and split (CLASS_NAMES and THRESHOLD). */
export interface LabelOptions {
  /** One name per class (CLASS_NAMES); null: the model's own labels. */
  readonly classNames: readonly string[] | null;
  /** Binary classifiers whose head allows it: a probability above this is the positive class. */
  readonly threshold: number;
}

export const DEFAULT_LABELS: LabelOptions = { classNames: null, threshold: 0.5 };

export interface Head {
  readonly family: string;
  /** The objective or estimator as the family names it ("binary:logistic", "RandomForestClassifier"). */
  readonly objective: string;
  readonly task: Task;
  /** Values per row of margins (finished sums): `?output=margin`. */
  readonly numMargins: number;
  /** Values per row of predictions. */
  readonly numOutputs: number;
  /** A classifier's labels, in class order (strings or numbers); empty for other tasks. */
  readonly classLabels: readonly (string | number)[];
  readonly precision: Precision;
  /**
   * What the default answer (`prediction`) is per row: "values" = the predictions (a number, or an
   * array when numOutputs > 1: XGBoost's and LightGBM's predict); "labels" = the class label
   * (scikit-learn's predict); "positive" = a binary classifier's second probability column (ONNX).
   */
  readonly predictionIs: "values" | "labels" | "positive";
  /** Why `output` cannot be answered for this model, or null when it can. */
  unavailable(output: OptionalOutput): string | null;
  /**
   * Whose TreeSHAP gives this family's `contribs`: "lightgbm" is LightGBM's pred_contrib, in float64
   * over its data counts (model/explain/lightgbm-tree-shap.ts); absent, XGBoost's pred_contribs in
   * float32 (model/explain/tree-shap.ts).
   */
  readonly treeShap?: "lightgbm";
  /** Tree sums (rows × forest.numGroups) → margins (rows × numMargins), in place where they fit. */
  finish(sums: Values, rows: number): Values;
  /**
   * Margins → predictions (rows × numOutputs), written into `out`: a new array, or `margins` itself
   * when the head says `predictsInPlace` (and the widths are equal).
   */
  predict(margins: Values, rows: number, out: Values): void;
  /** predict may write into the margins' own array (saves an array per call on the single-row path). */
  readonly predictsInPlace?: boolean;
  /**
   * Each row's class, an index into classLabels, from margins or from predictions (whichever a
   * caller has). The one place a class is decided for this family.
   */
  classes(values: Values, rows: number, from: "margins" | "predictions", threshold: number): Int32Array;
  /** Each row's probability of every class (rows × classLabels.length), from predictions. */
  probabilities(predictions: Values, rows: number): Values;
  /**
   * Each row's label from margins, for a family whose label is not always one of its classes
   * (onnxruntime answers the literal 1 / 0 for some binary int-label classifiers); absent: the
   * label is classLabels[classes(...)] (or the CLASS_NAMES name).
   */
  readonly ownLabels?: (margins: Values, rows: number) => (string | number)[];
  /**
   * The output tensors this family's own runtime answers with (an ONNX graph's outputs), which the
   * Open Inference Protocol routes then answer with instead of forestd's names; absent: forestd's.
   */
  readonly outputTensors?: readonly { name: string; carries: "label" | "probabilities" | "values" }[];
}

/** Builds the head a forest names; each family's module exports one. */
export type HeadFactory = (forest: Forest, spec: HeadSpec) => Head;
