/**
 * LOG_FORMAT=json-iso in a whole server: the primary's lines and the workers' (written through the
 * batched pino destination) all have ISO times and level names, and the access line the request id.
 */
import t from "tap";
import { postJson, startServer } from "../helpers/server.js";

const ROW = { height: 180, weight: 80, shoe_size: 44 };

t.test("LOG_FORMAT=json-iso: ISO times and level names, in the primary and the workers", async (t) => {
  const server = await startServer({ WORKERS: "1", LOG_FORMAT: "json-iso" });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : server.stop()));
  const r = await postJson(`${server.url}/predict`, ROW, { "x-request-id": "loki-1" });
  t.equal(r.headers["x-request-id"], "loki-1");
  await server.stop();
  stopped = true;
  const events = server.events();
  t.ok(
    events.some((e) => e.role === "primary"),
    "primary lines",
  );
  t.ok(
    events.some((e) => e.worker === 1),
    "worker lines",
  );
  for (const e of events) {
    t.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `ISO time: ${e.msg ?? e.log}`);
    t.ok(
      ["trace", "debug", "info", "warn", "error", "fatal"].includes(e.level as string),
      `level name: ${e.level}`,
    );
  }
  t.match(
    events.find((e) => e.log === "access" && e.method === "POST"),
    { request_id: "loki-1", method: "POST", path: "/predict", status: 200, level: "info" },
    "the access line has the request id",
  );
});
