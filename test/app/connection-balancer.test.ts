/**
 * The worker's side of connection balancing (workers/connection-balancer.ts), on real loopback
 * sockets: a connection accepted beyond the worker's share is handed on unread, and served by the
 * worker that receives it; within the share it is served where it was accepted.
 */
import { createServer as createHttpServer, type Server } from "node:http";
import { connect, createServer as createNetServer, type Server as NetServer } from "node:net";
import t from "tap";
import { ConnectionBalancer, type TcpHandle } from "../../workers/process/connection-balancer.js";

/** An HTTP server that answers with its name, and a paused acceptor in front, as the worker has. */
async function workerLike(
  name: string,
  balancer: ConnectionBalancer,
): Promise<{ http: Server; listener: NetServer; port: number }> {
  const http = createHttpServer((_req, res) => res.end(name));
  balancer.serve(0, http);
  const listener = createNetServer({ pauseOnConnect: true, noDelay: true });
  listener.on("connection", (socket) => balancer.accepted(socket, 0));
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const address = listener.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { http, listener, port: address.port };
}

/** One request on a fresh connection, the answer's body. */
function ask(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () =>
      socket.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    let text = "";
    socket.on("data", (d) => {
      text += d;
    });
    socket.on("end", () => resolve(text.slice(text.indexOf("\r\n\r\n") + 4)));
    socket.on("error", reject);
  });
}

t.test("within its share a connection is served here; beyond it, handed on and served there", async (t) => {
  let held = 0;
  const handedOn: TcpHandle[] = [];
  const receiver = new ConnectionBalancer({
    slack: 0,
    held: () => 0,
    changed: () => undefined,
    handOff: () => false,
  });
  const b = await workerLike("B", receiver);
  const sender = new ConnectionBalancer({
    slack: 2,
    held: () => held,
    changed: () => undefined,
    handOff: (handle, index) => {
      t.equal(index, 0, "the listener's index goes with it");
      handedOn.push(handle);
      // What the primary would do: give it to the worker holding the fewest (B here). In one
      // process there is no copy of the descriptor to close, so `sent` (which closes the
      // sender's copy once IPC has duplicated it) is not called: the receiver has this one.
      setImmediate(() => receiver.received(handle, index));
      return true;
    },
  });
  const a = await workerLike("A", sender);
  t.teardown(() => {
    for (const s of [a.listener, b.listener, a.http, b.http]) s.close();
  });

  t.equal(await ask(a.port), "A", "nothing known of the other workers: kept");
  sender.peers(0);
  held = 1;
  t.equal(await ask(a.port), "A", "one more than the fewest, within a slack of 2: kept");
  held = 2;
  t.equal(await ask(a.port), "B", "two more than the fewest: handed on, and answered by the receiver");
  t.equal(handedOn.length, 1);
  t.equal(sender.handedOff, 1);
  t.equal(receiver.receivedCount, 1);
  sender.peers(null);
  t.equal(await ask(a.port), "A", "no other ready worker: kept");
});

t.test("slack 0 never hands on", async (t) => {
  const balancer = new ConnectionBalancer({
    slack: 0,
    held: () => 100,
    changed: () => undefined,
    handOff: () => {
      t.fail("handed on");
      return true;
    },
  });
  balancer.peers(0);
  const a = await workerLike("A", balancer);
  t.teardown(() => {
    a.listener.close();
    a.http.close();
  });
  t.equal(await ask(a.port), "A");
});
