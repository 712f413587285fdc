/**
 * Real scikit-learn fixture files with bytes flipped, cut short, inserted or removed (fast-check):
 * reading them gives a ModelError or a forest that checks and scores, never another exception or a
 * hang. SKLEARN_FUZZ_RUNS cases per file (default 1500).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import t from "tap";
import { ModelError } from "../../model/errors.js";
import { checkForest } from "../../model/forest/check.js";
import { evaluateForest } from "../../model/forest/evaluate.js";
import { sklearnFormat } from "../../model/formats/sklearn/index.js";
import { sklearnHead } from "../../model/heads/sklearn.js";
import { SKLEARN_FIXTURES } from "../helpers/sklearn-fixtures.js";

const RUNS = Number(process.env.SKLEARN_FUZZ_RUNS ?? 1500);

const FILES = [
  "dt_clf_binary.joblib", // joblib, protocol 4, frames, wrapped arrays with padding
  "gb_clf_strings.joblib", // nested object-array pickles
  "dt_clf_strings_pickle_p0.pkl", // protocol 0 text opcodes
  "gb_clf_strings_pickle_p2.pkl", // numpy _reconstruct + BUILD, _codecs.encode
  "gb_clf_strings_pickle_p5.pkl", // _frombuffer, BYTEARRAY8
  "hgb_clf_categorical.joblib",
  "pipeline_impute_mean_standard_rf.joblib",
  "rf_clf_binary_gzip.joblib.gz",
  "rf_clf_binary_lz4.joblib.lz4",
  "hgb_clf_categorical_skops.skops", // skops: a zip of schema.json and .npy files
];

type Mutation =
  | { kind: "flip"; at: number; value: number }
  | { kind: "cut"; at: number }
  | { kind: "insert"; at: number; bytes: number[] }
  | { kind: "remove"; at: number; count: number };

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = bytes.slice();
  for (const m of mutations) {
    const at = out.length ? m.at % out.length : 0;
    switch (m.kind) {
      case "flip":
        if (out.length) out[at] = m.value;
        break;
      case "cut":
        out = out.slice(0, at);
        break;
      case "insert": {
        const next = new Uint8Array(out.length + m.bytes.length);
        next.set(out.subarray(0, at));
        next.set(m.bytes, at);
        next.set(out.subarray(at), at + m.bytes.length);
        out = next;
        break;
      }
      case "remove": {
        const tail = out.subarray(Math.min(out.length, at + m.count));
        const next = new Uint8Array(at + tail.length);
        next.set(out.subarray(0, at));
        next.set(tail, at);
        out = next;
        break;
      }
    }
  }
  return out;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("flip" as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(),
      bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("remove" as const),
      at: fc.nat(),
      count: fc.integer({ min: 1, max: 8 }),
    }),
  },
);

for (const file of FILES) {
  t.test(`${file}: ${RUNS} mutations read as a ModelError or a valid model`, async (t) => {
    const original = new Uint8Array(readFileSync(join(SKLEARN_FIXTURES, file)));
    let refused = 0;
    let valid = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const bytes = mutate(original, mutations);
        let forest: ReturnType<typeof sklearnFormat.read>;
        try {
          forest = sklearnFormat.read(bytes);
        } catch (e) {
          if (e instanceof ModelError) {
            refused++;
            return true;
          }
          throw e;
        }
        valid++;
        checkForest(forest);
        const head = sklearnHead(forest, forest.head);
        const width = forest.inputs?.length ?? forest.features.length;
        const sums = evaluateForest(forest, new Float64Array(width), 1);
        const margins = head.finish(sums, 1);
        head.predict(margins, 1, new Float64Array(head.numOutputs));
        head.classes(margins, 1, "margins", 0.5);
        return true;
      }),
      { numRuns: RUNS, seed: Number(process.env.SKLEARN_FUZZ_SEED ?? 27) },
    );
    t.comment(`${refused} refused, ${valid} still valid`);
    t.ok(refused > 0, "mutations were refused");
  });
}
