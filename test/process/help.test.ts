/**
 * Every command and script answers --help (usage on stdout, exit 0), and an unknown option with a
 * message and the usage (exit 2), never a stack trace.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { inTurns, runScript } from "../helpers/cli.js";
import { ROOT } from "../helpers/fixtures.js";

/** Runs a built script (dist/SCRIPT) with ARGS and an empty standard input: its exit code and output. */
const node = (script: string, args: string[]) =>
  runScript(join(ROOT, "dist", script), args, "", process.env, 30_000);

const FORESTD = ["serve", "predict", "inspect", "reload", "healthcheck"];
const SCRIPTS = [
  "scripts/bench.js",
  "scripts/bench-model.js",
  "scripts/bench-overload.js",
  "scripts/chaos.js",
  "scripts/bare-server.js",
  "scripts/record-onnx-truth.js",
  "scripts/grafana-dashboard.js",
  "scripts/docs.js",
  "scripts/build-kernel.js",
  "scripts/load-memory.js",
  "scripts/bench-multimodel.js",
  "scripts/bench/open-loop-cli.js",
];

t.test("forestd and each of its commands answer --help", async (t) => {
  const top = await node("cli/forestd.js", ["--help"]);
  t.equal(top.code, 0);
  for (const command of FORESTD) t.match(top.stdout, `forestd ${command}`, `the usage names ${command}`);
  // Two runs at a time: each is mostly Node's start-up.
  await inTurns(FORESTD, async (command) => {
    const run = await node("cli/forestd.js", [command, "--help"]);
    t.equal(run.code, 0, `forestd ${command} --help: exit 0`);
    t.match(
      run.stdout,
      command === "serve" ? /MODEL_PATH/ : `forestd ${command}`,
      `forestd ${command} --help: its usage`,
    );
  });
});

t.test("every script answers --help, and an unknown option without a stack trace", async (t) => {
  await inTurns(SCRIPTS, async (script) => {
    const help = await node(script, ["--help"]);
    t.equal(help.code, 0, `${script} --help: exit 0`);
    t.ok(help.stdout.trim().length > 20, `${script} --help: prints its usage`);
    if (script.endsWith("bench/open-loop-cli.js")) return; // it reads its plan from stdin
    const wrong = await node(script, ["--no-such-option"]);
    t.equal(wrong.code, 2, `${script} --no-such-option: exit 2`);
    t.match(wrong.stderr, /no-such-option/, `${script}: names the option`);
    t.notMatch(wrong.stderr, /\n\s+at /, `${script}: no stack trace`);
  });
  // The A/B scripts are plain JavaScript, run from the source tree.
  await inTurns(
    ["scripts/ab/engine-ab.mjs", "scripts/ab/http-ab.mjs", "scripts/ab/fast-paths.mjs"],
    async (script) => {
      const help = await runScript(join(ROOT, script), ["--help"], "", process.env, 30_000);
      t.equal(help.code, 0, `${script} --help: exit 0`);
      t.match(help.stdout, /^usage: /, `${script} --help: prints its usage`);
      const wrong = await runScript(join(ROOT, script), ["--no-such-option"], "", process.env, 30_000);
      t.equal(wrong.code, 2, `${script} --no-such-option: exit 2`);
      t.match(wrong.stderr, /no-such-option/, `${script}: names the option`);
    },
  );
  for (const script of ["scripts/test-layers.sh", "scripts/install-test-deps.sh"]) {
    const help = spawnSync("bash", [join(ROOT, script), "--help"], { encoding: "utf8" });
    t.equal(help.status, 0, `${script} --help: exit 0`);
    t.match(help.stdout, script);
  }
});
