/**
 * docs/errors.md is generated from workers/errors.ts and committed: it must be current (after
 * Fastify's errors test). What the server actually sends is test/error-codes.test.ts's job.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ModelErrorCodes } from "../model/index.js";
import { HTTP_ERRORS } from "../workers/errors.js";
import { withErrorsTable } from "../workers/errors-table.js";
import { ROOT } from "./helpers/fixtures.js";

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
