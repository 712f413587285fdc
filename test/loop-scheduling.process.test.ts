/**
 * LOOP_NICE lowers the priority of each worker's event-loop thread only: its scoring threads keep
 * theirs (Linux nice values are per thread, read here from /proc).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import t from "tap";
import { startServer } from "./helpers/server.js";

/** Nice value of each thread of `pid` (field 19 of /proc/<pid>/task/<tid>/stat), by thread id. */
function niceByThread(pid: number): Map<number, number> {
  const nice = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    nice.set(Number(tid), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
  }
  return nice;
}

t.test(
  "LOOP_NICE=7: the worker's main thread at 7, its other threads at 0",
  { skip: !existsSync("/proc/self/task") },
  async (t) => {
    const server = await startServer({ WORKERS: "1", THREADS: "1", LOOP_NICE: "7" });
    t.teardown(() => server.stop());
    const ok = await fetch(`${server.url}/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ height: 180, weight: 80, shoe_size: 44 }),
    });
    t.equal(ok.status, 200, "it serves");
    const primary = server.child.pid as number;
    const [worker] = readFileSync(`/proc/${primary}/task/${primary}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    const nice = niceByThread(worker);
    t.equal(nice.get(worker), 7, "the event loop is niced");
    t.ok(
      [...nice].some(([tid, n]) => tid !== worker && n === 0),
      "the scoring thread (and the rest) are not",
    );
    t.equal(niceByThread(primary).get(primary), 0, "the primary is not");
  },
);
