/**
 * The layout, held by the import graph (dependency-cruiser):
 * - by process: server/ (the primary) imports nothing from workers/ (the worker process), whose
 *   entry it forks by path, and workers/ imports nothing from server/; what both speak (messages,
 *   the worker's environment, the metrics delta's encoder and decoder, the model origin) lives in
 *   contract/, which imports neither; cli/ holds the commands that never start a primary;
 * - by layer inside model/: forest/ (the representation) is the floor; formats/ read files into
 *   it and may use heads/; heads/ finish its sums; compile/, kernels/ and explain/ see only the
 *   representation (and the layout the compiler makes for the kernels) — never a format or a head;
 * - model/, contract/ and config/ import nothing above them; shipped code imports no tests or
 *   scripts; no cycles; test/unit/ builds no app and starts no thread, and neither it nor
 *   test/app/ starts a server (test/process/ and test/deploy/ do).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cruise, type ICruiseResult, type IForbiddenRuleType } from "dependency-cruiser";
import t from "tap";
import { ROOT } from "../helpers/fixtures.js";

const SHIPPED = "^(server|workers|model|config|contract|cli)/";

const RULES: IForbiddenRuleType[] = [
  {
    name: "primary-not-into-worker",
    comment:
      "server/ is the primary: it forks workers/process/worker-main.js by path and imports nothing from workers/",
    severity: "error",
    from: { path: "^server/" },
    to: { path: "^workers/" },
  },
  {
    name: "worker-not-into-primary",
    comment: "workers/ is the worker process: what it shares with the primary is in contract/",
    severity: "error",
    from: { path: "^workers/" },
    to: { path: "^(server|cli)/" },
  },
  {
    name: "contract-is-neutral",
    comment: "contract/ is what both processes import: it imports neither of them",
    severity: "error",
    from: { path: "^contract/" },
    to: { path: "^(server|workers|cli|scripts|test)/" },
  },
  {
    name: "commands-start-no-worker",
    comment: "cli/ commands use the engine, the settings or the primary's serve entry; never a worker's code",
    severity: "error",
    from: { path: "^cli/" },
    to: { path: "^workers/" },
  },
  {
    name: "model-is-the-floor",
    comment: "model/ is the engine: it imports nothing of the server, the settings, the scripts or the tests",
    severity: "error",
    from: { path: "^model/" },
    to: { path: "^(server|workers|config|contract|cli|scripts|test)/" },
  },
  {
    name: "forest-is-the-floor-of-the-engine",
    comment: "model/forest/ is the representation every other part of the engine builds on",
    severity: "error",
    from: { path: "^model/forest/" },
    to: { path: "^model/(?!forest/|errors\\.ts$)" },
  },
  {
    name: "formats-only-read",
    comment:
      "a format reads files into the representation (and names its head); it compiles and scores nothing",
    severity: "error",
    from: { path: "^model/formats/" },
    to: { path: "^model/(?!forest/|heads/|formats/|errors\\.ts$)" },
  },
  {
    name: "heads-only-finish",
    comment: "a head turns sums into answers; it knows the representation, not formats, compiler or kernels",
    severity: "error",
    from: { path: "^model/heads/" },
    to: { path: "^model/(?!forest/|heads/|errors\\.ts$)" },
  },
  {
    name: "compiler-kernels-explanations-know-no-format",
    comment:
      "compile/, kernels/ and explain/ see the representation and each other, never a format or a head",
    severity: "error",
    from: { path: "^model/(compile|kernels|explain)/" },
    to: { path: "^model/(formats|heads)/" },
  },
  {
    name: "kernels-below-the-compiler",
    comment: "the kernels run the compiler's layout; they do not call the compiler or the explanations",
    severity: "error",
    from: { path: "^model/kernels/" },
    to: { path: "^model/(compile|explain)/" },
  },
  {
    name: "config-below-processes",
    comment: "config/ is read by both processes and the scripts: it imports none of them",
    severity: "error",
    from: { path: "^config/" },
    to: { path: "^(server|workers|contract|cli|scripts|test)/" },
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
    name: "unit-layer-starts-nothing",
    comment:
      "test/unit/ is logic in this process: a test that builds an app or starts threads belongs in test/app/",
    severity: "error",
    from: { path: "^test/unit/" },
    to: {
      path: "^(test/helpers/(server|load|app)\\.ts|workers/process/|workers/thread/score-thread|workers/scoring/scoring-pool\\.ts)",
    },
  },
  {
    name: "in-process-layers-start-no-servers",
    comment:
      "a test that starts forestd or loads the machine is a process-level test: it goes in test/process/",
    severity: "error",
    from: { path: "^test/(unit|app)/" },
    to: { path: "^(test/helpers/(server|load)\\.ts|scripts/(overload|bench)\\.ts)$" },
  },
];

t.test("the import graph holds the layout", async (t) => {
  const previous = process.cwd();
  process.chdir(ROOT);
  t.teardown(() => process.chdir(previous));
  const { output } = await cruise(
    ["server", "workers", "model", "config", "contract", "cli", "scripts", "test"],
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
    files.includes("workers/process/worker.ts") && files.includes("cli/forestd.ts"),
    `${files.length} modules read`,
  );
  // The tool resolved the TypeScript imports (./x.js → ./x.ts): otherwise no rule could fire.
  const cli = result.modules.find((m) => m.source === "cli/forestd.ts");
  t.ok(
    cli?.dependencies.some((d) => d.resolved === "config/settings-error.ts"),
    "imports resolve to the .ts sources",
  );
  // ...dynamic ones too (the CLI loads the server only for `forestd serve`): the rules see them.
  t.ok(
    cli?.dependencies.some((d) => d.resolved === "server/serve.ts" && d.dynamic),
    "a dynamic import is in the graph",
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
  t.ok(
    readdirSync(join(ROOT, "workers", "process")).includes("worker-main.ts"),
    "workers/process/worker-main.ts exists",
  );
});
