/**
 * A loaded, immutable tree ensemble: metadata plus `predictBatch`.
 */
import type { CompiledForest } from "./compile.js";
import { PredictInputError, UnsupportedOutputError } from "./errors.js";
import { leafIndices } from "./leaf-index.js";
import { applyTransform, baseMargin, type Objective, type Task, transformedWidth } from "./objectives.js";
import type { OnnxHead } from "./onnx/head.js";
import type { ModelSpec } from "./read-document.js";
import { ShapKernel } from "./shap-kernel.js";
import { buildShapForest, shapUnsupportedReason } from "./tree-shap.js";
import { WasmScorer } from "./wasm-scorer.js";

export interface PredictOptions {
  /** Raw margins (before the objective's transform), as XGBoost's `output_margin=True`. */
  margin?: boolean;
}

export interface ModelInfo {
  objective: string;
  task: Task;
  booster: "gbtree" | "dart";
  numFeature: number;
  numClass: number;
  numOutputs: number;
  numMarginOutputs: number;
  featureNames: string[];
  featureTypes: string[];
  numTrees: number;
  numParallelTree: number;
  maxDepth: number;
  numNodes: number;
  numLeaves: number;
  baseScore: number[];
  xgboostVersion: string | null;
  bestIteration: number | null;
  /** The model's class labels (ONNX classifiers: the graph's own; XGBoost: 0..numClass-1); empty otherwise. */
  classLabels: (string | number)[];
  /** Where the model came from: "xgboost" (JSON/UBJSON) or "onnx". */
  format: "xgboost" | "onnx";
  /** ONNX models only: what the file says about itself. */
  onnx?: OnnxModelInfo;
}

/** What `forestd inspect` and `/model` report about an ONNX file. */
export interface OnnxModelInfo {
  producerName: string;
  producerVersion: string;
  irVersion: number;
  /** Opset per domain ("" is ai.onnx). */
  opsets: Record<string, number>;
  operator: string;
  inputName: string;
  /** Graph outputs: name and what each carries. */
  outputs: { name: string; carries: "label" | "probabilities" | "values"; zipmap: boolean }[];
  postTransform: string;
  aggregateFunction: string;
  baseValues: number[];
  /** Trees in the ONNX node (forestd scores a copy per class where leaves vote for several). */
  onnxTrees: number;
}

/** Extra pieces a model read from ONNX brings: its output head and what to report. */
export interface OnnxParts {
  head: OnnxHead;
  info: OnnxModelInfo;
}

export class Model {
  /** Features per row that `predictBatch` expects. */
  readonly numFeature: number;
  /** Values per row that `predictBatch` returns (1 for multi:softmax's class index). */
  readonly numOutputs: number;
  /** Values per row with `{ margin: true }`: one margin per output group (class or target). */
  readonly numMarginOutputs: number;
  readonly objective: string;
  readonly task: Task;
  /** Names from the model, or an empty array when it was trained without names. */
  readonly featureNames: readonly string[];
  /** XGBoost feature types ("float", "int", "q", "c", ...), or an empty array. */
  readonly featureTypes: readonly string[];
  readonly numTrees: number;
  readonly numClass: number;
  readonly xgboostVersion: string | null;

  readonly #forest: CompiledForest;
  readonly #scorer: WasmScorer;
  readonly #objective: Objective;
  readonly #baseMargins: Float32Array;
  readonly #spec: ModelSpec;
  readonly #featureIndex: ReadonlyMap<string, number>;
  /** Built on the first explanation: most servers never explain. */
  #shap: ShapKernel | null = null;
  readonly #onnx: OnnxParts | null;
  /** Class labels: an ONNX classifier's own, XGBoost's 0..numClass-1 (0, 1 for binary); else empty. */
  readonly classLabels: readonly (string | number)[];
  /** Where the model came from: XGBoost's JSON/UBJSON, or an ONNX-ML tree ensemble. */
  readonly format: "xgboost" | "onnx";

  constructor(spec: ModelSpec, forest: CompiledForest, onnx: OnnxParts | null = null) {
    this.#onnx = onnx;
    this.format = onnx ? "onnx" : "xgboost";
    this.#spec = spec;
    this.#forest = forest;
    this.#scorer = new WasmScorer(forest, spec.numFeature, spec.numGroups);
    this.#objective = spec.objective;
    this.numFeature = spec.numFeature;
    this.numMarginOutputs = spec.numGroups;
    this.numOutputs = onnx ? onnx.head.numOutputs : transformedWidth(spec.objective, spec.numGroups);
    this.objective = spec.objective.name;
    this.task = spec.objective.task;
    this.featureNames = Object.freeze([...spec.featureNames]);
    this.featureTypes = Object.freeze([...spec.featureTypes]);
    this.numTrees = spec.trees.length;
    this.numClass = spec.numClass;
    this.xgboostVersion = spec.xgboostVersion;
    this.#baseMargins = Float32Array.from(spec.baseScore, (b) => baseMargin(spec.objective, b));
    this.#featureIndex = new Map(spec.featureNames.map((name, i) => [name, i]));
    const xgboostClasses =
      spec.objective.task === "multiclass" ? spec.numClass : spec.objective.task === "binary" ? 2 : 0;
    this.classLabels = Object.freeze(
      onnx ? [...(onnx.head.classLabels ?? [])] : Array.from({ length: xgboostClasses }, (_, i) => i),
    );
  }

  /**
   * Each row's class label from margins (`predictBatch(..., { margin: true })`): for ONNX
   * classifiers exactly onnxruntime's `label` output; for XGBoost the index of the largest margin
   * (binary: 1 when the margin is positive). Empty for models without classes.
   */
  labels(margins: Float32Array, rows: number): (string | number)[] {
    if (this.classLabels.length === 0) return [];
    if (margins.length !== rows * this.numMarginOutputs) {
      throw new PredictInputError(
        `margins has ${margins.length} entries; ${rows} rows need ${rows * this.numMarginOutputs}`,
      );
    }
    if (this.#onnx) return this.#onnx.head.labels(margins, rows);
    const groups = this.numMarginOutputs;
    const out = new Array<number>(rows);
    for (let r = 0; r < rows; r++) {
      if (groups === 1) {
        out[r] = margins[r] > 0 ? 1 : 0;
        continue;
      }
      let best = 0;
      for (let g = 1; g < groups; g++) if (margins[r * groups + g] > margins[r * groups + best]) best = g;
      out[r] = best;
    }
    return out;
  }

  /** Values per row of `predictBatch`'s result for these options. */
  outputWidth(options?: PredictOptions): number {
    return options?.margin ? this.numMarginOutputs : this.numOutputs;
  }

  /** The column of a named feature, or -1. */
  featureIndex(name: string): number {
    return this.#featureIndex.get(name) ?? -1;
  }

  /**
   * Scores `rows` rows of `values` (row-major, `numFeature` values per row, NaN = missing) and
   * returns row-major outputs, `outputWidth(options)` per row.
   */
  predictBatch(values: Float32Array, rows: number, options?: PredictOptions): Float32Array {
    const margins = this.margins(values, rows);
    return options?.margin ? margins : this.#transformInPlace(margins, rows);
  }

  /**
   * The objective's output transform applied to margins from `predictBatch(..., { margin: true })`
   * (rows × numMarginOutputs); returns a new array (rows × numOutputs), `margins` untouched.
   */
  transform(margins: Float32Array, rows: number): Float32Array {
    if (margins.length !== rows * this.numMarginOutputs) {
      throw new PredictInputError(
        `margins has ${margins.length} entries; ${rows} rows need ${rows * this.numMarginOutputs}`,
      );
    }
    return this.#transformInPlace(margins.slice(), rows);
  }

  #transformInPlace(margins: Float32Array, rows: number): Float32Array {
    if (this.#onnx) {
      const out = new Float32Array(rows * this.numOutputs);
      this.#onnx.head.transform(margins, rows, out);
      return out;
    }
    const out =
      this.numOutputs === this.numMarginOutputs ? margins : new Float32Array(rows * this.numOutputs);
    applyTransform(this.#objective, margins, rows, this.numMarginOutputs, out);
    return out;
  }

  /**
   * XGBoost's `pred_leaf=True`: rows × numTrees leaf ids (node ids in the model file), row-major.
   */
  predictLeaf(values: Float32Array, rows: number): Float32Array {
    this.#checkInput(values, rows);
    const out = new Float32Array(rows * this.numTrees);
    leafIndices(this.#forest, values, this.numFeature, rows, out);
    return out;
  }

  /** The objective's metadata: how outputs read (an ONNX model's is its own, "onnx:<operator>"). */
  get objectiveSpec(): Objective {
    return this.#objective;
  }

  /** Why this model cannot give SHAP values (`predictContribs`, `predictInteractions`), or null. */
  get explainUnsupportedReason(): string | null {
    // ONNX-ML trees carry no node covers (TreeSHAP's weights), and onnxruntime has no SHAP to match.
    if (this.#onnx) return "explanations need an XGBoost model; this is an ONNX tree ensemble";
    return shapUnsupportedReason(this.#spec, this.#forest);
  }

  /**
   * XGBoost's `pred_contribs=True`: per row and output group, numFeature + 1 SHAP values (the last
   * is the bias), row-major: rows × numMarginOutputs × (numFeature + 1). They sum to the margin.
   */
  predictContribs(values: Float32Array, rows: number): Float32Array {
    this.#checkInput(values, rows);
    const out = new Float32Array(rows * this.numMarginOutputs * (this.numFeature + 1));
    this.#shapKernel().contribs(values, rows, this.#baseMargins, out);
    return out;
  }

  /**
   * XGBoost's `pred_interactions=True`: per row and output group an (F + 1) × (F + 1) matrix,
   * row-major: rows × numMarginOutputs × (F + 1) × (F + 1).
   */
  predictInteractions(values: Float32Array, rows: number): Float32Array {
    this.#checkInput(values, rows);
    const out = new Float32Array(rows * this.numMarginOutputs * (this.numFeature + 1) ** 2);
    this.#shapKernel().interactions(values, rows, this.#baseMargins, out);
    return out;
  }

  #shapKernel(): ShapKernel {
    if (!this.#shap) {
      const reason = shapUnsupportedReason(this.#spec, this.#forest);
      if (reason) throw new UnsupportedOutputError(reason);
      this.#shap = new ShapKernel(buildShapForest(this.#spec, this.#forest));
    }
    return this.#shap;
  }

  #checkInput(values: Float32Array, rows: number): void {
    if (!(values instanceof Float32Array)) throw new PredictInputError("values must be a Float32Array");
    if (!Number.isSafeInteger(rows) || rows < 0)
      throw new PredictInputError(`rows must be a whole number, got ${rows}`);
    if (values.length !== rows * this.numFeature) {
      throw new PredictInputError(
        `values has ${values.length} entries; ${rows} rows × ${this.numFeature} features need ${rows * this.numFeature}`,
      );
    }
  }

  private margins(values: Float32Array, rows: number): Float32Array {
    this.#checkInput(values, rows);
    const groups = this.numMarginOutputs;
    const margins = new Float32Array(rows * groups);
    if (groups === 1) margins.fill(this.#baseMargins[0]);
    else for (let r = 0; r < rows; r++) margins.set(this.#baseMargins, r * groups);
    this.#scorer.accumulate(values, rows, margins);
    // onnxruntime sums trees from 0 and adds base values after (this model's base margins are 0).
    this.#onnx?.head.finishMargins(margins, rows);
    return margins;
  }

  /** Everything `forestd inspect` and `GET /model` report. */
  info(): ModelInfo {
    const s = this.#spec;
    return {
      objective: this.objective,
      task: this.task,
      booster: s.booster,
      numFeature: this.numFeature,
      numClass: this.numClass,
      numOutputs: this.numOutputs,
      numMarginOutputs: this.numMarginOutputs,
      featureNames: [...this.featureNames],
      featureTypes: [...this.featureTypes],
      numTrees: this.numTrees,
      numParallelTree: s.numParallelTree,
      maxDepth: this.#forest.maxDepth,
      numNodes: this.#forest.numNodes,
      numLeaves: this.#forest.numLeaves,
      baseScore: [...s.baseScore],
      xgboostVersion: this.xgboostVersion,
      bestIteration: s.bestIteration,
      classLabels: [...this.classLabels],
      format: this.#onnx ? "onnx" : "xgboost",
      ...(this.#onnx ? { onnx: structuredClone(this.#onnx.info) } : {}),
    };
  }
}
