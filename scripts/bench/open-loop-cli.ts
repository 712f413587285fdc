/**
 * The open-loop generator as its own process, so it can be pinned to its own CPUs (taskset) apart
 * from the server: reads a LoadPlan as JSON on stdin, prints {phases, cpuSeconds} as JSON, where
 * cpuSeconds is the generator's own CPU time (so its cost per request can be checked).
 */
import { text } from "node:stream/consumers";
import { scriptArgs } from "../script-args.js";
import { type LoadPlan, runLoad } from "./open-loop.js";

scriptArgs(
  "node dist/scripts/bench/open-loop-cli.js < plan.json\n  Runs an open-loop LoadPlan read as JSON on stdin (scripts/bench/open-loop.ts); prints {phases, cpuSeconds}.",
  { options: {} },
);
const plan = JSON.parse(await text(process.stdin)) as LoadPlan;
const start = process.cpuUsage();
const phases = await runLoad(plan);
const used = process.cpuUsage(start);
process.stdout.write(JSON.stringify({ phases, cpuSeconds: (used.user + used.system) / 1e6 }));
