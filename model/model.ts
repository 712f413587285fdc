/**
 * A loaded, immutable tree ensemble: metadata plus `predictBatch`.
 */
import type { CompiledForest } from "./compile.js";
import { PredictInputError, UnsupportedOutputError } from "./errors.js";
import { leafIndices } from "./leaf-index.js";
import { applyTransform, baseMargin, type Objective, type Task, transformedWidth } from "./objectives.js";
import type { ModelSpec } from "./read-document.js";
import {
  buildShapForest,
  type InteractionScratch,
  interactionScratch,
  shapUnsupportedReason,
  TreeShapWalker,
} from "./tree-shap.js";
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
  /** The class labels the model file names, if any (XGBoost's JSON and UBJSON carry none). */
  readonly classLabels: readonly string[] | null = null;

  readonly #forest: CompiledForest;
  readonly #scorer: WasmScorer;
  readonly #objective: Objective;
  readonly #baseMargins: Float32Array;
  readonly #spec: ModelSpec;
  readonly #featureIndex: ReadonlyMap<string, number>;
  /** Built on the first explanation: most servers never explain. */
  #shap: { walker: TreeShapWalker; scratch: InteractionScratch | null } | null = null;

  constructor(spec: ModelSpec, forest: CompiledForest) {
    this.#spec = spec;
    this.#forest = forest;
    this.#scorer = new WasmScorer(forest, spec.numFeature, spec.numGroups);
    this.#objective = spec.objective;
    this.numFeature = spec.numFeature;
    this.numMarginOutputs = spec.numGroups;
    this.numOutputs = transformedWidth(spec.objective, spec.numGroups);
    this.objective = spec.objective.name;
    this.task = spec.objective.task;
    this.featureNames = Object.freeze([...spec.featureNames]);
    this.featureTypes = Object.freeze([...spec.featureTypes]);
    this.numTrees = spec.trees.length;
    this.numClass = spec.numClass;
    this.xgboostVersion = spec.xgboostVersion;
    this.#baseMargins = Float32Array.from(spec.baseScore, (b) => baseMargin(spec.objective, b));
    this.#featureIndex = new Map(spec.featureNames.map((name, i) => [name, i]));
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

  /** Why this model cannot give SHAP values (`predictContribs`, `predictInteractions`), or null. */
  get explainUnsupportedReason(): string | null {
    return shapUnsupportedReason(this.#spec, this.#forest);
  }

  /**
   * XGBoost's `pred_contribs=True`: per row and output group, numFeature + 1 SHAP values (the last
   * is the bias), row-major: rows × numMarginOutputs × (numFeature + 1). They sum to the margin.
   */
  predictContribs(values: Float32Array, rows: number): Float32Array {
    this.#checkInput(values, rows);
    const walker = this.#walker();
    const groups = this.numMarginOutputs;
    const width = this.numFeature + 1;
    const out = new Float32Array(rows * groups * width);
    for (let r = 0; r < rows; r++)
      for (let g = 0; g < groups; g++)
        walker.explainRow(
          values,
          r * this.numFeature,
          g,
          this.#baseMargins[g],
          out,
          (r * groups + g) * width,
        );
    return out;
  }

  /**
   * XGBoost's `pred_interactions=True`: per row and output group an (F + 1) × (F + 1) matrix,
   * row-major: rows × numMarginOutputs × (F + 1) × (F + 1).
   */
  predictInteractions(values: Float32Array, rows: number): Float32Array {
    this.#checkInput(values, rows);
    const walker = this.#walker();
    const state = this.#shap!;
    state.scratch ??= interactionScratch(walker.forest);
    const groups = this.numMarginOutputs;
    const size = (this.numFeature + 1) ** 2;
    const out = new Float32Array(rows * groups * size);
    for (let r = 0; r < rows; r++)
      for (let g = 0; g < groups; g++)
        walker.interactRow(
          values,
          r * this.numFeature,
          g,
          this.#baseMargins[g],
          out,
          (r * groups + g) * size,
          state.scratch,
        );
    return out;
  }

  #walker(): TreeShapWalker {
    if (!this.#shap) {
      const reason = shapUnsupportedReason(this.#spec, this.#forest);
      if (reason) throw new UnsupportedOutputError(reason);
      this.#shap = { walker: new TreeShapWalker(buildShapForest(this.#spec, this.#forest)), scratch: null };
    }
    return this.#shap.walker;
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
    };
  }
}
