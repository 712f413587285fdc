/**
 * What loading one model costs a worker in memory (issue #27: under 3× the file), measured the way a
 * worker loads: `--mode thread` (a serving worker: the loading thread reads, checks, compiles and
 * shares the model; the event loop rebuilds it from shared memory) or `--mode boot` (a booting
 * worker: all of that on the event loop). One fresh process per measurement:
 *
 *   npm run build:test
 *   node --expose-gc dist/scripts/load-memory.js --model rf500_big.joblib --mode thread
 *
 * Prints one JSON line: the load's wall and CPU time (every thread of the process), the resident
 * set before, its peak (VmHWM) and what it settles at once the model has scored a row and garbage
 * is collected (the loading thread ends a second after its load), as MiB and as multiples of the
 * file's size, and the bytes the model holds (Model.compiledBytes).
 */
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import type { ModelSpec } from "../contract/models.js";
import { inProcessLoader, LOADING_THREAD_IDLE_MS, ThreadedLoader } from "../workers/scoring/model-loader.js";
import { scriptArgs } from "./script-args.js";

const USAGE = "usage: node --expose-gc dist/scripts/load-memory.js --model FILE [--mode thread|boot]";
const { values } = scriptArgs(USAGE, {
  options: { model: { type: "string" }, mode: { type: "string", default: "thread" } },
});
const gc = (globalThis as { gc?: () => void }).gc;
if (!values.model || !gc || (values.mode !== "thread" && values.mode !== "boot")) {
  console.error(USAGE);
  process.exit(2);
}
const file = values.model;
const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
const peakRss = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]) * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The digest by a stream: reading the whole file now would raise the peak before the baseline.
const size = statSync(file).size;
const hash = createHash("sha256");
for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
const spec = {
  snapshot: file,
  sha256: hash.digest("hex"),
  config: { inline_scoring_max_us: 100 },
} as unknown as ModelSpec;

const loader = new ThreadedLoader();
// The loading thread started (and its modules loaded) before the baseline, as in a serving worker.
await loader.load({ ...spec, snapshot: "/nonexistent" }).catch(() => undefined);
gc();
await sleep(200);
gc();
const before = process.memoryUsage().rss;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const loaded = values.mode === "boot" ? await inProcessLoader(spec) : await loader.load(spec);
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
loaded.model.predictBatch(new Float32Array(loaded.model.numFeature).fill(0.5), 1);
for (let i = 0; i < 5; i++) {
  gc();
  await sleep((LOADING_THREAD_IDLE_MS * 2.5) / 5);
}
const settled = process.memoryUsage().rss;
const peak = peakRss();
const times = (bytes: number) => Math.round((bytes / size) * 100) / 100;
console.log(
  JSON.stringify({
    file: basename(file),
    fileMiB: Math.round((size / 2 ** 20) * 10) / 10,
    mode: values.mode,
    loadMs: Math.round(ms),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    rssBeforeMiB: mib(before),
    peakGrowthMiB: mib(peak - before),
    peakTimesFile: times(peak - before),
    settledGrowthMiB: mib(settled - before),
    settledTimesFile: times(settled - before),
    modelMiB: mib(loaded.bytes),
  }),
);
await loader.close();
