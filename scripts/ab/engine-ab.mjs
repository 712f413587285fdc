#!/usr/bin/env node
/**
 * Two builds of the engine in one process, interleaved: `node scripts/ab/engine-ab.mjs BEFORE_DIST
 * AFTER_DIST MODEL.json[.gz] BATCH [ROUNDS] [SLICE_MS]` loads the model with each build's
 * `model/index.js`, then alternates SLICE_MS slices of `predictBatch` between them (the order
 * flipped each round) and reports each side's median rows per CPU-second (process.cpuUsage).
 *
 * Why this shape: on a shared 2-core machine separate runs drift by ±25% within minutes, which
 * decides nothing about a 5% change; slices a few hundred ms apart see the same machine, and CPU
 * time rather than wall time leaves out the moments another process held the core. Pin it
 * (`taskset -c 1`). Used for the #26 before/after figures in docs/performance.md.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import { positionalArgs } from "./args.mjs";

const USAGE =
  "usage: node scripts/ab/engine-ab.mjs BEFORE_DIST AFTER_DIST MODEL.json[.gz] BATCH [ROUNDS] [SLICE_MS]";
const argv = positionalArgs(USAGE);

const [beforeDist, afterDist, modelPath, batchArg, roundsArg = "20", sliceArg = "300"] = argv;
if (!modelPath) {
  console.error(USAGE);
  process.exit(2);
}
const load = async (dist) => (await import(pathToFileURL(resolve(dist, "model/index.js")).href)).loadModel;
let bytes = readFileSync(modelPath);
if (modelPath.endsWith(".gz")) bytes = gunzipSync(bytes);
const batch = Number(batchArg);
const models = { before: (await load(beforeDist))(bytes), after: (await load(afterDist))(bytes) };
const rows = new Float32Array(batch * models.after.numFeature);
let seed = 7;
for (let i = 0; i < rows.length; i++) {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  rows[i] = (seed / 2 ** 32 - 0.5) * 4;
}
for (const model of Object.values(models)) {
  const end = performance.now() + 500;
  while (performance.now() < end) model.predictBatch(rows, batch);
}
const rates = { before: [], after: [] };
for (let round = 0; round < Number(roundsArg); round++) {
  for (const side of round % 2 ? ["after", "before"] : ["before", "after"]) {
    let calls = 0;
    const cpu = process.cpuUsage();
    const until = performance.now() + Number(sliceArg);
    while (performance.now() < until) {
      models[side].predictBatch(rows, batch);
      calls++;
    }
    const used = process.cpuUsage(cpu);
    rates[side].push((calls * batch) / ((used.user + used.system) / 1e6));
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
const before = median(rates.before);
const after = median(rates.after);
console.log(
  JSON.stringify({
    model: modelPath,
    batch,
    beforeRowsPerCpuSecond: Math.round(before),
    afterRowsPerCpuSecond: Math.round(after),
    afterOverBefore: Number((after / before).toFixed(3)),
  }),
);
