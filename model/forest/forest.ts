/**
 * The Forest: the one representation every model format reads into, and the only thing the
 * compiler, the kernels, the explanations and the heads see.
 *
 * It keeps what the format meant, not what a kernel runs (Treelite's model builder is the
 * pattern): each split's own comparison, in its own precision, with its own missing-value rule;
 * leaves as the format stores them; the order and precision in which leaves are summed; and a head
 * descriptor that says how sums become predictions. Lowering (x <= t into the kernel's x >= t',
 * float64 comparisons into exact integer bins, categorical sets into bitsets) is the compiler's job
 * (model/compile/), never a reader's.
 *
 * Arrays are typed and per tree (struct of arrays): a 100 MB scikit-learn forest has millions of
 * nodes, which as objects would cost ten times the file.
 */

/** A precision: what a format rounds a value to before it compares or adds it. */
export type Precision = "f32" | "f64";

/**
 * What a split node asks of a row's value x; the answer true sends the row to the LEFT child
 * (Treelite's convention: `NumericalTest(feature, threshold, default_left, cmp, left, right)`).
 * XGBoost: x < t (LT). LightGBM, scikit-learn: x <= t (LE). ONNX: its mode, as written.
 */
export const Test = {
  /** x < threshold */
  LT: 0,
  /** x <= threshold */
  LE: 1,
  /** x > threshold */
  GT: 2,
  /** x >= threshold */
  GE: 3,
  /** x == threshold (ONNX BRANCH_EQ) */
  EQ: 4,
  /** x != threshold (ONNX BRANCH_NEQ) */
  NE: 5,
  /** x equals one of the node's `values` (ONNX BRANCH_MEMBER), compared as numbers */
  MEMBER: 6,
  /**
   * The row's category is in the node's `categories` (LightGBM, scikit-learn HistGradientBoosting).
   * A category is x truncated to an integer; NaN follows the node's missing rule; a negative value
   * (see NodeFlag.CATEGORY_TRUNCATES), one at or past 2^24, or a category the set lacks is "not in
   * the set".
   */
  IN_SET: 7,
  /** The row's category is NOT in the node's set (XGBoost sends its set right: not in set → left). */
  NOT_IN_SET: 8,
} as const;
export type TestCode = (typeof Test)[keyof typeof Test];
export const TEST_NAMES = ["<", "<=", ">", ">=", "==", "!=", "in", "in-set", "not-in-set"] as const;

/** Per split node, bit flags: how a missing value (NaN) is routed, and how a value becomes a category. */
export const NodeFlag = {
  /** NaN goes left (else right). As XGBoost's default_left, ONNX's missing_value_tracks_true. */
  DEFAULT_LEFT: 1,
  /**
   * Zero counts as missing too: |x| <= ZERO_THRESHOLD goes the default way (LightGBM's missing type
   * Zero). Numeric tests only: a set test reads 0 as category 0.
   */
  ZERO_IS_MISSING: 2,
  /** NaN is not missing: it is compared as 0.0 (LightGBM's numerical missing types None and Zero). */
  NAN_AS_ZERO: 4,
  /**
   * Set tests: x is truncated toward zero before the negative check, so -1 < x < 0 is category 0
   * (C's static_cast<int>, as LightGBM). Without it any x < 0 is not a category (XGBoost).
   */
  CATEGORY_TRUNCATES: 8,
} as const;

/**
 * LightGBM's kZeroThreshold: values this close to 0 are "zero" for ZERO_IS_MISSING. LightGBM
 * declares it `const double kZeroThreshold = 1e-35f;` (include/LightGBM/meta.h): the float nearest
 * 1e-35, widened, which is 1.0000000180025095e-35, not the double 1e-35.
 */
export const ZERO_THRESHOLD = Math.fround(1e-35);

/** One tree. Node 0 is the root; a leaf has left = right = -1. */
export interface ForestTree {
  readonly numNodes: number;
  readonly left: Int32Array;
  readonly right: Int32Array;
  /** The feature a split reads (an index into Forest.features); ignored for leaves. */
  readonly feature: Int32Array;
  /** Per split: a Test code. */
  readonly test: Uint8Array;
  /** Per split: the threshold, exactly as the format holds it (a float32 value for float32 formats). */
  readonly threshold: Float64Array;
  /** Per split: NodeFlag bits. */
  readonly flags: Uint8Array;
  /** MEMBER / IN_SET / NOT_IN_SET nodes: their values (sorted, distinct); integers for the sets. */
  readonly sets: ReadonlyMap<number, Float64Array>;
  /** Values per leaf: 1, or several consecutive output groups starting at the tree's group. */
  readonly leafWidth: number;
  /** numNodes × leafWidth; only leaves' entries are read. Already rounded to Forest.accumulate. */
  readonly leafValue: Float64Array;
  /** Per node: the training cover (hessian sum or sample count) TreeSHAP weighs by; null = unknown. */
  readonly cover: Float64Array | null;
  /** Per node: the id the format's own pred_leaf reports for a leaf; null = the node index. */
  readonly leafId: Int32Array | null;
}

export type FeatureKind = "numeric" | "categorical";

export interface ForestFeature {
  /** The model's own name, or null when it was trained without names. */
  readonly name: string | null;
  readonly kind: FeatureKind;
  /** The format's own word for the type (XGBoost's "float", "int", "q", "c"), or null. */
  readonly formatType: string | null;
}

/**
 * A column a row brings. Without preprocessing the inputs are the forest's features one for one;
 * with it (a scikit-learn Pipeline, an ONNX graph's preprocessing nodes) they are what the first
 * step reads.
 */
export interface InputColumn {
  readonly name: string | null;
  readonly kind: FeatureKind;
  /**
   * String categories this column accepts: a string in a row becomes its index here (a pandas
   * category's code, a OneHotEncoder's or LabelEncoder's category position); a string not listed
   * becomes NaN (missing). Null: numbers only.
   */
  readonly vocabulary: readonly string[] | null;
}

/**
 * A step between a row's inputs and the forest's features, with the arithmetic spelled out so the
 * engine can do exactly what the format's library does (each op rounded to `precision`).
 */
export type PreprocessStep =
  /** Per column c, in order: x = x OP operand[c] (StandardScaler: sub mean, div scale; ONNX Scaler: sub, mul). */
  | {
      readonly kind: "elementwise";
      readonly precision: Precision;
      readonly ops: readonly { readonly op: "add" | "sub" | "mul" | "div"; readonly operand: Float64Array }[];
    }
  /** Per column c: a missing x (NaN, or equal to `missingValue` when it is a number) becomes values[c]. */
  | { readonly kind: "impute"; readonly missingValue: number; readonly values: Float64Array }
  /** out[i] = in[columns[i]] (ArrayFeatureExtractor, a ColumnTransformer's order, Concat). */
  | { readonly kind: "select"; readonly columns: Int32Array }
  /**
   * Column `column` replaced by one indicator per category (1 where x equals it, else 0), placed
   * at the column's position; a value in none gives all zeros (handle_unknown="ignore"), or
   * refuses the row when `unknown` is "error".
   */
  | {
      readonly kind: "oneHot";
      readonly column: number;
      readonly categories: Float64Array;
      readonly unknown: "zeros" | "error";
    }
  /** Column `column`: x → table[x] for an integer x in range, else `fallback` (LabelEncoder). */
  | {
      readonly kind: "lookup";
      readonly column: number;
      readonly table: Float64Array;
      readonly fallback: number;
    }
  /**
   * Each row (or its `span`) scaled by its L1, L2 or max norm, in `precision` (Normalizer).
   * formula "divide" (the default: scikit-learn): x / norm, norm = Σ|x|, √Σx² or max |x|.
   * formula "onnxruntime" (its Normalizer, always float32): L1 x / Σ|x|; L2 ±√(x² / Σx²) with x²
   * rounded before it is summed; MAX x / max x (the largest value, not the largest |x|, NaN
   * skipped); a zero norm leaves the values as they are.
   */
  | {
      readonly kind: "normalize";
      readonly norm: "L1" | "L2" | "MAX";
      readonly precision: Precision;
      readonly span?: ColumnSpan;
      readonly formula?: "divide" | "onnxruntime";
    }
  /**
   * x > threshold → 1, else 0 (Binarizer), on the row or its `span`. nan "error" refuses a row
   * with NaN there (onnxruntime's Binarizer fails on NaN); absent: NaN → 0.
   */
  | {
      readonly kind: "binarize";
      readonly threshold: number;
      readonly precision: Precision;
      readonly span?: ColumnSpan;
      readonly nan?: "error";
    }
  /** Every value (or the `span`'s) rounded to `precision` (ONNX Cast, a float32 DMatrix). */
  | { readonly kind: "cast"; readonly precision: Precision; readonly span?: ColumnSpan };

/**
 * Columns [from, from + count) of the row: where a whole-row step applies to one part of it (an
 * ONNX node reading one tensor among the several a graph carries); the other columns pass as
 * they are.
 */
export interface ColumnSpan {
  readonly from: number;
  readonly count: number;
}

/** How tree outputs combine into one value per row and group, before the head finishes them. */
export interface Aggregate {
  /** Trees' leaves added (in tree order), or their smallest / largest (ONNX MIN / MAX). */
  readonly reduce: "sum" | "min" | "max";
  /** Per group: the value the first tree is added to (XGBoost's base margin, GB's init); sum only. */
  readonly init: Float64Array;
}

/**
 * Which head finishes this forest's sums into answers, and with what: a family (heads/ has one
 * per family) and that family's own parameters. Heads narrow it by `family`.
 */
export interface HeadSpec {
  readonly family: string;
}

/** One named input tensor of a model (an ONNX graph input): its element type and columns per row. */
export interface InputTensor {
  readonly name: string;
  readonly type: "float" | "double" | "int64" | "int32" | "string";
  readonly width: number;
}

/** Where a model came from, for `/model` and `forestd inspect`. */
export interface Provenance {
  /** The format's short name: "xgboost", "onnx", "sklearn", "lightgbm". */
  readonly format: string;
  /** What wrote it ("xgboost 2.1.4", "skl2onnx 1.17", "scikit-learn 1.2.1"), or null. */
  readonly producer: string | null;
  /** Format-specific facts reported as they are (JSON values). */
  readonly details: Readonly<Record<string, unknown>>;
  /** The name a client gives the input tensor (an ONNX graph's input), when the format has one. */
  readonly inputTensor?: string;
  /**
   * The named tensors a row is sent as, when the format has them (an ONNX graph's inputs, in the
   * graph's order): each holds `width` consecutive input columns, starting where the one before it
   * ends, so together they are the whole row. Absent: the row is one tensor of its columns.
   */
  readonly inputTensors?: readonly InputTensor[];
  /**
   * How the file came packaged, when it came in a package (an MLflow model folder: its MLmodel's
   * facts and how its requests map to the inputs; model/mlflow/). JSON data the engine never
   * reads; it travels with the Forest (to every thread) so whoever serves the model can.
   */
  readonly packaging?: { readonly kind: string; readonly facts: Readonly<Record<string, unknown>> };
}

export interface Forest {
  readonly provenance: Provenance;
  /** The precision a row's value is rounded to before a split compares it (XGBoost: f32). */
  readonly input: Precision;
  /** The precision leaves are added in (XGBoost, ONNX float: f32; scikit-learn, LightGBM: f64). */
  readonly accumulate: Precision;
  readonly features: readonly ForestFeature[];
  /** What a row holds, when it differs from `features` (see `preprocess`); null = the features. */
  readonly inputs: readonly InputColumn[] | null;
  /** Steps from `inputs` to `features`, in order; empty without preprocessing. */
  readonly preprocess: readonly PreprocessStep[];
  readonly trees: readonly ForestTree[];
  /** Per tree: the output group its leaves feed (its first, for vector leaves). */
  readonly treeGroup: Int32Array;
  /** Per tree: a factor on its leaves (dart's drop weight, a learning rate), in `accumulate`; null = 1. */
  readonly treeWeight: Float64Array | null;
  /** Margins per row out of the trees. */
  readonly numGroups: number;
  readonly aggregate: Aggregate;
  readonly head: HeadSpec;
}
