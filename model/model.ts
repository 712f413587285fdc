/**
 * A loaded, immutable model: a checked Forest, compiled once, with its head. Whatever the format,
 * scoring is the same steps: rows → preprocessing (if the model has any) → kernel rows (the input
 * plan) → the kernels' sums → the head's margins → the head's predictions.
 */
import { arraysIn } from "./arrays.js";
import { type CompiledModel, compileForest } from "./compile/compile.js";
import { kernelRows } from "./compile/input-plan.js";
import { quantizeForest } from "./compile/quantize.js";
import { PredictInputError, UnsupportedOutputError } from "./errors.js";
import { lightgbmContribs, lightgbmShapUnsupported } from "./explain/lightgbm-tree-shap.js";
import { ShapKernel } from "./explain/shap-kernel.js";
import { buildShapForest, shapUnsupportedReason } from "./explain/tree-shap.js";
import { checkForest } from "./forest/check.js";
import { applyStep } from "./forest/evaluate.js";
import type { Forest, InputColumn, InputTensor, Precision, Provenance } from "./forest/forest.js";
import { releaseBuffer, releaseTrees } from "./forest/release.js";
import type { Head, OptionalOutput, Task, Values } from "./heads/head.js";
import { headFor } from "./heads/index.js";
import type { CompiledForest } from "./kernels/layout.js";
import { leafIndices } from "./kernels/leaf-index.js";
import { buildSimdImage, type SimdImage, SimdScorer } from "./kernels/simd-scorer.js";
import { buildKernelImage, type KernelImage, WasmScorer } from "./kernels/wasm-scorer.js";
import { type SharedModel, shareParts, type UnsharedParts, unshareParts } from "./shared.js";

export type Rows = Float32Array | Float64Array;

export interface ModelOptions {
  /**
   * Which kernel scores: "simd" (the binned layout, 16 rows per instruction; the default wherever
   * the model allows it) or "walk" (the compiled layout's kernels, one row per step). For
   * benchmarks and tests; a model the SIMD kernel cannot run is walked either way.
   */
  kernel?: "simd" | "walk";
  /** The SIMD kernel's relaxed-SIMD build when the engine has it (default true). */
  relaxedSimd?: boolean;
}

export interface PredictOptions {
  /** Raw margins (before the head's transform), as XGBoost's `output_margin=True`. */
  margin?: boolean;
}

export interface ModelInfo {
  /** Where the model came from: "xgboost", "onnx", ... and what wrote it. */
  format: string;
  producer: string | null;
  objective: string;
  task: Task;
  numFeature: number;
  numClass: number;
  numOutputs: number;
  numMarginOutputs: number;
  featureNames: string[];
  featureTypes: string[];
  /** What a row holds (names, numeric or categorical, string categories); the features without preprocessing. */
  inputs: { name: string | null; kind: string; categories: number }[];
  /** Preprocessing steps before the trees, by kind; empty without. */
  preprocess: string[];
  /** What a row's values are compared in, and what leaves are added in. */
  precision: { input: Precision; accumulate: Precision };
  numTrees: number;
  maxDepth: number;
  numNodes: number;
  numLeaves: number;
  /** Tree levels a row walks: the depths of every tree (every slot of vector leaves), summed. */
  treeLevels: number;
  /** Which kernel scores it, and why when it is not the SIMD kernel. */
  kernel: string;
  /** The model's class labels, in class order; empty for models without classes. */
  classLabels: (string | number)[];
  /** The format's own facts (XGBoost: version, booster, base_score; ONNX: producer, opsets, graph outputs). */
  details: Record<string, unknown>;
}

export class Model {
  /** Values per row that `predictBatch` expects (the model's inputs). */
  readonly numFeature: number;
  /** Values per row that `predictBatch` returns (1 for multi:softmax's class index). */
  readonly numOutputs: number;
  /** Values per row with `{ margin: true }`. */
  readonly numMarginOutputs: number;
  readonly objective: string;
  readonly task: Task;
  /** Names of the inputs, or an empty array when the model was trained without names. */
  readonly featureNames: readonly string[];
  /** The format's types of the inputs (XGBoost's "float", "int", "q", "c"), or an empty array. */
  readonly featureTypes: readonly string[];
  readonly numTrees: number;
  readonly numClass: number;
  /** Class labels (an ONNX classifier's own, XGBoost's 0..numClass-1); empty for other tasks. */
  readonly classLabels: readonly (string | number)[];
  /** The format the model was read from ("xgboost", "onnx", ...): for reports, never for decisions. */
  readonly format: string;
  /** The head: how this model's sums become answers, and which answers it can give. */
  readonly head: Head;
  /** The array type rows are best given in: float64 where the model compares or preprocesses in double. */
  readonly rowPrecision: Precision;
  /** The array type margins and predictions come back in. */
  readonly outputPrecision: Precision;

  readonly #forest: Forest;
  readonly #compiled: CompiledModel;
  /** Scores margins: the SIMD kernel on binned rows, or the compiled layout's walk. */
  readonly #scorer: SimdScorer | WasmScorer;
  readonly #kernel: string;
  /** Why the walk kernel scores (the quantizer's refusal, or "chosen"); carried to shared copies. */
  readonly #walkReason: string;
  readonly #inputs: readonly InputColumn[];
  readonly #featureIndex: ReadonlyMap<string, number>;
  /** Built on the first explanation: most servers never explain. */
  #shap: ShapKernel | null = null;

  /** The kernel's image: shared memory the model's compiled (walk) or binned (SIMD) trees are laid out in. */
  readonly #image: KernelImage | SimdImage;
  /** Bytes the model holds (its arrays and kernel image): computed once. */
  readonly #bytes: number;
  /** Set when the model was rebuilt from shared memory (fromShared): what share() gives again. */
  readonly #shared: SharedModel | null;

  /**
   * Checks and compiles a Forest, and chooses its kernel: the SIMD kernel wherever the quantizer
   * can bin the forest, else the walk. (Model.fromShared rebuilds a model another thread compiled,
   * passing its parts as `shared`: nothing is checked, compiled or chosen again.)
   */
  constructor(
    forest: Forest,
    options: ModelOptions = {},
    shared?: { parts: UnsharedParts; model: SharedModel },
    /** Nobody else reads `forest` (Model.compileOwned): trees the model drops are freed at once. */
    owned = false,
  ) {
    let walkReason = "chosen";
    if (!shared) checkForest(forest);
    this.head = headFor(forest);
    if (shared) {
      this.#forest = shared.parts.forest;
      this.#compiled = shared.parts.compiled;
      this.#image = shared.model.kernel;
      this.#shared = shared.model;
      walkReason = shared.model.walkReason;
      this.numTrees = shared.parts.numTrees;
    } else {
      const keepTrees = needsTrees(forest, this.head);
      // Compiled into shared memory from the start: share() then hands the arrays on as they are.
      // A model that explains nothing may keep its nodes in a kernel image only: their arrays
      // are compiled into a buffer of their own, freed below (nodesHeld).
      const compiled = compileForest(forest, {
        shared: true,
        transientNodes: !keepTrees && forest.aggregate.reduce === "sum",
      });
      this.numTrees = forest.trees.length;
      // The quantizer reads the compiled layout (its node arrays are still there, transient or not).
      const quantized = options.kernel === "walk" ? null : quantizeForest(forest, compiled);
      if (quantized && "refused" in quantized) walkReason = quantized.refused;
      if (keepTrees) this.#forest = forest;
      else {
        this.#forest = { ...forest, trees: [] };
        // Before a kernel image is laid out: the trees' memory is not held beside it.
        if (owned) releaseTrees(forest, this.#forest);
      }
      if (quantized && "binned" in quantized) {
        this.#image = buildSimdImage(quantized.binned, forest.features.length);
        // The SIMD image holds binned trees, not the compiled nodes: the leaf index (pred_leaf)
        // walks the compiled arrays, so they stay when the model can answer leaves.
        this.#compiled = nodesHeld(compiled, this.head.unavailable("leaf") === null);
      } else {
        this.#image = buildKernelImage(compiled.forest);
        this.#compiled = nodesHeld(compiled, false);
      }
      this.#shared = null;
    }
    if (this.#image.kind === "simd") {
      const scorer = new SimdScorer(this.#image, { relaxed: options.relaxedSimd ?? true });
      this.#scorer = scorer;
      this.#kernel = `${this.#image.description}${scorer.relaxed ? " (relaxed SIMD)" : ""}`;
    } else {
      this.#scorer = new WasmScorer(this.#compiled.forest, this.#image);
      this.#kernel = `walk (${walkReason})`;
    }
    this.#walkReason = walkReason;
    forest = this.#forest;
    this.format = forest.provenance.format;
    this.#inputs =
      forest.inputs ??
      forest.features.map((f) => ({ name: f.name, kind: f.kind, vocabulary: null }) satisfies InputColumn);
    this.numFeature = this.#inputs.length;
    this.numMarginOutputs = this.head.numMargins;
    this.numOutputs = this.head.numOutputs;
    this.objective = this.head.objective;
    this.task = this.head.task;
    const named = this.#inputs.every((c) => c.name !== null);
    this.featureNames = Object.freeze(named ? this.#inputs.map((c) => c.name as string) : []);
    const typed = forest.inputs === null && forest.features.every((f) => f.formatType !== null);
    this.featureTypes = Object.freeze(typed ? forest.features.map((f) => f.formatType as string) : []);
    this.classLabels = Object.freeze([...this.head.classLabels]);
    this.numClass = this.task === "multiclass" || this.task === "binary" ? this.classLabels.length : 0;
    this.rowPrecision = forest.input === "f64" || forest.preprocess.length > 0 ? "f64" : "f32";
    this.outputPrecision = this.head.precision;
    this.#featureIndex = new Map(this.featureNames.map((name, i) => [name, i]));
    this.#bytes = shared
      ? shared.model.bytes
      : arrayBytes(this.#forest) + arrayBytes(this.#compiled) + this.#image.bytes;
  }

  /**
   * The model in shared memory (model/shared.ts), to be rebuilt in another thread of this process by
   * Model.fromShared without parsing, checking or compiling it again; every thread then reads the
   * same arrays and kernel image, each with scratch of its own.
   */
  share(): SharedModel {
    return (
      this.#shared ?? shareParts(this.#forest, this.numTrees, this.#compiled, this.#image, this.#walkReason)
    );
  }

  /**
   * Checks and compiles a Forest that nobody else holds or reads afterwards (a model file's,
   * read by loadModel): when the model keeps none of its trees, their memory is freed at once,
   * before the kernel image is laid out, rather than at V8's next full collection. The Forest's
   * trees are empty afterwards.
   */
  static compileOwned(forest: Forest, options: ModelOptions = {}): Model {
    return new Model(forest, options, undefined, true);
  }

  /** A model another thread shared (Model.share), rebuilt from views of its memory. */
  static fromShared(shared: SharedModel): Model {
    const parts = unshareParts(shared);
    return new Model(parts.forest, {}, { parts, model: shared });
  }

  /**
   * Bytes this model holds: its forest's and compiled layout's arrays and the kernel's image (what
   * MODEL_MEMORY_LIMIT counts and forestd_model_bytes reports); each thread scoring it adds a few
   * kilobytes of scratch of its own, not counted here.
   */
  get compiledBytes(): number {
    return this.#bytes;
  }

  /** The name clients give the input tensor, when the format has one (an ONNX graph's input). */
  get inputTensor(): string | null {
    return this.#forest.provenance.inputTensor ?? null;
  }

  /**
   * The named tensors a row is sent as (an ONNX graph's inputs, in order, each `width` consecutive
   * columns of the row), or null when the format names none.
   */
  get inputTensors(): readonly InputTensor[] | null {
    return this.#forest.provenance.inputTensors ?? null;
  }

  /** How the model file came packaged (an MLflow model folder), or null: see Provenance.packaging. */
  get packaging(): Provenance["packaging"] | null {
    return this.#forest.provenance.packaging ?? null;
  }

  /** What a row holds, column by column (names, kinds, string vocabularies). */
  get inputs(): readonly InputColumn[] {
    return this.#inputs;
  }

  /** Values per row of `predictBatch`'s result for these options. */
  outputWidth(options?: PredictOptions): number {
    return options?.margin ? this.numMarginOutputs : this.numOutputs;
  }

  /** The column of a named input, or -1. */
  featureIndex(name: string): number {
    return this.#featureIndex.get(name) ?? -1;
  }

  /** Why `output` cannot be answered for this model, or null. */
  unavailable(output: OptionalOutput): string | null {
    const reason = this.head.unavailable(output);
    if (reason) return reason;
    if (output === "contribs" && this.head.treeShap === "lightgbm")
      return lightgbmShapUnsupported(this.#forest);
    if (output === "contribs" || output === "interactions") {
      if (!this.#compiled.plan.identity || this.#compiled.forest.roots.length !== this.numTrees)
        return "TreeSHAP is computed on float32 models with one value per leaf";
      return shapUnsupportedReason(this.#forest, this.#compiled.forest);
    }
    return null;
  }

  /**
   * Scores `rows` rows of `values` (row-major, `numFeature` values per row, NaN = missing) and
   * returns row-major outputs, `outputWidth(options)` per row, in the model's output precision.
   */
  predictBatch(values: Rows, rows: number, options?: PredictOptions): Values {
    const margins = this.margins(values, rows);
    if (options?.margin) return margins;
    if (this.head.predictsInPlace && this.numOutputs === this.numMarginOutputs) {
      // The margins are this call's own array: the predictions may take its place.
      this.head.predict(margins, rows, margins);
      return margins;
    }
    return this.transform(margins, rows);
  }

  /** The head's predictions from margins (rows × numMarginOutputs); a new array, `margins` untouched. */
  transform(margins: Values, rows: number): Values {
    if (margins.length !== rows * this.numMarginOutputs) {
      throw new PredictInputError(
        `margins has ${margins.length} entries; ${rows} rows need ${rows * this.numMarginOutputs}`,
      );
    }
    const out =
      this.outputPrecision === "f32"
        ? new Float32Array(rows * this.numOutputs)
        : new Float64Array(rows * this.numOutputs);
    this.head.predict(margins, rows, out);
    return out;
  }

  /** Each row's class index (into classLabels) from margins or predictions, as the head decides. */
  classes(values: Values, rows: number, from: "margins" | "predictions", threshold = 0.5): Int32Array {
    return this.head.classes(values, rows, from, threshold);
  }

  /**
   * Each row's class label from margins: the head's own labels where its family has them
   * (onnxruntime's), else `names[class]` when names are given (CLASS_NAMES), else the model's
   * class label. Empty for models without classes.
   */
  labels(
    margins: Values,
    rows: number,
    names: readonly string[] | null = null,
    threshold = 0.5,
  ): (string | number)[] {
    if (this.classLabels.length === 0) return [];
    if (margins.length !== rows * this.numMarginOutputs) {
      throw new PredictInputError(
        `margins has ${margins.length} entries; ${rows} rows need ${rows * this.numMarginOutputs}`,
      );
    }
    if (this.head.ownLabels && names === null) return this.head.ownLabels(margins, rows);
    const labels = names ?? this.classLabels;
    return Array.from(this.head.classes(margins, rows, "margins", threshold), (c) => labels[c]);
  }

  /** `pred_leaf`: rows × numTrees leaf ids, as the format numbers its leaves, row-major. */
  predictLeaf(values: Rows, rows: number): Float32Array {
    const reason = this.unavailable("leaf");
    if (reason) throw new UnsupportedOutputError(reason);
    const kernel = this.#kernelRows(values, rows);
    const out = new Float32Array(rows * this.numTrees);
    // (A model that dropped its trees has no leaf ids of a format's own: see needsTrees.)
    const trees = this.#forest.trees;
    leafIndices(
      this.#compiled.forest,
      kernel,
      this.#compiled.forest.numColumns,
      rows,
      out,
      (t, n) => {
        const ids = trees[t]?.leafId;
        return ids ? ids[n] : n;
      },
      this.#image.kind === "walk" ? this.#image : undefined,
    );
    return out;
  }

  /**
   * What an explanation's values come back in: LightGBM's contributions are float64 (its
   * pred_contrib's doubles), every other explanation float32 (XGBoost's, and leaf ids).
   */
  explainPrecision(kind: "contribs" | "interactions" | "leaf"): Precision {
    return kind === "contribs" && this.head.treeShap === "lightgbm" ? "f64" : "f32";
  }

  /**
   * SHAP contributions, as the model's family computes them (`head.treeShap`): per row and output
   * group, numFeature + 1 values (the last is the bias), row-major: rows × numMarginOutputs ×
   * (numFeature + 1), in `explainPrecision("contribs")`. XGBoost's `pred_contribs=True` (float32),
   * or LightGBM's `pred_contrib=True` (float64). They sum to the margin.
   */
  predictContribs(values: Rows, rows: number): Values {
    if (this.head.treeShap === "lightgbm") {
      const reason = this.unavailable("contribs");
      if (reason) throw new UnsupportedOutputError(reason);
      return lightgbmContribs(this.#forest, this.#features(values, rows), rows);
    }
    const kernel = this.#kernelRows(values, rows);
    const out = new Float32Array(rows * this.numMarginOutputs * (this.numFeature + 1));
    this.#shapKernel().contribs(kernel, rows, this.#initialMargins32(), out);
    return out;
  }

  /**
   * XGBoost's `pred_interactions=True`: per row and output group an (F + 1) × (F + 1) matrix,
   * row-major: rows × numMarginOutputs × (F + 1) × (F + 1).
   */
  predictInteractions(values: Rows, rows: number): Float32Array {
    const kernel = this.#kernelRows(values, rows);
    const out = new Float32Array(rows * this.numMarginOutputs * (this.numFeature + 1) ** 2);
    this.#shapKernel().interactions(kernel, rows, this.#initialMargins32(), out);
    return out;
  }

  #initialMargins32(): Float32Array {
    return Float32Array.from(this.#forest.aggregate.init);
  }

  #shapKernel(): ShapKernel {
    if (!this.#shap) {
      const reason = this.unavailable("contribs");
      if (reason) throw new UnsupportedOutputError(reason);
      this.#shap = new ShapKernel(buildShapForest(this.#forest, this.#compiled.forest));
    }
    return this.#shap;
  }

  #checkInput(values: Rows, rows: number): void {
    if (!(values instanceof Float32Array || values instanceof Float64Array))
      throw new PredictInputError("values must be a Float32Array or a Float64Array");
    if (!Number.isSafeInteger(rows) || rows < 0)
      throw new PredictInputError(`rows must be a whole number, got ${rows}`);
    if (values.length !== rows * this.numFeature) {
      throw new PredictInputError(
        `values has ${values.length} entries; ${rows} rows × ${this.numFeature} features need ${rows * this.numFeature}`,
      );
    }
  }

  /** Rows → the forest's features (preprocessing), in float64: what the reference semantics read. */
  #features(values: Rows, rows: number): Float64Array {
    this.#checkInput(values, rows);
    const features = this.#preprocessed(values, rows);
    return features instanceof Float64Array ? features : Float64Array.from(features);
  }

  /** Rows → the forest's features (preprocessing, when the model has any), in the rows' own type: what the SIMD kernel bins. */
  #featureRows(values: Rows, rows: number): Rows {
    this.#checkInput(values, rows);
    return this.#preprocessed(values, rows);
  }

  /** The forest's features of checked rows: the rows themselves without preprocessing. */
  #preprocessed(values: Rows, rows: number): Rows {
    const forest = this.#forest;
    if (forest.preprocess.length === 0) return values;
    const width = forest.features.length;
    const out = new Float64Array(rows * width);
    const inputs = this.numFeature;
    for (let r = 0; r < rows; r++) {
      let row: Float64Array = Float64Array.from(values.subarray(r * inputs, (r + 1) * inputs));
      for (const step of forest.preprocess) row = applyStep(step, row);
      out.set(row, r * width);
    }
    return out;
  }

  /** Rows → the forest's features (preprocessing) → the kernel's rows (the input plan). */
  #kernelRows(values: Rows, rows: number): Float32Array {
    const features = this.#featureRows(values, rows);
    return kernelRows(this.#compiled.plan, features, this.#forest.features.length, rows);
  }

  private margins(values: Rows, rows: number): Values {
    const scorer = this.#scorer;
    const groups = this.#forest.numGroups;
    const sums =
      this.#compiled.forest.precision === "f32"
        ? new Float32Array(rows * groups)
        : new Float64Array(rows * groups);
    const init = this.#forest.aggregate.init;
    if (this.#forest.aggregate.reduce !== "sum") sums.fill(Number.NaN);
    else if (groups === 1) sums.fill(init[0]);
    else for (let r = 0; r < rows; r++) sums.set(init, r * groups);
    // The SIMD kernel bins the features itself; the walk reads the input plan's rows.
    if (scorer instanceof SimdScorer) scorer.accumulate(this.#featureRows(values, rows), rows, sums);
    else scorer.accumulate(this.#kernelRows(values, rows), rows, sums);
    return this.head.finish(sums, rows);
  }

  /** Everything `forestd inspect` and `GET /model` report. */
  info(): ModelInfo {
    const forest = this.#forest;
    const compiled = this.#compiled.forest;
    return {
      format: this.format,
      producer: forest.provenance.producer,
      objective: this.objective,
      task: this.task,
      numFeature: this.numFeature,
      numClass: this.numClass,
      numOutputs: this.numOutputs,
      numMarginOutputs: this.numMarginOutputs,
      featureNames: [...this.featureNames],
      featureTypes: [...this.featureTypes],
      inputs: this.#inputs.map((c) => ({
        name: c.name,
        kind: c.kind,
        categories: c.vocabulary?.length ?? 0,
      })),
      preprocess: forest.preprocess.map((s) => s.kind),
      precision: { input: forest.input, accumulate: forest.accumulate },
      numTrees: this.numTrees,
      maxDepth: compiled.maxDepth,
      numNodes: compiled.numNodes,
      numLeaves: compiled.numLeaves,
      treeLevels: compiled.depths.reduce((sum, depth) => sum + depth, 0),
      kernel: this.#kernel,
      classLabels: [...this.classLabels],
      details: structuredClone(forest.provenance.details) as Record<string, unknown>,
    };
  }
}

/**
 * Whether a model reads its Forest's trees once compiled: explanations walk them (TreeSHAP reads
 * covers, splits and leaves), and leaf ids a format numbers its own way (LightGBM's) are read from
 * them. Scoring, the leaf index otherwise and /model read the compiled layout only, so a model
 * whose head explains nothing (scikit-learn's, onnxruntime's) drops them once compiled: a fully
 * grown random forest's trees are half the file's size again.
 */
function needsTrees(forest: Forest, head: Head): boolean {
  if (head.unavailable("contribs") === null || head.unavailable("interactions") === null) return true;
  return head.unavailable("leaf") === null && forest.trees.some((tree) => tree.leafId !== null);
}

/**
 * The compiled model as the Model keeps it once its kernel image is laid out. Node arrays compiled
 * into a buffer of their own (compileForest's transientNodes) are dropped and that buffer freed at
 * once: the walk kernel's image holds the nodes, and the kernel and the leaf index read them there
 * (layout.ts, imageOnly). They are moved into shared memory instead when something still reads
 * the arrays: the JavaScript kernel (a forest with set splits is scored partly by it), or the leaf
 * index of a model the SIMD kernel scores (`keepArrays`: its image holds binned trees, not these
 * nodes).
 */
function nodesHeld(compiled: CompiledModel, keepArrays: boolean): CompiledModel {
  const forest = compiled.forest;
  if (forest.feature.buffer instanceof SharedArrayBuffer) return compiled;
  const transient = forest.feature.buffer;
  let kept: CompiledForest;
  if (keepArrays || forest.categorical.some((c) => c === 1)) {
    const nodes = arraysIn(
      {
        feature: [Int32Array, forest.feature.length],
        threshold: [Float32Array, forest.threshold.length],
        leaf: [forest.leaf instanceof Float32Array ? Float32Array : Float64Array, forest.leaf.length],
        left: [Int32Array, forest.left.length],
        missingRight: [Uint8Array, forest.missingRight.length],
      },
      true,
    );
    nodes.feature.set(forest.feature);
    nodes.threshold.set(forest.threshold);
    nodes.leaf.set(forest.leaf);
    nodes.left.set(forest.left);
    nodes.missingRight.set(forest.missingRight);
    kept = { ...forest, ...nodes };
  } else {
    kept = {
      ...forest,
      feature: new Int32Array(0),
      threshold: new Float32Array(0),
      leaf: forest.precision === "f32" ? new Float32Array(0) : new Float64Array(0),
      left: new Int32Array(0),
      missingRight: new Uint8Array(0),
      imageOnly: true,
    };
  }
  releaseBuffer(transient);
  return { plan: compiled.plan, forest: kept };
}

/** Bytes of every typed array reachable from `value` (each array counted once). */
function arrayBytes(value: unknown, seen = new Set<unknown>()): number {
  if (ArrayBuffer.isView(value)) {
    if (seen.has(value)) return 0;
    seen.add(value);
    return value.byteLength;
  }
  if (value instanceof Map) {
    let n = 0;
    for (const v of value.values()) n += arrayBytes(v, seen);
    return n;
  }
  if (typeof value === "object" && value !== null) {
    let n = 0;
    for (const v of Object.values(value)) n += arrayBytes(v, seen);
    return n;
  }
  return 0;
}
