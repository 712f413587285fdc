/** npm run docs — rewrites the generated parts of the docs: README's settings table, docs/errors.md's table. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { settingsTable, TABLE_END, TABLE_START } from "../config/settings-table.js";
import { packageRoot } from "../model/index.js";
import { withErrorsTable } from "../workers/errors-table.js";

const file = join(packageRoot(), "README.md");
const readme = readFileSync(file, "utf8");
const start = readme.indexOf(TABLE_START);
const end = readme.indexOf(TABLE_END);
if (start < 0 || end < 0) throw new Error("README.md lacks the settings-table markers");
writeFileSync(file, readme.slice(0, start) + settingsTable() + readme.slice(end + TABLE_END.length));
console.log("README.md: settings table regenerated");

const errors = join(packageRoot(), "docs", "errors.md");
writeFileSync(errors, withErrorsTable(readFileSync(errors, "utf8")));
console.log("docs/errors.md: errors table regenerated");
