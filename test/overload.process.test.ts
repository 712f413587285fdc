/**
 * Overload, for real: forestd (one worker, one scoring thread, the 1000-tree model) is offered 4×
 * its measured capacity for 20 s on 127.0.0.1. It must stay up, within its stated memory bound,
 * turn the excess away with 503 + Retry-After rather than errors, and answer right after.
 * Latencies are reported (t.comment) but not asserted: speed belongs to `npm run bench:overload`.
 */
import t from "tap";
import { runOverload } from "../scripts/overload.js";

/** The bound README states for the process tree under overload. */
const RSS_BOUND_MIB = 1024;

t.test("4× capacity for 20 s: stays up, sheds with 503, recovers", async (t) => {
  const report = await runOverload({ seconds: 20, factor: 4, scenario: "scoring", log: (l) => t.comment(l) });
  t.comment(JSON.stringify(report));
  t.ok(report.capacityRps > 0, "capacity measured");
  t.ok(report.aliveAfter, "the server is still running");
  t.ok(report.peakRssMiB < RSS_BOUND_MIB, `peak RSS ${report.peakRssMiB} MiB < ${RSS_BOUND_MIB} MiB`);
  t.ok(report.accepted > 0, "requests were served during the overload");
  t.ok(report.rejected > 0, "the excess was turned away");
  t.equal(report.rejectedWithRetryAfter, report.rejected, "every 503 carries Retry-After");
  t.equal(report.otherStatuses, 0, "no status other than 200 and 503");
  t.equal(report.errors, 0, "no connection errors or timeouts");
  t.same(report.afterLoad, { accepted: 50, rejected: 0, errors: 0 }, "requests right after all succeed");
});
