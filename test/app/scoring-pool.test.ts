/**
 * The real scoring pool, whose threads hold their next task while they score one: many requests
 * in flight at once on one thread each get exactly their own rows' outputs.
 */
import t from "tap";
import { testApp } from "../helpers/app.js";

t.test("one thread, 60 requests at once: every answer is its own", async (t) => {
  const { app, served, close } = await testApp(["--threads", "1"]);
  t.teardown(close);
  const rows = Array.from({ length: 60 }, (_, i) => [150 + i, 50 + (i % 30), 36 + (i % 12)]);
  const expected = Array.from(served.model.predictBatch(Float32Array.from(rows.flat()), rows.length));
  const answers = await Promise.all(
    rows.map((row) => app.inject({ method: "POST", url: "/predict", payload: { instances: [row] } })),
  );
  t.same(
    answers.map((a) => a.statusCode),
    rows.map(() => 200),
  );
  t.same(
    answers.map((a) => a.json().predictions[0]),
    expected,
  );
});
