/**
 * The workload bench:model's `--instructions` counts: scores the bench rows `reps` times with one
 * kernel, nothing else, after two passes of warm-up (so V8 has compiled and optimised what scoring
 * runs: with --predictable it compiles on the main thread, where callgrind would count it). Run
 * under `valgrind --tool=callgrind` twice (reps 1 and reps 1 + n) by bench-model.ts; the difference
 * is n passes of scoring, whatever loading, compiling and warming up cost.
 *
 * Usage: node dist/scripts/bench/count-engine.js MODEL.json KERNEL REPS ROWS BATCH
 */
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { readForest } from "../../model/formats/index.js";
import { Model } from "../../model/model.js";
import { makeRows } from "./rows.js";

const [file, kernel, reps, count, batch] = process.argv.slice(2);
if (!file || (kernel !== "simd" && kernel !== "walk")) {
  process.stderr.write("usage: count-engine.js MODEL KERNEL(simd|walk) REPS ROWS BATCH\n");
  process.exit(2);
}
const raw = readFileSync(file);
const model = new Model(readForest(file.endsWith(".gz") ? gunzipSync(raw) : raw), { kernel });
const rows = Number(count);
const size = Number(batch);
const values = makeRows(model.numFeature, rows);
const nf = model.numFeature;
for (let r = 0; r < 2 + Number(reps); r++)
  for (let at = 0; at + size <= rows; at += size)
    model.predictBatch(values.subarray(at * nf, (at + size) * nf), size);
