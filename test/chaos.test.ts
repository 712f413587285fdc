/**
 * The chaos campaign in CI (scripts/chaos.ts): ≥ 30 s of random faults under load, seeded (the seed
 * is printed; `npm run chaos -- --seconds 300 --seed S` replays a schedule for longer).
 */
import t from "tap";
import { chaosSummary, runChaos } from "../scripts/chaos.js";

const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));

t.test(`chaos campaign, seed ${seed}`, async (t) => {
  const report = await runChaos({ seconds: 32, seed, log: (line) => t.comment(line) });
  t.comment(chaosSummary(report));
  t.ok(report.faults.length >= 25, `${report.faults.length} faults applied`);
  t.notOk(report.halted, "the primary never halted");
  t.same(
    report.unexplainedFailures,
    [],
    "every failure is on a killed or stopped worker's connection, within its in-flight count",
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
