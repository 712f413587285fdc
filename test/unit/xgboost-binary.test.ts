/**
 * XGBoost's legacy binary format (model.xgb as XGBoost 1.x writes it, MLflow 2.x's default):
 * every fixture scores as XGBoost 1.7 scored the same file (margins bit for bit, predictions within
 * the transform's ulp); hostile edits are refused with a ModelError naming what and where; and a
 * fuzz test of mutated files gives a ModelError or a working model, never another exception.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import t from "tap";
import { checkForest } from "../../model/forest/check.js";
import { decodeLegacyBinary } from "../../model/formats/xgboost/legacy-binary.js";
import { loadModel, ModelError, readForest } from "../../model/index.js";
import { closeEnough, ROOT } from "../helpers/fixtures.js";

const DIR = join(ROOT, "test", "fixtures", "mlflow");
const BINARY = join(DIR, "xgboost-binary");
const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);

interface Expected {
  objective: string;
  rows: (number | null)[][];
  predictions: number[];
  margins: number[];
}

function rowsOf(rows: (number | null)[][]): Float32Array {
  return Float32Array.from(rows.flat(), (v) => (v === null ? Number.NaN : v));
}

const files = readdirSync(BINARY)
  .filter((f) => f.endsWith(".xgb"))
  .map((f) => f.slice(0, -4));

t.test("every legacy binary fixture scores as XGBoost 1.7 does", async (t) => {
  t.ok(files.length >= 4, `${files.length} files`);
  for (const name of files) {
    const bytes = readFileSync(join(BINARY, `${name}.xgb`));
    const expected = JSON.parse(readFileSync(join(BINARY, `${name}.expected.json`), "utf8")) as Expected;
    const forest = readForest(bytes);
    checkForest(forest);
    t.equal(forest.provenance.details.file, "legacy binary", `${name}: read as the legacy binary format`);
    const model = loadModel(bytes);
    t.equal(model.objective, expected.objective, `${name}: objective`);
    t.same(model.featureNames, [], `${name}: the format keeps no feature names`);
    const rows = expected.rows.length;
    const values = rowsOf(expected.rows);
    const margins = model.predictBatch(values, rows, { margin: true });
    const predictions = model.predictBatch(values, rows);
    t.same(Array.from(margins), expected.margins, `${name}: margins bit for bit`);
    const off = Array.from(predictions).filter((p, i) => !closeEnough(p, expected.predictions[i]));
    t.same(off, [], `${name}: ${predictions.length} predictions within XGBoost's transform`);
  }
});

t.test("the MLflow folders' model.xgb files score as XGBoost's pyfunc wrapper did", async (t) => {
  for (const folder of ["xgboost-booster-binary", "xgboost-booster-tensor"]) {
    const expected = JSON.parse(readFileSync(join(DIR, `${folder}.expected.json`), "utf8")) as Expected;
    const model = loadModel(join(DIR, folder, "model.xgb"));
    const out = model.predictBatch(rowsOf(expected.rows), expected.rows.length);
    t.same(Array.from(out), expected.predictions, `${folder}: ${out.length} predictions bit for bit`);
  }
});

/** A fixture's bytes with `edit` applied to a copy. */
function edited(name: string, edit: (view: DataView, bytes: Uint8Array) => unknown): Uint8Array {
  const bytes = Uint8Array.from(readFileSync(join(BINARY, `${name}.xgb`)));
  const result = edit(new DataView(bytes.buffer), bytes);
  return result instanceof Uint8Array ? result : bytes;
}

// Offsets in the file: "binf" (4), the learner's parameters (136), then the objective's u64 length.
const OBJECTIVE_LENGTH = 140;

t.test("hostile and damaged binary files are refused, naming what and where", async (t) => {
  const cases: [string, Uint8Array, string, RegExp][] = [
    [
      "only the header",
      new TextEncoder().encode("binf"),
      "FORESTD_ERR_MODEL_SYNTAX",
      /the learner's parameters: 136 bytes needed at byte 4/,
    ],
    [
      "cut inside a tree",
      edited("poisson", (_, b) => b.subarray(0, b.length - 400)),
      "FORESTD_ERR_MODEL_SYNTAX",
      /tree 9's (\d+ nodes|node statistics|parameters): \d+ bytes needed at byte \d+, but the file ends \d+ bytes later/,
    ],
    [
      "an objective length of 2^40",
      edited("poisson", (v) => v.setUint32(OBJECTIVE_LENGTH + 4, 256, true)),
      "FORESTD_ERR_MODEL_SYNTAX",
      /objective's name at byte 140 claims 1099511627\d+ entries/,
    ],
    [
      "a version before 1.0",
      edited("poisson", (v) => v.setUint32(4 + 20, 0, true)),
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      /before 1\.0.*save it as JSON/,
    ],
    [
      "gblinear",
      concat(
        readFileSync(join(BINARY, "poisson.xgb")).subarray(0, OBJECTIVE_LENGTH),
        lengthPrefixed("reg:squarederror"),
        lengthPrefixed("gblinear"),
      ),
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      /gblinear models are not supported/,
    ],
    [
      "an unknown objective",
      edited("poisson", (_, b) => {
        b.set(new TextEncoder().encode("count:poissom"), OBJECTIVE_LENGTH + 8);
        return b;
      }),
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      /unknown objective "count:poissom"/,
    ],
    [
      "bytes after the model",
      concat(readFileSync(join(BINARY, "poisson.xgb")), new Uint8Array(3)),
      "FORESTD_ERR_MODEL_SYNTAX",
      /3 bytes follow the model's end/,
    ],
    [
      "a tree count the file cannot hold",
      edited("poisson", (v, b) => {
        const gbtree = OBJECTIVE_LENGTH + 8 + "count:poisson".length + 8 + "gbtree".length;
        v.setInt32(gbtree, 900_000, true);
        return b;
      }),
      "FORESTD_ERR_MODEL_SYNTAX",
      /num_trees is 900000, more than the \d+ remaining bytes can hold/,
    ],
    [
      "a node splitting on a feature the model lacks",
      edited("poisson", (v, b) => {
        const tree0 = OBJECTIVE_LENGTH + 8 + "count:poisson".length + 8 + "gbtree".length + 160;
        v.setUint32(tree0 + 148 + 12, 4000, true); // node 0's sindex
        return b;
      }),
      "FORESTD_ERR_MODEL_INVALID",
      /trees\[0\] node 0 splits on feature 4000, but the model has 5 features/,
    ],
  ];
  for (const [what, bytes, code, message] of cases) {
    t.throws(() => loadModel(bytes), { name: "ModelError", code, message }, what);
  }
});

function lengthPrefixed(text: string): Uint8Array {
  const body = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setUint32(0, body.length, true);
  out.set(body, 8);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

t.test("the decoder keeps the user's attributes, not XGBoost's own bookkeeping", async (t) => {
  const doc = decodeLegacyBinary(readFileSync(join(BINARY, "poisson.xgb"))) as {
    learner: { attributes: Record<string, string>; objective: { name: string } };
  };
  t.equal(doc.learner.objective.name, "count:poisson");
  t.notOk("objective" in doc.learner.attributes, "the objective's saved configuration is not an attribute");
  t.throws(
    () => decodeLegacyBinary(readFileSync(join(DIR, "xgboost-classifier-ubj", "model.ubj"))),
    { code: "FORESTD_ERR_MODEL_SYNTAX", message: /does not start with "binf"/ },
    "a UBJSON file is not read as binary",
  );
});

t.test(`${RUNS} mutated binary files: a ModelError or a working model, nothing else`, async (t) => {
  const sources = files.map((name) => readFileSync(join(BINARY, `${name}.xgb`)));
  const unit = fc.integer({ min: 0, max: 999_999 }).map((n) => n / 1_000_000);
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: unit, byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("cut" as const), at: unit }),
    // A 32-bit field (a count, a length's low half, a child index, a feature) set to a telling value.
    fc.record({
      kind: fc.constant("word" as const),
      at: unit,
      value: fc.constantFrom(0, 1, -1, 4, 5, 0x7fffffff, 0x80000000, 1 << 24, 123_456_789),
    }),
  );
  let refused = 0;
  let loaded = 0;
  const codes = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: sources.length - 1 }),
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      async (which, mutations) => {
        let bytes = Uint8Array.from(sources[which]);
        for (const m of mutations) {
          const at = Math.floor(m.at * bytes.length);
          if (m.kind === "flip") bytes[at] = m.byte;
          else if (m.kind === "cut") bytes = bytes.subarray(0, at);
          else if (at + 4 <= bytes.length)
            new DataView(bytes.buffer, bytes.byteOffset).setUint32(at & ~3, m.value >>> 0, true);
        }
        try {
          const model = loadModel(bytes);
          const out = model.predictBatch(new Float32Array(model.numFeature * 2).fill(0.5), 2);
          loaded++;
          return out.length === 2 * model.numOutputs;
        } catch (error) {
          if (!(error instanceof ModelError)) throw error;
          refused++;
          codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
          return true;
        }
      },
    ),
    { numRuns: RUNS },
  );
  t.ok(
    refused > 0 && loaded > 0,
    `${refused} refused (${[...codes].map(([c, n]) => `${c} ${n}`).join(", ")}), ${loaded} loaded and scored`,
  );
});
