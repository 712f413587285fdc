/**
 * The primary's connection router (server/connection-router.ts): a connection handed on goes to
 * the ready worker holding the fewest, counting connections given to a worker that it had not yet
 * received when it last reported.
 */
import t from "tap";
import { ConnectionRouter } from "../../server/connection-router.js";

t.test("routes to the ready worker holding the fewest, and counts what it gave", async (t) => {
  const router = new ConnectionRouter();
  router.report(1, 3, 0);
  router.report(2, 0, 0);
  const routed = Array.from({ length: 6 }, () => router.route([1, 2]));
  t.same(routed, [2, 2, 2, 1, 2, 1], "worker 2 is given three, then they alternate");
  t.equal(router.fewestBesides(1, [1, 2]), 4, "worker 2 holds 4 by the router's count");
  t.equal(router.fewestBesides(1, [1]), null, "no other ready worker");
  t.equal(router.route([]), undefined, "nobody ready");
});

t.test("a report counts as received only what the worker says it received", async (t) => {
  const router = new ConnectionRouter();
  router.report(1, 2, 0);
  router.report(2, 2, 0);
  for (let i = 0; i < 4; i++) router.route([2]); // four given to worker 2, none received yet
  router.report(2, 3, 1); // it holds 3, having received 1 of the 4: 3 more are on their way
  t.equal(router.fewestBesides(1, [1, 2]), 6, "3 held + 3 on their way");
  router.report(2, 6, 4);
  t.equal(router.fewestBesides(1, [1, 2]), 6, "all received: what it holds");
  t.equal(router.route([1, 2]), 1, "the fewest gets the next");
  router.forget(2);
  t.equal(router.fewestBesides(1, [1, 2]), 0, "a forgotten worker counts as holding none");
});
