/** The graceful drain: in-flight requests finish, with Connection: close; new connections are refused. */
import { Agent, request } from "node:http";
import Fastify from "fastify";
import t from "tap";
import { ConnectionDrainer } from "../workers/drain.js";

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
  app.get("/slow", async () => {
    await new Promise((r) => setTimeout(r, 300));
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
  const inFlight = get(port, agent); // on the kept-alive connection
  await new Promise((r) => setTimeout(r, 50));
  const drained = drainer.drain(Date.now() + 5000, 200);
  const answer = await inFlight;
  t.equal(answer.status, 200, "the in-flight request is answered");
  t.equal(answer.connection, "close", "with Connection: close");
  t.equal(await drained, true, "every connection closed before the deadline");
  await t.rejects(get(port, new Agent()), { code: "ECONNREFUSED" }, "new connections are refused");
});
