/** Settings: one table, Gunicorn's precedence, validation that names the setting and what it allows. */
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { loadSettings, settingsHelp, splitArgs } from "../../config/load-settings.js";
import { SETTINGS } from "../../config/settings.js";
import { defaultModelPath } from "../../model/index.js";

const dir = mkdtempSync(join(tmpdir(), "forestd-settings-"));

t.test("defaults: the bundled model on port 8000", async (t) => {
  const { settings } = await loadSettings({ argv: [], env: {}, cwd: dir });
  t.same(settings.bind, ["0.0.0.0:8000"]);
  t.equal(settings.model_path, defaultModelPath());
  t.equal(settings.model_name, "default");
  t.equal(settings.threads, 1);
  t.ok(settings.workers >= 1, "WORKERS defaults to the CPU count");
  t.equal(settings.keepalive, 75);
  t.equal(settings.metrics_port, 9091);
  t.ok(Object.isFrozen(settings) && Object.isFrozen(settings.bind), "deep-frozen");
});

t.test("PORT and WEB_CONCURRENCY, as on PaaS platforms", async (t) => {
  const { settings } = await loadSettings({
    argv: [],
    env: { PORT: "5000", WEB_CONCURRENCY: "3" },
    cwd: dir,
  });
  t.same(settings.bind, ["0.0.0.0:5000"]);
  t.equal(settings.workers, 3);
});

t.test("precedence: defaults < env < config file < FORESTD_CMD_ARGS < command line", async (t) => {
  const config = join(dir, "forestd.config.json");
  writeFileSync(config, JSON.stringify({ workers: 3, threads: 2, timeout: 11, keepalive: 5 }));
  const env = {
    WORKERS: "2",
    THREADS: "4",
    TIMEOUT: "9",
    GRACEFUL_TIMEOUT: "7",
    FORESTD_CMD_ARGS: "--threads 5 --keepalive 6",
  };
  const { settings } = await loadSettings({ argv: ["-c", config, "--keepalive", "8"], env, cwd: dir });
  t.equal(settings.graceful_timeout, 7, "env over default");
  t.equal(settings.timeout, 11, "config file over env");
  t.equal(settings.workers, 3, "config file over env");
  t.equal(settings.threads, 5, "FORESTD_CMD_ARGS over config file");
  t.equal(settings.keepalive, 8, "command line over FORESTD_CMD_ARGS");
});

t.test("a .js config file, lists and booleans", async (t) => {
  const config = join(dir, "forestd.config.mjs");
  writeFileSync(config, 'export default { bind: ["127.0.0.1:9000", "[::1]:9000"], access_log: false };\n');
  const { settings } = await loadSettings({
    argv: ["--config", config, "--forwarded-allow-ips", "10.0.0.1,10.0.0.2"],
    env: {},
    cwd: dir,
  });
  t.same(settings.bind, ["127.0.0.1:9000", "[::1]:9000"]);
  t.equal(settings.access_log, false);
  t.same(settings.forwarded_allow_ips, ["10.0.0.1", "10.0.0.2"]);
  const flags = await loadSettings({
    argv: ["-b", "127.0.0.1:1", "-b", "127.0.0.1:2", "--no-access-log"],
    env: { ACCESS_LOG: "on" },
    cwd: dir,
  });
  t.same(flags.settings.bind, ["127.0.0.1:1", "127.0.0.1:2"], "repeated flag");
  t.equal(flags.settings.access_log, false, "--no-access-log");
});

t.test("bad values stop start-up, naming the setting and the allowed values", async (t) => {
  await t.rejects(loadSettings({ argv: ["--workers", "zero"], env: {}, cwd: dir }), {
    code: "FORESTD_ERR_SETTINGS",
    message: /WORKERS \(--workers, "workers"\): must be a whole number from 1 to 1024; got "zero"/,
  });
  await t.rejects(loadSettings({ argv: [], env: { LOG_LEVEL: "loud", KEEPALIVE: "-1" }, cwd: dir }), {
    message: /LOG_LEVEL .*one of fatal, error, warn, info, debug, trace, silent; got "loud"[\s\S]*|KEEPALIVE/,
  });
  await t.rejects(loadSettings({ argv: ["--bind", "nowhere"], env: {}, cwd: dir }), {
    message: /BIND .*HOST:PORT/,
  });
  await t.rejects(loadSettings({ argv: ["--frobnicate", "1"], env: {}, cwd: dir }), {
    message: /Unknown option '--frobnicate'/,
  });
  const config = join(dir, "bad.json");
  writeFileSync(config, JSON.stringify({ wokers: 2 }));
  await t.rejects(loadSettings({ argv: ["-c", config], env: {}, cwd: dir }), {
    message: /unknown setting "wokers"/,
  });
  await t.rejects(loadSettings({ argv: ["-c", join(dir, "missing.json")], env: {}, cwd: dir }), {
    message: /does not exist/,
  });
});

t.test("model name follows the file", async (t) => {
  const { settings } = await loadSettings({ argv: ["--model", "models/churn-v3.ubj"], env: {}, cwd: dir });
  t.equal(settings.model_path, join(dir, "models", "churn-v3.ubj"));
  t.equal(settings.model_name, "churn-v3");
});

t.test("MODEL_PATH may be a directory holding one model (KServe's /mnt/models)", async (t) => {
  const mnt = join(dir, "mnt-models");
  mkdirSync(mnt);
  writeFileSync(join(mnt, ".hidden.json"), "{}"); // e.g. a storage initializer's marker: ignored
  writeFileSync(join(mnt, "README.txt"), "not a model");
  await t.rejects(loadSettings({ argv: [], env: { MODEL_PATH: mnt }, cwd: dir }), {
    message: /exactly one model file \(.*\.joblib.*\.json.*; found none\)/,
  });
  copyFileSync(defaultModelPath(), join(mnt, "churn-v4.json"));
  const { settings } = await loadSettings({ argv: [], env: { MODEL_PATH: mnt }, cwd: dir });
  t.equal(settings.model_path, join(mnt, "churn-v4.json"), "the one model file");
  t.equal(settings.model_name, "churn-v4", "named after the file");
  const named = await loadSettings({ argv: [], env: { MODEL_PATH: mnt, MODEL_NAME: "churn" }, cwd: dir });
  t.equal(
    named.settings.model_name,
    "churn",
    "or as MODEL_NAME says (KServe passes the InferenceService's name)",
  );
  const sk = join(dir, "mnt-sklearn");
  mkdirSync(sk);
  writeFileSync(join(sk, "house.joblib.gz"), "");
  writeFileSync(join(sk, "notes.gz"), "");
  const sklearn = await loadSettings({ argv: [], env: { MODEL_PATH: sk }, cwd: dir });
  t.equal(
    sklearn.settings.model_path,
    join(sk, "house.joblib.gz"),
    "a scikit-learn file (compressed by joblib)",
  );
  writeFileSync(join(mnt, "other.ubj"), "");
  await t.rejects(loadSettings({ argv: [], env: { MODEL_PATH: mnt }, cwd: dir }), {
    message: /found churn-v4\.json, other\.ubj/,
  });
});

t.test("--help lists every setting with its env var and default", async (t) => {
  const help = settingsHelp();
  for (const spec of SETTINGS) {
    t.match(help, `--${spec.flag}`, spec.key);
    t.match(help, `env ${spec.env};`, spec.key);
  }
  t.match(help, "default 75");
  const { help: asked } = await loadSettings({ argv: ["--help"], env: {}, cwd: dir });
  t.equal(asked, true);
});

t.test("FORESTD_CMD_ARGS splits like a shell for simple quoting", async (t) => {
  t.same(splitArgs(`--bind 127.0.0.1:1 --model "my model.json" -w '3'`), [
    "--bind",
    "127.0.0.1:1",
    "--model",
    "my model.json",
    "-w",
    "3",
  ]);
});

t.test("WORKERS' default respects a container's CPU quota (cgroup v2 cpu.max)", async (t) => {
  const { cpusFromCpuMax, cpuCount } = await import("../../config/cpu-count.js");
  t.equal(cpusFromCpuMax("max 100000\n"), null, "no quota");
  t.equal(cpusFromCpuMax("200000 100000\n"), 2, "two CPUs");
  t.equal(cpusFromCpuMax("150000 100000"), 1.5, "one and a half");
  t.equal(cpusFromCpuMax(""), null, "unreadable");
  const { availableParallelism } = await import("node:os");
  t.ok(cpuCount() >= 1 && cpuCount() <= availableParallelism(), "between 1 and the machine's CPUs");
});
