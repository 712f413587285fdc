/**
 * One parity harness for every format. A format's adapter (test/helpers/parity-<format>.ts) lists
 * its cases: a model file's bytes, the rows its library scored (as the server reads them: a
 * Float32Array / Float64Array, or JSON rows by position or by name), and per output kind what the
 * library answered, with the distance allowed and why. `runParity` loads each case through
 * loadModel (the compiled engine, as the server scores) and holds every output kind the model's
 * head says it offers to the library's answer:
 *
 *   margin      predictBatch(rows, n, { margin: true })   (rows × numMarginOutputs)
 *   prediction  predictBatch(rows, n)                     (rows × numOutputs)
 *   proba       head.probabilities(predictions)           (rows × classes), when the head offers it
 *   label       model.labels(margins)                     (one per row), when the head offers it
 *   leaf        predictLeaf(rows, n)                      (rows × trees), when the head offers it
 *
 * Every kind the model offers is scored and must come in the width the model states (a client may
 * ask for it); it must have an expectation or a stated reason why the library's answer is not
 * recorded, and a kind the library answered must be one the model offers. Numbers are compared bit
 * for bit, or within the case's ulp bound (in the engine's output precision: float32 units for a
 * Float32Array answer, float64 units for a Float64Array one) where the library calls exp / log;
 * labels and leaf indices always exactly. Every case also checks that rows scored one at a time
 * (the latency path) equal the batch, that the same rows given another way (by name) answer the
 * same, that rows the library refuses are refused, and, where the adapter asks for it, that the
 * reader's Forest passes checkForest and the reference evaluator (model/forest/evaluate.ts, the
 * semantics the engine must reproduce) meets the same expectations and equals the engine bit for
 * bit. SHAP contributions and interactions are not here: test/unit/explain.test.ts and the formats'
 * SHAP tests hold them to the libraries' own.
 */
import type { Test } from "tap";
import { checkForest } from "../../model/forest/check.js";
import { evaluateForest, featuresOf, leafOf } from "../../model/forest/evaluate.js";
import type { Head, Values } from "../../model/heads/head.js";
import { headFor } from "../../model/heads/index.js";
import {
  loadModel,
  type Model,
  PredictInputError,
  type Rows,
  readForest,
  rowsToArray,
} from "../../model/index.js";

export type ParityKind = "margin" | "prediction" | "proba" | "label" | "leaf";
export const PARITY_KINDS: readonly ParityKind[] = ["margin", "prediction", "proba", "label", "leaf"];
/** The kinds a head may decline (model.unavailable); margins and predictions every model gives. */
type OptionalKind = Exclude<ParityKind, "margin" | "prediction">;

/** How far the engine's answer may be from the library's, and why. */
export interface Tolerance {
  /** Units in the last place, in the engine's output precision; 0 = bit-identical. */
  readonly ulps: number;
  /** Also accepted: an absolute difference up to this (ulps are tiny near zero). */
  readonly absolute?: number;
  readonly why: string;
}

export const BIT_IDENTICAL: Tolerance = {
  ulps: 0,
  why: "no transcendental function between the sums and it",
};

/** What the library answered for one output kind, row-major. */
export interface Expectation {
  readonly values: readonly (number | string)[];
  /** Which call of the library answered it ("XGBoost's predict(output_margin=True)"). */
  readonly source: string;
  /** Absent: bit-identical. Labels and leaves are always compared exactly. */
  readonly tolerance?: Tolerance;
}

/** The model's facts as its library states them (Model's properties of the same names). */
export interface ParityFacts {
  readonly format?: string;
  readonly objective?: string;
  readonly numFeature?: number;
  readonly numOutputs?: number;
  readonly numMarginOutputs?: number;
  readonly numTrees?: number;
  readonly classLabels?: readonly (string | number)[];
  readonly featureNames?: readonly string[];
  readonly rowPrecision?: "f32" | "f64";
  readonly outputPrecision?: "f32" | "f64";
}

/** Rows as the server reads them: a typed array of numFeature values per row, or JSON rows. */
export type ParityRows = Rows | readonly unknown[];

export interface ParityCase {
  readonly name: string;
  /** The model file's bytes (read when the case runs). */
  readonly bytes: () => Uint8Array;
  /** The file's path, a hint for the reader and the messages. */
  readonly path?: string;
  readonly rows: ParityRows;
  readonly expected: Partial<Record<ParityKind, Expectation>>;
  /** Why the library's answer for a kind is not recorded (used only when the model offers the kind). */
  readonly unrecorded?: Partial<Record<ParityKind, string>>;
  readonly facts?: ParityFacts;
  /** The same rows given another way (by name, categories as strings): every answer must be the same. */
  readonly sameRows?: readonly { readonly why: string; readonly rows: readonly unknown[] }[];
  /** Rows the library refuses, each with the library's message: the engine must refuse each one. */
  readonly refused?: readonly { readonly row: unknown; readonly libraryMessage: string }[];
  /** Anything the reader of the output should know (rows left out, and why). */
  readonly note?: string;
}

export interface ParityAdapter {
  /** The library the outputs come from ("XGBoost 1.7"), for messages. */
  readonly library: string;
  /** Fewer cases than this means fixtures went missing. */
  readonly minCases: number;
  /**
   * Also score every case through the reader's Forest and the reference evaluator, held to the
   * same expectations and to the engine bit for bit (formats whose engine lowering is not obvious:
   * preprocessing, float64 splits, graphs). Otherwise: why not.
   */
  readonly reference: true | { readonly skipped: string };
  cases(): ParityCase[];
}

/** What one scorer (the engine or the reference evaluator) answered for one case. */
type Answers = Partial<Record<ParityKind, ArrayLike<number | string>>>;

/** Runs every case of `adapter` as a subtest of `t`. */
export function runParity(t: Test, name: string, adapter: ParityAdapter): void {
  const cases = adapter.cases();
  t.test(name, async (t) => {
    t.ok(cases.length >= adapter.minCases, `${cases.length} cases (at least ${adapter.minCases})`);
    if (adapter.reference !== true) t.comment(`reference evaluator not run: ${adapter.reference.skipped}`);
    for (const c of cases) t.test(c.name, async (t) => runCase(t, adapter, c));
  });
}

function runCase(t: Test, adapter: ParityAdapter, c: ParityCase): void {
  if (c.note) t.comment(c.note);
  const bytes = c.bytes();
  const model = loadModel(bytes);
  const values = asRows(model, c.rows);
  const n = values.length / model.numFeature;

  // (Few assertions per case: each costs tap some work, and a case has up to a dozen checks.)
  const facts = c.facts ?? {};
  const stated = Object.fromEntries(Object.keys(facts).map((k) => [k, model[k as keyof ParityFacts]]));
  t.strictSame(stated, facts, `facts as ${adapter.library} states them (${Object.keys(facts).join(", ")})`);

  const offered = PARITY_KINDS.filter((kind) => offers(model, kind));
  const problems = PARITY_KINDS.flatMap((kind) => {
    if (!offered.includes(kind))
      return c.expected[kind]
        ? [
            `${kind}: ${adapter.library} answers it, the model does not (${model.unavailable(kind as OptionalKind)})`,
          ]
        : [];
    return c.expected[kind] || c.unrecorded?.[kind]
      ? []
      : [`${kind}: offered, not recorded, no reason given`];
  });
  const unrecorded = offered.filter((kind) => !c.expected[kind]);
  t.same(
    problems,
    [],
    `offered: ${offered.join(", ")}${unrecorded.length ? ` (${unrecorded.join(", ")}: not recorded, reason given)` : ""}`,
  );

  // Every output the model offers is scored, as a client may ask for it: recorded or not, it must
  // come in the width the model states, margins in its output precision.
  const engine = engineAnswers(model, values, n, offered);
  const widths: Record<ParityKind, number> = {
    margin: model.numMarginOutputs,
    prediction: model.numOutputs,
    proba: model.classLabels.length,
    label: 1,
    leaf: model.numTrees,
  };
  const precision = engine.margin instanceof Float32Array ? "f32" : "f64";
  const shapes = offered.map((kind) => `${kind} ${engine[kind]!.length / n}`);
  t.same(
    [Number.isInteger(n) && n > 0, precision, ...shapes],
    [true, model.outputPrecision, ...offered.map((kind) => `${kind} ${widths[kind]}`)],
    `${n} rows of ${model.numFeature} values; per row: ${shapes.join(", ")}; ${precision}`,
  );
  for (const kind of offered) {
    const want = c.expected[kind];
    if (want) compare(t, kind, engine[kind]!, want);
  }

  if (adapter.reference === true) {
    const reference = referenceAnswers(bytes, c.path, values, n, offered);
    for (const kind of offered) {
      const want = c.expected[kind];
      if (want) compare(t, kind, reference[kind]!, want, "reference evaluator: ");
    }
    sameAnswers(t, offered, engine, reference, "the engine's answers equal the reference evaluator's");
  }

  // One row at a time takes the latency path (scoreRow, the single-row kernels): it must agree.
  const f = model.numFeature;
  const width = { margin: model.numMarginOutputs, prediction: model.numOutputs };
  let single = 0;
  for (let r = 0; r < n; r++) {
    const row = values.subarray(r * f, (r + 1) * f);
    const margin = model.predictBatch(row, 1, { margin: true });
    const prediction = model.predictBatch(row, 1);
    for (let k = 0; k < width.margin; k++)
      if (!Object.is(margin[k], engine.margin![r * width.margin + k])) single++;
    for (let k = 0; k < width.prediction; k++)
      if (!Object.is(prediction[k], engine.prediction![r * width.prediction + k])) single++;
  }
  t.equal(single, 0, "rows scored one by one equal the batch (margins and predictions)");

  if (model.classLabels.length > 0 && offered.includes("label")) {
    const fromMargins = model.classes(engine.margin as Values, n, "margins");
    const fromPredictions = model.classes(engine.prediction as Values, n, "predictions");
    const differ = fromMargins.filter((c, r) => c !== fromPredictions[r]).length;
    t.equal(differ, 0, "classes decided from predictions equal those from margins");
  }

  for (const other of c.sameRows ?? []) {
    const again = engineAnswers(model, asRows(model, other.rows), n, offered);
    sameAnswers(t, offered, again, engine, `${other.why}: the answers to the rows by position`);
  }

  for (const [i, { row, libraryMessage }] of (c.refused ?? []).entries()) {
    t.match(libraryMessage, /\S/, `${adapter.library} refused row ${i}`);
    t.throws(
      () => model.predictBatch(rowsToArray(model, [row]), 1),
      PredictInputError,
      `row ${i} refused as ${adapter.library} refuses it (${libraryMessage.slice(0, 80)})`,
    );
  }
}

function asRows(model: Model, rows: ParityRows): Rows {
  return rows instanceof Float32Array || rows instanceof Float64Array ? rows : rowsToArray(model, rows);
}

function offers(model: Model, kind: ParityKind): boolean {
  return kind === "margin" || kind === "prediction" || model.unavailable(kind as OptionalKind) === null;
}

/** The engine's answers, as the server computes them. */
function engineAnswers(model: Model, values: Rows, n: number, kinds: readonly ParityKind[]): Answers {
  const margin = model.predictBatch(values, n, { margin: true });
  const prediction = model.predictBatch(values, n);
  const out: Answers = { margin, prediction };
  if (kinds.includes("proba")) out.proba = model.head.probabilities(prediction, n);
  if (kinds.includes("label")) out.label = model.labels(margin, n);
  if (kinds.includes("leaf")) out.leaf = model.predictLeaf(values, n);
  return out;
}

/** The same answers from the reader's Forest, the reference evaluator and a head of its own. */
function referenceAnswers(
  bytes: Uint8Array,
  path: string | undefined,
  values: Rows,
  n: number,
  kinds: readonly ParityKind[],
): Answers {
  const forest = readForest(bytes, path);
  checkForest(forest);
  const head: Head = headFor(forest);
  const inputs = Float64Array.from(values);
  const margin = head.finish(evaluateForest(forest, inputs, n), n);
  const prediction =
    head.precision === "f32" ? new Float32Array(n * head.numOutputs) : new Float64Array(n * head.numOutputs);
  head.predict(margin, n, prediction);
  const out: Answers = { margin, prediction };
  if (kinds.includes("proba")) out.proba = head.probabilities(prediction, n);
  if (kinds.includes("label"))
    out.label = head.ownLabels
      ? head.ownLabels(margin, n)
      : Array.from(head.classes(margin, n, "margins", 0.5), (c) => head.classLabels[c]);
  if (kinds.includes("leaf")) {
    const f = inputs.length / n;
    const leaves: number[] = [];
    for (let r = 0; r < n; r++) {
      const row = featuresOf(forest, inputs.subarray(r * f, (r + 1) * f));
      for (const tree of forest.trees) {
        const leaf = leafOf(tree, row);
        leaves.push(tree.leafId ? tree.leafId[leaf] : leaf);
      }
    }
    out.leaf = leaves;
  }
  return out;
}

/** One assertion for every output of two scorers: identical, bit for bit (which ones differ, and how). */
function sameAnswers(
  t: Test,
  kinds: readonly ParityKind[],
  actual: Answers,
  want: Answers,
  what: string,
): void {
  const verdicts = kinds.map((kind) =>
    judge(kind, actual[kind]!, { values: Array.from(want[kind]!), source: "the other's" }),
  );
  const failed = verdicts.filter((v) => !v.ok);
  t.ok(
    failed.length === 0,
    `${what} (${kinds.join(", ")})`,
    failed.length ? { failed: failed.map((v) => ({ message: v.message, mismatches: v.mismatches })) } : {},
  );
}

/** One assertion per output (the harness's message, and the first few values beyond the bound). */
function compare(
  t: Test,
  kind: ParityKind,
  actual: ArrayLike<number | string>,
  want: Expectation,
  prefix = "",
): void {
  const verdict = judge(kind, actual, want);
  t.ok(verdict.ok, `${prefix}${verdict.message}`, verdict.ok ? {} : { mismatches: verdict.mismatches });
}

export interface Verdict {
  readonly ok: boolean;
  /** "<kind>: <n> values <bound> <source>", then how many are not identical and the worst distance. */
  readonly message: string;
  /** The first five values beyond the bound: index, actual, expected, ulps. */
  readonly mismatches: readonly { index: number; actual: unknown; expected: unknown; ulps: number }[];
}

/**
 * Whether `actual` is the library's answer within the expectation's bound, with a message saying
 * how many values differ and the worst distance. Labels and leaves must be identical whatever the
 * tolerance; ulps are float32 units when `actual` is a Float32Array, else float64 units.
 */
export function judge(kind: ParityKind, actual: ArrayLike<number | string>, want: Expectation): Verdict {
  const exact = kind === "label" || kind === "leaf";
  const tolerance = exact ? BIT_IDENTICAL : (want.tolerance ?? BIT_IDENTICAL);
  const f32 = actual instanceof Float32Array;
  const total = want.values.length;
  if (actual.length !== total)
    return {
      ok: false,
      message: `${kind}: ${actual.length} values, ${want.source} has ${total}`,
      mismatches: [],
    };
  let differ = 0;
  let outside = 0;
  let worst = 0;
  const mismatches: { index: number; actual: unknown; expected: unknown; ulps: number }[] = [];
  for (let i = 0; i < total; i++) {
    const a = actual[i];
    const b = want.values[i];
    if (Object.is(a, b)) continue;
    differ++;
    // Not the same bits: at least 1 ulp apart (+0 and -0 included), Infinity between strings.
    const d = typeof a === "number" && typeof b === "number" ? Math.max(1, ulps(a, b, f32)) : Infinity;
    worst = Math.max(worst, d);
    const near =
      d <= tolerance.ulps ||
      (tolerance.absolute !== undefined && Math.abs((a as number) - (b as number)) <= tolerance.absolute);
    if (!near) {
      outside++;
      if (mismatches.length < 5) mismatches.push({ index: i, actual: a, expected: b, ulps: d });
    }
  }
  const bound = exact
    ? "identical to"
    : tolerance.ulps === 0 && tolerance.absolute === undefined
      ? "bit-identical to"
      : `within ${tolerance.ulps} ulp${tolerance.absolute === undefined ? "" : ` or ${tolerance.absolute}`} of`;
  // Labels and leaf indices are identities, not quantities: how many differ, no ulps.
  const detail = !differ
    ? ""
    : exact
      ? ` (${differ} of ${total} differ)`
      : outside
        ? ` (${outside} of ${total} beyond it, worst ${worst} ulp)`
        : ` (${differ} of ${total} not identical, worst ${worst} ulp: ${tolerance.why})`;
  return {
    ok: outside === 0,
    message: `${kind}: ${total} values ${bound} ${want.source}${detail}`,
    mismatches,
  };
}

/** Units in the last place between two numbers, in float32 (both rounded to it) or float64. */
export function ulps(a: number, b: number, f32: boolean): number {
  if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  if (Number.isNaN(a) || Number.isNaN(b)) return Infinity;
  const view = new DataView(new ArrayBuffer(8));
  if (f32) {
    const ordered32 = (x: number) => {
      view.setFloat32(0, x);
      const bits = view.getInt32(0);
      return bits < 0 ? -(bits & 0x7fffffff) : bits;
    };
    return Math.abs(ordered32(a) - ordered32(b));
  }
  const ordered = (x: number) => {
    view.setFloat64(0, x);
    const bits = view.getBigInt64(0);
    return bits < 0n ? -(bits & 0x7fffffffffffffffn) : bits;
  };
  const d = ordered(a) - ordered(b);
  return Number(d < 0n ? -d : d);
}
