/**
 * The open-loop generator as its own process, so it can be pinned to its own CPUs (taskset) apart
 * from the server: reads a LoadPlan as JSON on stdin, prints {phases, cpuSeconds} as JSON, where
 * cpuSeconds is the generator's own CPU time (so its cost per request can be checked).
 */
import { text } from "node:stream/consumers";
import { type LoadPlan, runLoad } from "./open-loop.js";

const plan = JSON.parse(await text(process.stdin)) as LoadPlan;
const start = process.cpuUsage();
const phases = await runLoad(plan);
const used = process.cpuUsage(start);
process.stdout.write(JSON.stringify({ phases, cpuSeconds: (used.user + used.system) / 1e6 }));
