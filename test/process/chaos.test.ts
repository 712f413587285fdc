/**
 * The chaos campaign in CI (scripts/chaos.ts): ≥ 30 s of random faults under load, seeded (the seed
 * is printed; `npm run chaos -- --seconds 300 --seed S` replays a schedule for longer).
 */
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { chaosPassed, chaosSummary, MAX_SHED_SHARE, runChaos } from "../../scripts/chaos.js";

const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));

t.test(`chaos campaign, seed ${seed}`, async (t) => {
  const serverLogFile = join(tmpdir(), `forestd-chaos-${seed}-${process.pid}.log`);
  t.teardown(() => rmSync(serverLogFile, { force: true }));
  const report = await runChaos({ seconds: 32, seed, serverLogFile, log: (line) => t.comment(line) });
  t.comment(chaosSummary(report));
  // A failed campaign is read beside the server's own log (CI keeps only what the run printed).
  if (!chaosPassed(report)) t.comment(`the server's log:\n${readFileSync(serverLogFile, "utf8")}`);
  // Faults come 0.55–1.65 s apart (1.1 s on average) until 2 s before the end: ~27 on average,
  // at least 18 unless the campaign stalled (a ttin at 4 workers is skipped, not counted). 25, as
  // this was, sat at the mean's edge: seed 2522013 applied 24 on a healthy run.
  t.ok(report.faults.length >= 15, `${report.faults.length} faults applied`);
  t.notOk(report.halted, "the primary never halted");
  t.same(
    report.unexplainedFailures,
    [],
    "every failure is on a killed or stopped worker's connection, within its in-flight count, or shed",
  );
  t.ok(
    report.shed.length <= report.requests * MAX_SHED_SHARE,
    `${report.shed.length} of ${report.requests} requests shed with 503 (at most ${MAX_SHED_SHARE * 100}%)`,
  );
  t.same(
    report.wrongAnswers,
    [],
    "every answer is model A's or B's, and the last good model's once the reload settled",
  );
  t.same(report.counterDecreases, [], `counters never decreased over ${report.scrapes} scrapes`);
  t.ok(report.scrapes >= 20, "scraped throughout");
  t.equal(report.finalWorkers, report.expectedWorkers, "the worker count is what the signals asked for");
  t.equal(report.finalAnswersFromLastGood, report.finalAnswers, "fresh connections get the last good model");
  t.ok(report.ok > report.requests * 0.9, `${report.ok} of ${report.requests} requests answered 200`);
});
