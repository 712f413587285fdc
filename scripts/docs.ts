/**
 * npm run docs — rewrites the generated parts of the docs: from config/settings.ts the README's
 * settings table and the Helm chart's `settings:` values and values.schema.json; from
 * workers/errors.ts the errors table in docs/errors.md.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../model/index.js";
import { withErrorsTable } from "./docs/errors-table.js";
import { helmSettingsValues, helmValuesSchema, VALUES_END, VALUES_START } from "./docs/settings-helm.js";
import { settingsTable, TABLE_END, TABLE_START } from "./docs/settings-table.js";
import { scriptArgs } from "./script-args.js";

scriptArgs(
  "npm run docs\n  Rewrites the README's settings table, the Helm chart's settings values and schema, and docs/errors.md's table; no options.",
  { options: {} },
);

const generated = [
  { file: "README.md", start: TABLE_START, end: TABLE_END, text: settingsTable() },
  {
    file: join("deploy", "helm", "forestd", "values.yaml"),
    start: VALUES_START,
    end: VALUES_END,
    text: helmSettingsValues(),
  },
];

for (const { file, start, end, text } of generated) {
  const path = join(packageRoot(), file);
  const content = readFileSync(path, "utf8");
  const from = content.indexOf(start);
  const to = content.indexOf(end);
  if (from < 0 || to < 0) throw new Error(`${file} lacks the markers ${start} … ${end}`);
  writeFileSync(path, content.slice(0, from) + text + content.slice(to + end.length));
  console.log(`${file}: regenerated from config/settings.ts`);
}
const schema = join("deploy", "helm", "forestd", "values.schema.json");
writeFileSync(join(packageRoot(), schema), helmValuesSchema());
console.log(`${schema}: regenerated from config/settings.ts`);

const errors = join(packageRoot(), "docs", "errors.md");
writeFileSync(errors, withErrorsTable(readFileSync(errors, "utf8")));
console.log("docs/errors.md: errors table regenerated from workers/errors.ts");
