/**
 * npm run bench:overload — forestd under 4× its measured capacity, on 127.0.0.1, for a fixed time.
 *
 *   npm run bench:overload [-- --seconds 20 --factor 4 --scenario scoring|http --rows 20]
 *
 * Prints the report of scripts/overload.ts as JSON: accepted p99 against the unloaded p99, how
 * fast 503s come back, peak RSS of the process tree, and whether requests right after succeed.
 */
import { parseArgs } from "node:util";
import { runOverload } from "./overload.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    factor: { type: "string", default: "4" },
    scenario: { type: "string", default: "scoring" },
    rows: { type: "string", default: "20" },
  },
});
const scenario = values.scenario === "http" ? "http" : "scoring";
const report = await runOverload({
  seconds: Number(values.seconds),
  factor: Number(values.factor),
  scenario,
  rows: Number(values.rows),
  log: (line) => console.error(line),
});
console.log(JSON.stringify(report, null, 2));
