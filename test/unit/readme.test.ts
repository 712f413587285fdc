/** README.md tells the truth: its first lines, its settings table, its commands. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { settingsTable } from "../../scripts/docs/settings-table.js";
import { ROOT } from "../helpers/fixtures.js";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
};

t.test("the first lines are the two newcomer commands", async (t) => {
  const commands = readme.split("\n").slice(1, 3);
  t.match(commands[0], /^npm ci && npm start\s+#/);
  t.match(commands[1], /^bash \.ci\/run\s+#.*npm test/);
  t.ok(pkg.scripts.start && pkg.scripts.test, "both scripts exist");
});

t.test("the settings table is generated from config/settings.ts", async (t) => {
  t.ok(readme.includes(settingsTable()), "run `npm run docs` after changing a setting");
});

t.test("every npm script the README names exists", async (t) => {
  for (const [, name] of readme.matchAll(/npm run ([a-z:]+)/g)) t.ok(pkg.scripts[name], name);
});
