/**
 * Property-based fuzzing of /invocations (fast-check): whatever the body and Content-Type — the
 * four JSON forms with hostile values, Python's NaN tokens, CSV with quotes and ragged rows, any
 * text, valid bodies cut and spliced — the answer is 200 with one prediction per row, or an MLflow
 * error (a 4xx with {"error_code", "message"}, a 415 in text/plain); never a 500, never a changed
 * prototype. 3 000 cases per run (FUZZ_RUNS to change).
 */
import fc from "fast-check";
import t from "tap";
import { testApp } from "../helpers/app.js";
import { mlflowFolder } from "../helpers/mlflow-fixtures.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const COLUMNS = ["age", "income", "debt_ratio", "tenure_years", "score"];

t.test(`${RUNS} fuzzed /invocations bodies: 200 or MLflow's 4xx, never a 500`, async (t) => {
  const { app, close } = await testApp([
    "--model",
    mlflowFolder("xgboost-booster-binary"),
    "--max-request-rows",
    "50",
    "--threads",
    "1",
  ]);
  t.teardown(close);
  const names = () => [Object.prototype, Array.prototype].map((p) => Object.getOwnPropertyNames(p).sort());
  const before = names();
  const value = fc.oneof(
    fc.double(),
    fc.integer(),
    fc.constant(null),
    fc.boolean(),
    fc.string({ maxLength: 6 }),
    fc.constantFrom("1.5", " 2 ", "nan", "inf", "1_000", "", "True", 1e308, -0, 2 ** 63),
  );
  const column = fc.constantFrom(...COLUMNS, "extra", "__proto__", "constructor", "", "0");
  const record = fc.dictionary(column, value, { maxKeys: 7 });
  const row = fc.array(value, { maxLength: 7 });
  const json = fc.oneof(
    fc.record({
      dataframe_split: fc.record(
        { columns: fc.array(column, { maxLength: 7 }), data: fc.array(row, { maxLength: 4 }) },
        { requiredKeys: [] },
      ),
    }),
    fc.record({ dataframe_records: fc.array(fc.oneof(record, row), { maxLength: 4 }) }),
    fc.record({
      instances: fc.oneof(
        fc.array(record, { maxLength: 4 }),
        fc.array(row, { maxLength: 4 }),
        fc.array(value, { maxLength: 4 }),
      ),
    }),
    fc.record({
      inputs: fc.oneof(
        fc.dictionary(column, fc.oneof(value, fc.array(value, { maxLength: 4 })), { maxKeys: 7 }),
        fc.array(row, { maxLength: 4 }),
      ),
    }),
    fc.record({ dataframe_split: fc.jsonValue({ maxDepth: 3 }), params: fc.jsonValue({ maxDepth: 2 }) }),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const valid = JSON.stringify({ dataframe_split: { columns: COLUMNS, data: [[30, 1, 2, 3, 4]] } });
  const body = fc.oneof(
    json.map((v) => JSON.stringify(v)),
    // Python's tokens where JSON has none, in and out of strings.
    json.map((v) =>
      JSON.stringify(v)
        .replace(/null/g, "NaN")
        .replace(/1e\+308/g, "Infinity"),
    ),
    fc
      .tuple(fc.nat({ max: valid.length }), fc.string({ maxLength: 6 }))
      .map(([at, s]) => valid.slice(0, at) + s + valid.slice(at)),
    fc
      .tuple(
        fc.array(
          fc.array(
            fc.oneof(fc.constantFrom(...COLUMNS, '"a,b"', '"', "NA", "1e5", ""), fc.string({ maxLength: 4 })),
            {
              maxLength: 7,
            },
          ),
          { maxLength: 5 },
        ),
        fc.constantFrom("\n", "\r\n"),
      )
      .map(([lines, newline]) => lines.map((l) => l.join(",")).join(newline)),
    fc.string({ maxLength: 80 }),
  );
  const contentType = fc.constantFrom(
    "application/json",
    "application/json; charset=UTF-8",
    "text/csv",
    "text/csv; charset=utf-8",
    "text/plain",
    "application/json; format=pandas-split",
    "application/json; charset=utf-16",
  );
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(contentType, body, async (type, payload) => {
      const r = await app.inject({
        method: "POST",
        url: "/invocations",
        payload,
        headers: { "content-type": type },
      });
      statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
      if (r.statusCode >= 500) return false;
      if (r.statusCode === 415) return /^text\/plain/.test(String(r.headers["content-type"]));
      const parsed = JSON.parse(r.body) as { predictions?: unknown[]; error_code?: string; message?: string };
      if (r.statusCode === 200) return Array.isArray(parsed.predictions);
      return (
        (r.statusCode === 400 || r.statusCode === 413) &&
        typeof parsed.error_code === "string" &&
        typeof parsed.message === "string" &&
        Object.keys(parsed).length === 2
      );
    }),
    { numRuns: RUNS },
  );
  t.same(names(), before, "no prototype changed");
  t.ok(
    (statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0,
    `statuses: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(", ")}`,
  );
});
