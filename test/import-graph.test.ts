/**
 * The layout by process, held by the import graph (dependency-cruiser): server/ (the primary)
 * imports nothing from workers/ (the worker process), whose entry it forks by path; model/ and
 * config/ import nothing above them; shipped code imports no tests; no cycles; and the unit layer
 * starts no servers (those tests are *.process.test.ts, see scripts/test-layers.sh).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cruise, type ICruiseResult, type IForbiddenRuleType } from "dependency-cruiser";
import t from "tap";
import { ROOT } from "./helpers/fixtures.js";

const SHIPPED = "^(server|workers|model|config)/";

const RULES: IForbiddenRuleType[] = [
  {
    name: "primary-not-into-worker",
    comment:
      "server/ is the primary: it forks workers/worker-main.js by path and imports nothing from workers/",
    severity: "error",
    from: { path: "^server/" },
    to: { path: "^workers/" },
  },
  {
    name: "model-is-the-floor",
    comment: "model/ is the engine: it imports nothing of the server, the settings, the scripts or the tests",
    severity: "error",
    from: { path: "^model/" },
    to: { path: "^(server|workers|config|scripts|test)/" },
  },
  {
    name: "config-below-processes",
    comment: "config/ is read by both processes and the scripts: it imports none of them",
    severity: "error",
    from: { path: "^config/" },
    to: { path: "^(server|workers|scripts|test)/" },
  },
  {
    name: "shipped-code-not-into-tests-or-scripts",
    severity: "error",
    from: { path: SHIPPED },
    to: { path: "^(test|scripts)/" },
  },
  {
    name: "no-cycles",
    severity: "error",
    from: {},
    to: { circular: true },
  },
  {
    name: "unit-layer-starts-no-servers",
    comment: "a test that starts forestd or loads it is a process-level test: name it *.process.test.ts",
    severity: "error",
    from: { path: "^test/[^/]+\\.test\\.ts$", pathNot: "\\.process\\.test\\.ts$" },
    to: { path: "^(test/helpers/(server|load)\\.ts|scripts/(overload|bench)\\.ts)$" },
  },
];

t.test("the import graph holds the layout", async (t) => {
  const previous = process.cwd();
  process.chdir(ROOT);
  t.teardown(() => process.chdir(previous));
  const { output } = await cruise(
    ["server", "workers", "model", "config", "scripts", "test"],
    {
      ruleSet: { forbidden: RULES },
      exclude: { path: "^(test/fixtures|node_modules|dist)/" },
      tsPreCompilationDeps: true,
      tsConfig: { fileName: "tsconfig.test.json" },
      validate: true,
    },
    {
      extensions: [".ts", ".js", ".mjs"],
      exportsFields: ["exports"],
      conditionNames: ["import", "node", "default"],
    },
  );
  const result = output as ICruiseResult;
  const files = result.modules.map((m) => m.source);
  t.ok(
    files.includes("workers/worker.ts") && files.includes("server/cli.ts"),
    `${files.length} modules read`,
  );
  // The tool resolved the TypeScript imports (./x.js → ./x.ts): otherwise no rule could fire.
  const cli = result.modules.find((m) => m.source === "server/cli.ts");
  t.ok(
    cli?.dependencies.some((d) => d.resolved === "config/load-settings.ts"),
    "imports resolve to the .ts sources",
  );
  t.ok(
    result.modules.every((m) => m.dependencies.every((d) => !d.couldNotResolve || !d.module.startsWith("."))),
    "every import of ours resolved",
  );
  t.same(
    result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
    [],
    "no violations",
  );
});

t.test("the one arrow from server/ to workers/ is the entry it forks, named by path", async (t) => {
  const named = readdirSync(join(ROOT, "server"))
    .filter((f) => f.endsWith(".ts"))
    .filter((f) => /worker-main\.js/.test(readFileSync(join(ROOT, "server", f), "utf8")));
  t.ok(named.length > 0, `forked by path in ${named.join(", ")}`);
  t.ok(readdirSync(join(ROOT, "workers")).includes("worker-main.ts"), "workers/worker-main.ts exists");
});
