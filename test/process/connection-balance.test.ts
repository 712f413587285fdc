/**
 * BALANCE_CONNECTIONS: 32 keep-alive connections opened at once end up shared between the two
 * workers, each answered on its own connection, although one worker's accept loop may take them
 * all from the shared socket. Who holds which connection is read from /proc (each worker's socket
 * descriptors against the established connections of /proc/net/tcp on the server's port).
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { connect, type Socket } from "node:net";
import t from "tap";
import { startServer, waitFor } from "../helpers/server.js";

const CONNECTIONS = 32;

/** Inodes of the established TCP connections whose local port is `port` (/proc/net/tcp, IPv4). */
function establishedInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const localPort = Number.parseInt(f[1].split(":")[1], 16);
    if (localPort === port && f[3] === "01") inodes.add(f[9]);
  }
  return inodes;
}

/** How many of `inodes` process `pid` holds a descriptor of. */
function held(pid: number, inodes: Set<string>): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1])) n++;
    } catch {
      // A descriptor closed meanwhile.
    }
  }
  return n;
}

/** `count` connections opened at once, each sending one keep-alive request; resolves with the answers. */
async function burst(port: number, count: number): Promise<{ sockets: Socket[]; statuses: string[] }> {
  const sockets: Socket[] = [];
  const answers = Array.from({ length: count }, () => {
    const socket = connect(port, "127.0.0.1");
    sockets.push(socket);
    return new Promise<string>((resolve, reject) => {
      socket.on("connect", () => socket.write("GET /healthz HTTP/1.1\r\nHost: forestd\r\n\r\n"));
      socket.once("data", (d) => resolve(d.toString().split("\r\n")[0]));
      socket.on("error", reject);
    });
  });
  return { sockets, statuses: await Promise.all(answers) };
}

t.test("a burst of keep-alive connections is shared between the workers, every one answered", async (t) => {
  const server = await startServer({ WORKERS: "2", THREADS: "1", HEADERS_TIMEOUT: "1" });
  t.teardown(() => server.stop());
  const primary = server.child.pid as number;
  // Both workers serving, and each told (by a heartbeat's answer) what the other holds.
  await waitFor(
    () => server.events().filter((e) => e.event === "worker_ready" && e.pid !== primary).length >= 2,
    30_000,
  );
  await new Promise((r) => setTimeout(r, 1200));
  const workers = readFileSync(`/proc/${primary}/task/${primary}/children`, "utf8")
    .trim()
    .split(/\s+/)
    .map(Number);
  t.equal(workers.length, 2, "two workers");
  for (let round = 1; round <= 3; round++) {
    const { sockets, statuses } = await burst(server.port, CONNECTIONS);
    t.same(new Set(statuses), new Set(["HTTP/1.1 200 OK"]), `round ${round}: every connection answered`);
    const inodes = establishedInodes(server.port);
    const split = workers.map((pid) => held(pid, inodes));
    t.comment(`round ${round}: split ${split.join("/")}`);
    t.equal(split[0] + split[1], CONNECTIONS, "every connection held by one worker, the primary holds none");
    t.equal(held(primary, inodes), 0, "no descriptor left in the primary");
    t.ok(Math.abs(split[0] - split[1]) <= 4, `within twice BALANCE_CONNECTIONS of even (${split.join("/")})`);
    if (round === 3) {
      // A second request on every connection, moved or not.
      for (const s of sockets) s.write("GET /healthz HTTP/1.1\r\nHost: forestd\r\nConnection: close\r\n\r\n");
      const again = await Promise.all(
        sockets.map(
          (s) =>
            new Promise<string>((resolve) => s.once("data", (d) => resolve(d.toString().split("\r\n")[0]))),
        ),
      );
      t.same(
        new Set(again),
        new Set(["HTTP/1.1 200 OK"]),
        "a second request on each connection is answered too",
      );
    }
    for (const s of sockets) s.destroy();
    // The closes reach the workers' counts, and through them the primary, before the next burst.
    await waitFor(() => establishedInodes(server.port).size === 0, 10_000);
    await new Promise((r) => setTimeout(r, 200));
  }

  // Slow clients are still cut off on every connection, kept or handed on (HEADERS_TIMEOUT=1).
  const slow = await Promise.all(
    Array.from({ length: 8 }, () => {
      const socket = connect(server.port, "127.0.0.1");
      return new Promise<string>((resolve, reject) => {
        socket.on("connect", () => socket.write("POST /predict HTTP/1.1\r\nHost: forestd\r\n"));
        let text = "";
        socket.on("data", (d) => {
          text += d;
        });
        socket.on("close", () => resolve(text.split("\r\n")[0]));
        // Without the check, the server would hold these forever.
        socket.setTimeout(10_000, () => socket.destroy());
        socket.on("error", reject);
      });
    }),
  );
  t.same(
    new Set(slow),
    new Set(["HTTP/1.1 408 Request Timeout"]),
    "headers never finished: 408, connection closed",
  );
});

t.test(
  "a worker that has gone quiet is given no connections: a burst beside a stopped one is answered",
  async (t) => {
    // TIMEOUT is long: the stopped worker stays alive (and ready, as far as the supervisor knows) for
    // the whole test, so a connection handed to it would never be answered.
    const server = await startServer({ WORKERS: "2", THREADS: "1", TIMEOUT: "60" });
    const primary = server.child.pid as number;
    await waitFor(
      () => server.events().filter((e) => e.event === "worker_ready" && e.pid !== primary).length >= 2,
      30_000,
    );
    await new Promise((r) => setTimeout(r, 1200));
    const [stopped] = readFileSync(`/proc/${primary}/task/${primary}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    process.kill(stopped, "SIGSTOP");
    t.teardown(async () => {
      process.kill(stopped, "SIGCONT");
      await server.stop();
    });
    // Longer than the quiet bound: the primary has missed several of its heartbeats.
    await new Promise((r) => setTimeout(r, 2500));
    const answered = burst(server.port, CONNECTIONS);
    const timedOut = new Promise<"timed out">((r) => setTimeout(() => r("timed out"), 10_000).unref());
    const outcome = await Promise.race([answered, timedOut]);
    t.not(outcome, "timed out", "every connection answered within 10 s, none left with the stopped worker");
    if (outcome !== "timed out") {
      t.same(new Set(outcome.statuses), new Set(["HTTP/1.1 200 OK"]), "every answer a 200");
      const inodes = establishedInodes(server.port);
      t.equal(held(stopped, inodes), 0, "the stopped worker holds none of them");
      for (const s of outcome.sockets) s.destroy();
    }
  },
);
