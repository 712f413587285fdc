/** The graceful drain: in-flight requests finish, with Connection: close; new connections are refused. */
import { Agent, request } from "node:http";
import Fastify from "fastify";
import t from "tap";
import { ConnectionDrainer } from "../../workers/process/drain.js";

function get(port: number, agent: Agent): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/slow", agent }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
    });
    req.on("error", reject);
    req.end();
  });
}

t.test("draining answers what is in flight, asks clients to reconnect, and stops accepting", async (t) => {
  const app = Fastify();
  // /slow answers when the test says, and says when it has a request: no sleeps either side.
  let arrived = () => {};
  let finish = () => {};
  let held = false;
  app.get("/slow", async () => {
    if (held) {
      await new Promise<void>((resolve) => {
        finish = resolve;
        arrived();
      });
    }
    return { ok: true };
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  const drainer = new ConnectionDrainer();
  drainer.track(app.server);
  const agent = new Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());

  const before = await get(port, agent);
  t.equal(before.connection, "keep-alive", "before the drain, connections are kept");
  held = true;
  const inside = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const inFlight = get(port, agent); // on the kept-alive connection
  await inside;
  const drained = drainer.drain(Date.now() + 5000, 200);
  finish();
  const answer = await inFlight;
  t.equal(answer.status, 200, "the in-flight request is answered");
  t.equal(answer.connection, "close", "with Connection: close");
  t.equal(await drained, true, "every connection closed before the deadline");
  await t.rejects(get(port, new Agent()), { code: "ECONNREFUSED" }, "new connections are refused");
});
