/**
 * Property-based fuzzing of LightGBM model files (fast-check): real fixtures with bytes flipped,
 * cut short, numbers and lengths changed, lines dropped, repeated or swapped. Whatever the bytes,
 * loading either refuses them with a ModelError or gives a model that scores rows to outputs of
 * the right size; never another exception or a hang. 1 500 cases per run (FUZZ_RUNS to change).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import t from "tap";
import { loadModel, ModelError } from "../../model/index.js";
import { LIGHTGBM_FIXTURES } from "../helpers/lightgbm-fixtures.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);
const FILES = [
  "regression",
  "categorical_few",
  "multiclass",
  "pandas_categorical",
  "rf_binary",
  "v3_categorical",
];
const sources = FILES.map((name) => readFileSync(join(LIGHTGBM_FIXTURES, `${name}.txt`)));
// The same files without tree_sizes (LightGBM then reads trees one after another): a mutation
// inside a tree then reaches the tree's own checks instead of the size check before them.
const unsized = sources.map((b) =>
  Buffer.from(b.toString("latin1").replace(/^tree_sizes=.*\n/m, ""), "latin1"),
);

type Mutation =
  | { kind: "flip"; at: number; byte: number }
  | { kind: "cut"; at: number }
  | { kind: "number"; at: number; digits: string }
  | { kind: "dropLine"; at: number }
  | { kind: "repeatLine"; at: number }
  | { kind: "swapLines"; at: number; other: number };

/** A position in the file as a fraction, uniform (fc.double crowds toward 0 and the file's header). */
const unit = fc.integer({ min: 0, max: 999_999 }).map((n) => n / 1_000_000);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: unit, byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: unit }),
  fc.record({
    kind: fc.constant("number" as const),
    at: unit,
    digits: fc.constantFrom("0", "-1", "1000000000", "99999999999", "nan", "inf", "-0", "1e308", "7", "2"),
  }),
  fc.record({ kind: fc.constant("dropLine" as const), at: unit }),
  fc.record({ kind: fc.constant("repeatLine" as const), at: unit }),
  fc.record({ kind: fc.constant("swapLines" as const), at: unit, other: unit }),
);

function mutate(source: Buffer, mutations: Mutation[]): Uint8Array {
  let bytes = Uint8Array.from(source);
  for (const m of mutations) {
    const at = Math.floor(m.at * bytes.length);
    if (m.kind === "flip") bytes[at] = m.byte;
    else if (m.kind === "cut") bytes = bytes.subarray(0, at);
    else {
      const text = Buffer.from(bytes).toString("latin1");
      let out = text;
      if (m.kind === "number") {
        // The number at or after `at` (a count, an index, a threshold, a tree size...) replaced.
        const re = /-?\d+(\.\d+)?(e[-+]?\d+)?/g;
        re.lastIndex = at;
        const found = re.exec(text);
        if (found) out = text.slice(0, found.index) + m.digits + text.slice(found.index + found[0].length);
      } else {
        const lines = text.split("\n");
        const i = Math.floor(m.at * lines.length);
        if (m.kind === "dropLine") lines.splice(i, 1);
        else if (m.kind === "repeatLine") lines.splice(i, 0, lines[i]);
        else {
          const j = Math.floor(m.other * lines.length);
          [lines[i], lines[j]] = [lines[j], lines[i]];
        }
        out = lines.join("\n");
      }
      bytes = Uint8Array.from(Buffer.from(out, "latin1"));
    }
  }
  return bytes;
}

t.test(`${RUNS} mutated LightGBM files: a ModelError or a working model, nothing else`, async (t) => {
  let refused = 0;
  let loaded = 0;
  let inTrees = 0;
  const codes = new Map<string, number>();
  await fc.assert(
    fc.property(
      fc.integer({ min: 0, max: sources.length - 1 }),
      fc.boolean(),
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      (which, sized, mutations) => {
        const bytes = mutate((sized ? sources : unsized)[which], mutations);
        let model: ReturnType<typeof loadModel>;
        try {
          model = loadModel(bytes);
        } catch (error) {
          if (!(error instanceof ModelError)) throw error;
          codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
          if (/^tree \d+/.test(error.message)) inTrees++;
          refused++;
          return true;
        }
        const rows = new Float64Array(model.numFeature * 3).fill(Number.NaN);
        rows.fill(0, model.numFeature, 2 * model.numFeature);
        rows.fill(1.5, 2 * model.numFeature);
        const out = model.predictBatch(rows, 3);
        const leaves = model.predictLeaf(rows, 3);
        loaded++;
        return out.length === 3 * model.numOutputs && leaves.length === 3 * model.numTrees;
      },
    ),
    { numRuns: RUNS, seed: 2028 },
  );
  t.pass(`${refused} refused (${JSON.stringify(Object.fromEntries(codes))}), ${loaded} loaded and scored`);
  t.ok(refused > RUNS / 4, "most mutations are refused");
  t.ok(inTrees > RUNS / 10, `${inTrees} refusals name a tree (the fuzz reaches the tree checks)`);
  t.ok(loaded > 0, "some mutations are harmless (a changed threshold or leaf value) and load");
});
