/** The error list in workers/errors.ts and docs/errors.md stay in step (after Fastify's errors test). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ModelErrorCodes } from "../model/index.js";
import { ERROR_CODES } from "../workers/errors.js";
import { ROOT } from "./helpers/fixtures.js";

const doc = readFileSync(join(ROOT, "docs", "errors.md"), "utf8");

t.test("every HTTP error code is documented with its status", async (t) => {
  for (const [code, status] of Object.entries(ERROR_CODES)) {
    t.match(doc, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), code);
  }
  const documented = [...doc.matchAll(/^\| `(FORESTD_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  t.same(documented.sort(), Object.keys(ERROR_CODES).sort(), "and nothing documented that does not exist");
});

t.test("every model error code is documented", async (t) => {
  for (const code of Object.keys(ModelErrorCodes)) t.match(doc, code, code);
});
