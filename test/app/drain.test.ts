/** The graceful drain: in-flight requests finish, with Connection: close; new connections are refused. */
import { Agent, request } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import Fastify from "fastify";
import t from "tap";
import { ConnectionDrainer } from "../../workers/process/drain.js";
import { testPki } from "../helpers/tls.js";

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

t.test("over TLS, a request in flight longer than the idle grace is still answered", async (t) => {
  // An HTTPS server's requests arrive on TLS sockets, its "connection" events give the TCP ones:
  // a drain that did not tie the two together took every TLS connection for idle and cut it.
  const pki = testPki();
  const server = pki.server("drain");
  const app = Fastify({ https: { cert: server.cert, key: server.key } });
  let arrived = () => {};
  let finish = () => {};
  app.get("/slow", async () => {
    await new Promise<void>((resolve) => {
      finish = resolve;
      arrived();
    });
    return { ok: true };
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  t.teardown(() => app.close());
  const { port } = app.server.address() as { port: number };
  const drainer = new ConnectionDrainer();
  drainer.track(app.server);
  const agent = new HttpsAgent({ keepAlive: true, ca: pki.ca.cert });
  t.teardown(() => agent.destroy());
  const inside = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const inFlight = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, path: "/slow", agent }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
    });
    req.on("error", reject);
    req.end();
  });
  await inside;
  t.equal(drainer.connections, 1, "the TLS connection is counted once");
  const drained = drainer.drain(Date.now() + 5000, 100);
  await new Promise((resolve) => setTimeout(resolve, 400)); // four idle graces
  finish();
  const answer = await inFlight;
  t.equal(answer.status, 200, "the in-flight request is answered");
  t.equal(answer.connection, "close", "with Connection: close");
  t.equal(await drained, true, "and the connection closed before the deadline");
});
