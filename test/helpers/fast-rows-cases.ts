/**
 * Bodies and oracles for the fast row parser's property tests (test/fast-rows*.test.ts): the
 * JSON.parse path it shortcuts, and generators of /predict and OIP infer bodies — hostile ones,
 * whitespace, exponents, -0, subnormals, duplicated keys, escapes in names, cut and spliced bodies.
 */
import { join } from "node:path";
import fc from "fast-check";
import Fastify from "fastify";
import type { Test } from "tap";
import { Value } from "typebox/value";
import { columnLookup, defaultModelPath, loadModel, type Model, rowsToArray } from "../../model/index.js";
import { ParsedTensor, parseInferBody, parsePredictBody, rowsLayout } from "../../workers/http/fast-rows.js";
import { batchOf, type InferRequest } from "../../workers/http/request-rows.js";
import { InferBody } from "../../workers/http/schemas.js";
import { readInputs } from "../../workers/http/tensors.js";
import { FIXTURES } from "./fixtures.js";
import { hostileJsonBodies, VALID_BODY } from "./hostile-bodies.js";

export const MAX_ROWS = 50;

export type Outcome = { bits: number[]; rows: number; single: boolean } | { code: string };

const usualJson = Fastify().getDefaultJsonParser("error", "error");

/** A body as the server receives it: bytes (a test's text is sent as UTF-8). */
export type SentBody = string | Buffer;
const bytesOf = (body: SentBody): Buffer => (typeof body === "string" ? Buffer.from(body) : body);

function parseUsual(body: SentBody): { body: unknown } | { code: string } {
  let result: { body: unknown } | { code: string } = { code: "none" };
  // The route's parser hands it the body's bytes (workers/body-parser.ts); Fastify types it as string.
  usualJson({} as never, bytesOf(body) as unknown as string, (error, parsed) => {
    result = error ? { code: "FORESTD_ERR_INVALID_JSON" } : { body: parsed };
  });
  return result;
}

/** The values' bit patterns (32 or 64 bits each, as the array holds them). */
export const bits = (values: Float32Array | Float64Array) =>
  values instanceof Float64Array
    ? Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length * 2))
    : Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));

/** What the server did before the fast parser: JSON.parse, shape checks, rows into float32. */
export function oracle(model: Model, body: SentBody): Outcome {
  const parsed = parseUsual(body);
  if ("code" in parsed) return parsed;
  try {
    const { instances, single } = batchOf(parsed.body);
    if (instances.length > MAX_ROWS) return { code: "FORESTD_ERR_TOO_MANY_ROWS" };
    return { bits: bits(rowsToArray(model, instances)), rows: instances.length, single };
  } catch (error) {
    return { code: (error as { code: string }).code };
  }
}

export function withFastPath(model: Model, layout: ReturnType<typeof rowsLayout>, body: SentBody) {
  const fast = parsePredictBody(bytesOf(body), layout);
  if (fast === null) return { fast: false, outcome: oracle(model, body) };
  const whole = fast.values.byteOffset === 0 && fast.values.byteLength === fast.values.buffer.byteLength;
  if (!whole) throw new Error("fast rows do not span their buffer");
  const outcome: Outcome = { bits: bits(fast.values), rows: fast.rows, single: fast.single };
  return { fast: true, outcome };
}

/** Number spellings: JSON's own, near-misses JSON refuses, and values at float32's edges. */
function numberText(): fc.Arbitrary<string> {
  const digits = (min: number, max: number) =>
    fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: min, maxLength: max });
  // JSON's number grammar, every part exercised: long mantissas, long fractions, big exponents.
  const crafted = fc
    .record({
      sign: fc.constantFrom("", "-"),
      int: fc.oneof(
        fc.constant("0"),
        fc.tuple(fc.constantFrom(..."123456789"), digits(0, 24)).map(([a, b]) => a + b),
      ),
      frac: fc.option(digits(1, 25)),
      exp: fc.option(
        fc.record({
          e: fc.constantFrom("e", "E"),
          sign: fc.constantFrom("", "+", "-"),
          digits: fc.oneof(digits(1, 3), fc.integer({ min: 0, max: 400 }).map(String)),
        }),
      ),
    })
    .map(
      ({ sign, int, frac, exp }) =>
        `${sign}${int}${frac === null ? "" : `.${frac}`}${exp === null ? "" : `${exp.e}${exp.sign}${exp.digits}`}`,
    );
  return fc.oneof(
    { arbitrary: fc.double().map((d) => (Object.is(d, -0) ? "-0" : JSON.stringify(d))), weight: 4 },
    { arbitrary: fc.float().map((f) => (Object.is(f, -0) ? "-0" : JSON.stringify(f))), weight: 3 },
    { arbitrary: fc.integer({ min: -1e6, max: 1e6 }).map(String), weight: 3 },
    { arbitrary: crafted, weight: 4 },
    {
      arbitrary: fc.constantFrom(
        "-0",
        "0",
        "-0.0e5",
        "1e-46",
        "-1e-46",
        "1e-45",
        "1.401298464324817e-45",
        "7.006492321624085e-46",
        "7.006492321624086e-46",
        "3.4028235677973366e38",
        "3.4028235677973362e38",
        "3.4028236e38",
        "1e39",
        "1e400",
        "-1e400",
        "1e309",
        "1e-400",
        "2.2250738585072011e-308",
        "5e-324",
        "9007199254740993",
        "9007199254740992.5",
        "123456789012345678901234567890",
        "0.1",
        "0.30000000000000004",
        "1E+2",
        "1e22",
        "1e23",
        "1.5e-22",
        "4.35",
        "180.123456",
        "01",
        "-01",
        ".5",
        "+1",
        "1.",
        "1e",
        "1e+",
        "-",
        "--1",
        "NaN",
        "Infinity",
        "-Infinity",
        "0x10",
        "1_000",
        "١",
      ),
      weight: 2,
    },
  );
}

const value = () =>
  fc.oneof(
    { arbitrary: numberText(), weight: 40 },
    { arbitrary: fc.constant("null"), weight: 6 },
    { arbitrary: fc.constantFrom("true", '"180"', "[]", "{}", "nul", "[1]", '""', "null1"), weight: 1 },
  );

/** `arb` once in `n` times, else null. */
function sometimes<T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | null> {
  return fc.oneof({ arbitrary: fc.constant(null), weight: n - 1 }, { arbitrary: arb, weight: 1 });
}

/** Fills each ~ with whitespace: mostly JSON's own, sometimes what JSON.parse refuses. */
function spacedOut(structured: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const space = fc.oneof(
    { arbitrary: fc.constant(""), weight: 40 },
    { arbitrary: fc.constantFrom(" ", "\t", "\n", "\r", "\r\n  "), weight: 20 },
    { arbitrary: fc.constantFrom("\u00a0", "\f", "\v", "\u2028", "\ufeff", "/**/"), weight: 1 },
  );
  return fc.tuple(structured, fc.array(space, { minLength: 32, maxLength: 32 })).map(([s, gaps]) => {
    let k = 0;
    return s.replace(/~/g, () => gaps[k++ % gaps.length]);
  });
}

/** Bodies as generated (8 in 11), cut or with a few characters spliced in (2), or any JSON (1). */
function withNoise(bodies: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const mangled = fc
    .tuple(bodies, fc.nat(), fc.nat({ max: 3 }), fc.string({ maxLength: 3 }))
    .map(([s, at, drop, insert]) => {
      const i = at % (s.length + 1);
      return s.slice(0, i) + insert + s.slice(i + drop);
    });
  return fc.oneof(
    { arbitrary: bodies, weight: 8 },
    { arbitrary: mangled, weight: 2 },
    { arbitrary: fc.json({ maxDepth: 3 }), weight: 1 },
  );
}

/** /predict bodies: {"instances": [...]} and bare rows, by position and by name. */
function predictBodies(model: Model): fc.Arbitrary<string> {
  const names = columnLookup(model);
  const key = fc.oneof(
    { arbitrary: fc.constantFrom(...names.keys()).map((k) => JSON.stringify(k)), weight: 30 },
    {
      arbitrary: fc.constantFrom(
        '"hair"',
        '"__proto__"',
        '"constructor"',
        '"instances"',
        '""',
        '"\\u0068eight"',
        '"h\\u00e9ight"',
        '"héight"',
        '"\\"q"',
        '"\\u005f_proto__"',
        "height",
        "'height'",
      ),
      weight: 1,
    },
  );
  // ~ marks a gap that whitespace may fill.
  const length = fc.oneof(
    { arbitrary: fc.constant(model.numFeature), weight: 12 },
    { arbitrary: fc.constantFrom(Math.max(0, model.numFeature - 1), model.numFeature + 1), weight: 1 },
  );
  const positional = length
    .chain((n) => fc.array(value(), { minLength: n, maxLength: n }))
    .map((vs) => `[~${vs.join("~,~")}~]`);
  const named = fc
    .array(fc.tuple(key, value()), { maxLength: model.numFeature + 2 })
    .map((kvs) => `{~${kvs.map(([k, v]) => `${k}~:~${v}`).join("~,~")}~}`);
  const row = fc.oneof(
    { arbitrary: positional, weight: 5 },
    { arbitrary: named, weight: 5 },
    { arbitrary: fc.constantFrom("null", "5", '"x"', "[[1]]", "true"), weight: 1 },
  );
  const instances = fc
    .array(row, { minLength: 0, maxLength: 4 })
    .map((rows) => `"instances"~:~[~${rows.join("~,~")}~]`);
  const extraKey = fc.constantFrom('"id"~:~1', '"instances"~:~[]', '"height"~:~1', '"instances"~:~[[1,2,3]]');
  const envelope = fc
    .tuple(sometimes(extraKey, 6), instances, sometimes(extraKey, 6))
    .map(([before, body, after]) => `~{~${[before, body, after].filter((p) => p !== null).join("~,~")}~}~`);
  const structured = fc.oneof(
    { arbitrary: envelope, weight: 6 },
    { arbitrary: named.map((r) => `~${r}~`), weight: 3 },
    { arbitrary: fc.constantFrom(...hostileJsonBodies().map(([, b]) => b)), weight: 1 },
  );
  return withNoise(spacedOut(structured));
}

/**
 * /predict bodies for one model (`file`: "default" or a fixture): the hostile corpus and a few
 * fixed bodies, then `runs` generated ones from `seed`; each must give the oracle's rows or code.
 */
export function checkPredictBodies(t: Test, file: string, runs: number, seed: number): void {
  t.test(
    `${file}, ${runs} bodies from seed ${seed}: the fast path answers as JSON.parse would`,
    async (t) => {
      const model = loadModel(file === "default" ? defaultModelPath() : join(FIXTURES, file));
      const layout = rowsLayout(model.numFeature, columnLookup(model), MAX_ROWS);
      const check = (body: SentBody) => {
        const { fast, outcome } = withFastPath(model, layout, body);
        const shown = JSON.stringify(body.toString().slice(0, 80));
        t.same(outcome, oracle(model, body), `${shown} (fast: ${fast})`);
        return fast;
      };
      for (const [name, body] of hostileJsonBodies()) t.notOk(check(body), `hostile ${name}: declined`);
      t.ok(check(VALID_BODY) || model.numFeature !== 3, "a plain valid body takes the fast path");
      for (const bytes of [
        Buffer.concat([Buffer.from('{"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('": 1}')]),
        Buffer.concat([Buffer.from('{"height": '), Buffer.from([0xff, 0xfe]), Buffer.from("}")]),
      ]) {
        t.notOk(check(bytes), "invalid UTF-8: declined");
      }

      let fastCount = 0;
      let okCount = 0;
      fc.assert(
        fc.property(predictBodies(model), (text) => {
          const { fast, outcome } = withFastPath(model, layout, text);
          if (fast) fastCount++;
          if ("bits" in outcome) okCount++;
          const expected = fast ? oracle(model, text) : outcome;
          // Compare as JSON: bit patterns and codes, nothing else.
          return JSON.stringify(outcome) === JSON.stringify(expected);
        }),
        { numRuns: runs, seed },
      );
      t.pass(`${runs} bodies: ${okCount} valid, ${fastCount} of them by the fast path`);
      t.ok(fastCount > okCount * 0.5, "the fast path takes most valid bodies");
    },
  );
}
/** What OIP infer does without the fast parser: JSON.parse, the schema, the route's tensor reader. */
export function inferOracle(model: Model, sent: SentBody): Outcome {
  const parsed = parseUsual(sent);
  if ("code" in parsed) return parsed;
  // The app's validator (ajv) also coerces types; the bodies the fast path reads are canonical.
  if (!Value.Check(InferBody, parsed.body)) return { code: "FORESTD_ERR_INVALID_INPUT" };
  const body = parsed.body as InferRequest;
  try {
    const { values, rows } = readInputs(model, new Map(), body.inputs, MAX_ROWS);
    return { bits: bits(values), rows, single: body.id === undefined };
  } catch (error) {
    return { code: (error as { code: string }).code };
  }
}

/** OIP infer bodies: keys in any order, shapes near [N, F], data flat or nested, extras. */
export function inferBodies(model: Model): fc.Arbitrary<string> {
  const nf = model.numFeature;
  const dim = fc.oneof(
    { arbitrary: fc.constant(nf), weight: 8 },
    { arbitrary: fc.constantFrom(0, 1, 2, nf + 1), weight: 2 },
  );
  const odd = fc.constantFrom(
    "[]",
    "[1,2,3]",
    "3",
    '"x"',
    "[-1,3]",
    "[1.5,3]",
    "[2.0,3]",
    '["1",3]',
    "[1e400]",
  );
  // [N, F] or [F]; the data mostly as many values as the shape says, run into nested arrays.
  const shapeAndData = fc
    .tuple(fc.integer({ min: 0, max: 3 }), dim, fc.boolean(), fc.nat({ max: 9 }))
    .chain(([n, f, flatShape, skew]) => {
      const count = (flatShape ? 1 : n) * f + (skew === 0 ? 1 : skew === 1 ? -1 : 0);
      return fc
        .tuple(
          fc.array(value(), { minLength: Math.max(0, count), maxLength: Math.max(0, count) }),
          fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }),
          sometimes(odd, 12),
        )
        .map(([vs, cuts, oddShape]) => {
          const items: string[] = [];
          let run: string[] = [];
          vs.forEach((v, i) => {
            if (cuts[i % cuts.length]) run.push(v);
            else {
              if (run.length > 0) items.push(`[~${run.join("~,~")}~]`);
              run = [];
              items.push(v);
            }
          });
          if (run.length > 0) items.push(`[~${run.join("~,~")}~]`);
          const shape = oddShape ?? (flatShape ? `[~${f}~]` : `[~${n}~,~${f}~]`);
          return [`"shape"~:~${shape}`, `"data"~:~[~${items.join("~,~")}~]`];
        });
    });
  const tensorKeys = fc.tuple(
    fc.constantFrom('"name"~:~"input-0"', '"name"~:~"x"', '"name"~:~1', '"name"~:~"a\\nb"'),
    shapeAndData,
    fc.constantFrom('"datatype"~:~"FP32"', '"datatype"~:~"FP64"', '"datatype"~:~"INT8"'),
    sometimes(fc.constantFrom('"parameters"~:~{}', '"name"~:~"again"', '"extra"~:~1'), 8),
  );
  const tensor = fc.tuple(tensorKeys, fc.nat()).map(([keys, seed]) => {
    const present = keys.filter((k) => k !== null) as string[];
    const rotated = present.map((_, i) => present[(i + seed) % present.length]);
    const dropOne = seed % 17 === 0 ? rotated.slice(1) : rotated;
    return `{~${dropOne.join("~,~")}~}`;
  });
  const envelope = fc
    .tuple(
      tensor,
      sometimes(
        fc.constantFrom('"id"~:~"r1"', '"id"~:~7', '"parameters"~:~{"output":"margin"}', '"outputs"~:~[]'),
        3,
      ),
      fc.boolean(),
    )
    .map(([t, extra, first]) => {
      const inputs = `"inputs"~:~[~${t}~]`;
      const parts = extra === null ? [inputs] : first ? [extra, inputs] : [inputs, extra];
      return `~{~${parts.join("~,~")}~}~`;
    });
  return withNoise(spacedOut(envelope));
}

/** OIP infer bodies on the default model: `runs` generated from `seed`, each as the oracle answers it. */
export function checkInferBodies(t: Test, runs: number, seed: number): void {
  t.test(
    `OIP infer, ${runs} bodies from seed ${seed}: the fast path answers as JSON.parse and the schema would`,
    async (t) => {
      const model = loadModel(defaultModelPath());
      const layout = rowsLayout(model.numFeature, columnLookup(model), MAX_ROWS);
      const outcome = (text: string): { fast: boolean; outcome: Outcome } => {
        const fast = parseInferBody(Buffer.from(text), layout);
        if (fast === null) return { fast: false, outcome: inferOracle(model, text) };
        return {
          fast: true,
          outcome: { bits: bits(fast.values), rows: fast.rows, single: fast.id === undefined },
        };
      };
      const plain = JSON.stringify({
        inputs: [
          {
            name: "x",
            shape: [2, 3],
            datatype: "FP32",
            data: [
              [1, 2, 3],
              [4, null, 6],
            ],
          },
        ],
      });
      t.ok(
        parseInferBody(Buffer.from(plain), layout) instanceof ParsedTensor,
        "a plain tensor takes the fast path",
      );
      t.same(outcome(plain).outcome, inferOracle(model, plain));
      let fastCount = 0;
      let okCount = 0;
      fc.assert(
        fc.property(inferBodies(model), (text) => {
          const got = outcome(text);
          if (got.fast) fastCount++;
          if ("bits" in got.outcome) okCount++;
          const expected = got.fast ? inferOracle(model, text) : got.outcome;
          return JSON.stringify(got.outcome) === JSON.stringify(expected);
        }),
        { numRuns: runs, seed },
      );
      t.pass(`${runs} bodies: ${okCount} valid, ${fastCount} of them by the fast path`);
      // The others carry parameters, outputs, extra keys or escaped names: the usual path reads those.
      t.ok(fastCount > okCount * 0.25, "the fast path takes a fair share of valid bodies");
    },
  );
}
