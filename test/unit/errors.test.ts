/**
 * docs/errors.md is generated from workers/errors.ts and committed: it must be current (after
 * Fastify's errors test). What the server actually sends is test/app/error-codes.test.ts's job.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyRequest } from "fastify";
import t from "tap";
import { ModelError, ModelErrorCodes, PredictInputError } from "../../model/index.js";
import { withErrorsTable } from "../../scripts/docs/errors-table.js";
import { HTTP_ERRORS, TooManyRowsError } from "../../workers/http/errors.js";
import { toHttpError } from "../../workers/http/http-errors.js";
import { ROOT } from "../helpers/fixtures.js";

const doc = readFileSync(join(ROOT, "docs", "errors.md"), "utf8");

t.test("docs/errors.md's table is the one npm run docs generates", async (t) => {
  t.equal(doc, withErrorsTable(doc), "run `npm run docs` and commit docs/errors.md");
});

t.test("every code is declared once, with a 4xx or 5xx status and docs text", async (t) => {
  const codes = HTTP_ERRORS.map((e) => e.code);
  t.same([...new Set(codes)], codes, "no code declared twice");
  for (const e of HTTP_ERRORS) {
    t.ok(e.status >= 400 && e.status < 600, `${e.code}: ${e.status}`);
    t.match(doc, new RegExp(`\\| \`${e.code}\` \\| ${e.status} \\|`), `${e.code} documented`);
  }
});

t.test("every model error code is documented", async (t) => {
  for (const code of Object.keys(ModelErrorCodes)) t.match(doc, code, code);
});

t.test("only declared codes pass through; any other error is the documented INTERNAL 500", async (t) => {
  const request = { headers: {} } as FastifyRequest;
  const through = toHttpError(new TooManyRowsError("5", "4"), 1024, request);
  t.match(through, { code: "FORESTD_ERR_TOO_MANY_ROWS", statusCode: 413 });
  // The engine's own codes have no HTTP status: they must not leak out as an undocumented answer.
  for (const error of [
    new PredictInputError("values has 2 floats; 1 rows need 3"),
    new ModelError("FORESTD_ERR_MODEL_INVALID", "a model problem at request time"),
    Object.assign(new Error("made up"), { code: "FORESTD_ERR_MADE_UP" }),
    new TypeError("a bug"),
  ]) {
    const answer = toHttpError(error, 1024, request);
    t.match(answer, { code: "FORESTD_ERR_INTERNAL", statusCode: 500 }, error.message);
    t.equal(answer.cause, error, "the cause is kept for the log");
  }
});
