/**
 * Property-based fuzzing of request bodies (fast-check): whatever the body, /predict and OIP infer
 * answer 200 with predictions or a 4xx JSON error with a FORESTD_ERR_* code; never a 500 or a
 * changed prototype. 10 000 cases per run in CI (FUZZ_RUNS to change); a fifth as many OIP bodies
 * to an ONNX graph of several inputs (tensors by graph input, column and any other name).
 */
import { join } from "node:path";
import fc from "fast-check";
import t from "tap";
import { testApp } from "../helpers/app.js";
import { ROOT } from "../helpers/fixtures.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);

t.test(`${RUNS} fuzzed bodies: 200 or a 4xx JSON error, never a 500`, async (t) => {
  const { app, close } = await testApp(["--max-request-rows", "1000"]);
  t.teardown(close);
  // Whatever name a body could pollute, not just one the generator happens to write.
  const ownNames = () =>
    [Object.prototype, Array.prototype].map((proto) =>
      Object.getOwnPropertyNames(proto).concat(Object.getOwnPropertySymbols(proto).map(String)).sort(),
    );
  const namesBefore = ownNames();
  const value = fc.oneof(
    fc.double(),
    fc.integer(),
    fc.constant(null),
    fc.string({ maxLength: 8 }),
    fc.boolean(),
    fc.constantFrom(1e308, -1e308, 180, 80, 44),
  );
  const row = fc.oneof(
    fc.array(value, { maxLength: 5 }),
    fc.dictionary(
      fc.constantFrom("height", "weight", "shoe_size", "hair", "__proto__", "constructor", ""),
      value,
      { maxKeys: 4 },
    ),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const body = fc.oneof(
    // Structured: plausible shapes with hostile values.
    fc.record({ instances: fc.array(row, { maxLength: 6 }) }).map((b) => JSON.stringify(b)),
    row.map((r) => JSON.stringify(r)),
    fc
      .record({
        inputs: fc.array(
          fc.record({
            name: fc.string({ maxLength: 4 }),
            shape: fc.array(fc.integer({ min: -2, max: 4 }), { maxLength: 3 }),
            datatype: fc.constantFrom("FP32", "FP64", "INT8", ""),
            data: fc.array(value, { maxLength: 12 }),
          }),
          { maxLength: 2 },
        ),
      })
      .map((b) => JSON.stringify(b)),
    // Unstructured: any JSON, any text, and valid bodies cut or spliced at random.
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 64 }),
    fc.tuple(fc.nat({ max: 60 }), fc.string({ maxLength: 6 })).map(([at, s]) => {
      const valid = '{"instances": [[180, 80, 44], {"height": 150}]}';
      return valid.slice(0, at) + s + valid.slice(at);
    }),
  );
  const route = fc.constantFrom("/predict", "/predict?output=margin", "/v2/models/default/infer");
  let statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(route, body, async (url, payload) => {
      const r = await app.inject({
        method: "POST",
        url,
        payload,
        headers: { "content-type": "application/json" },
      });
      statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
      if (r.statusCode >= 500) return false;
      const parsed = JSON.parse(r.body) as {
        code?: string;
        predictions?: unknown;
        prediction?: unknown;
        outputs?: unknown;
      };
      if (r.statusCode === 200)
        return (
          parsed.predictions !== undefined || parsed.prediction !== undefined || parsed.outputs !== undefined
        );
      return r.statusCode >= 400 && typeof parsed.code === "string" && parsed.code.startsWith("FORESTD_ERR_");
    }),
    { numRuns: RUNS, seed: 20261122 },
  );
  t.pass(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.ok((statuses.get(200) ?? 0) > RUNS / 50, "a fair share of bodies were valid and scored");
  t.same(ownNames(), namesBefore, "Object.prototype and Array.prototype untouched");
  statuses = new Map();
});

t.test(
  `${Math.ceil(RUNS / 5)} fuzzed OIP bodies to an ONNX graph of several inputs: 200 or a 4xx`,
  async (t) => {
    // coltrans_ordinal_int64: a string input two columns wide, an int64 and a float one.
    const graph = join(ROOT, "test", "fixtures", "onnx", "graphs", "coltrans_ordinal_int64.onnx");
    const { app, close } = await testApp([], { MODEL_PATH: graph, MODEL_NAME: "m" });
    t.teardown(close);
    const cell = fc.oneof(
      fc.constantFrom("S", "M", "L", "XL", "round", "oval", "star", "", "__proto__"),
      fc.double(),
      fc.integer(),
      fc.constant(null),
      fc.boolean(),
      fc.array(fc.constantFrom("S", 1, null), { maxLength: 3 }),
    );
    const tensor = fc.record({
      name: fc.constantFrom("labels", "count", "weight", "labels[0]", "labels[1]", "x", "__proto__"),
      shape: fc.array(fc.integer({ min: -1, max: 3 }), { minLength: 1, maxLength: 3 }),
      datatype: fc.constantFrom("BYTES", "INT64", "FP32", "FP64", "UINT8", "BOOL", "FP16"),
      data: fc.array(cell, { maxLength: 8 }),
    });
    // Valid requests now and then, so that scoring is exercised too.
    const valid = fc.integer({ min: 1, max: 3 }).map((n) => ({
      inputs: [
        { name: "labels", shape: [n, 2], datatype: "BYTES", data: Array(n).fill(["L", "star"]).flat() },
        { name: "count", shape: [n, 1], datatype: "INT64", data: Array(n).fill(3) },
        { name: "weight", shape: [n], datatype: "FP32", data: Array(n).fill(0.5) },
      ],
    }));
    const body = fc.oneof(fc.record({ inputs: fc.array(tensor, { maxLength: 4 }) }), valid);
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        const r = await app.inject({
          method: "POST",
          url: "/v2/models/m/infer",
          payload: JSON.stringify(payload),
          headers: { "content-type": "application/json" },
        });
        statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
        const parsed = JSON.parse(r.body) as { code?: string; outputs?: unknown };
        if (r.statusCode === 200) return Array.isArray(parsed.outputs);
        return r.statusCode >= 400 && r.statusCode < 500 && /^FORESTD_ERR_/.test(parsed.code ?? "");
      }),
      { numRuns: Math.ceil(RUNS / 5), seed: 20261206 },
    );
    t.pass(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    t.ok((statuses.get(200) ?? 0) > RUNS / 50, "a fair share of bodies were valid and scored");
  },
);
