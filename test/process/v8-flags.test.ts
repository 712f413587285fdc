/**
 * V8_FLAGS for real: workers start with the flags this Node's V8 knows (on their command line,
 * read from /proc), the primary warns of the others, and the workers still serve.
 */
import { existsSync, readFileSync } from "node:fs";
import t from "tap";
import { type RunningServer, startServer } from "../helpers/server.js";

/** The command line of each worker (the primary's children), as arguments. */
function workerCommandLines(server: RunningServer): string[][] {
  const primary = server.child.pid as number;
  return readFileSync(`/proc/${primary}/task/${primary}/children`, "utf8")
    .trim()
    .split(/\s+/)
    .map((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean));
}

async function predicts(server: RunningServer): Promise<number> {
  const response = await fetch(`${server.url}/predict`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ height: 180, weight: 80, shoe_size: 44 }),
  });
  await response.arrayBuffer();
  return response.status;
}

const linux = existsSync("/proc/self/task");

t.test(
  "known flags reach the workers; an unknown one is left out with a warning",
  { skip: !linux },
  async (t) => {
    const server = await startServer({
      WORKERS: "2",
      // Flags every supported Node's V8 has (22 and 24), around one none has.
      V8_FLAGS: "--max-semi-space-size=8 --no-such-v8-flag-for-forestd --stack-trace-limit=20",
    });
    t.teardown(() => server.stop());
    t.equal(await predicts(server), 200, "it serves");
    const lines = workerCommandLines(server);
    t.equal(lines.length, 2, "two workers");
    for (const args of lines) {
      const script = args.findIndex((a) => a.endsWith("worker-main.js"));
      const nodeFlags = args.slice(1, script);
      t.same(nodeFlags, ["--max-semi-space-size=8", "--stack-trace-limit=20"]);
    }
    const warning = server.events().find((e) => e.event === "v8_flags");
    t.same(warning?.unknown, ["--no-such-v8-flag-for-forestd"], "the primary names the flag it left out");
  },
);

t.test("V8_FLAGS=none starts workers with none", { skip: !linux }, async (t) => {
  const server = await startServer({ WORKERS: "1", V8_FLAGS: "none" });
  t.teardown(() => server.stop());
  t.equal(await predicts(server), 200, "it serves");
  const [args] = workerCommandLines(server);
  t.ok(args[1].endsWith("worker-main.js"), `no flags before the script: ${args.slice(1).join(" ")}`);
});
