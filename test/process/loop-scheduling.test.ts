/**
 * LOOP_SCHED and LOOP_NICE act on each worker's event-loop thread only: its scoring threads keep
 * SCHED_OTHER and nice 0 (Linux keeps both per thread; read here from /proc).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import t, { type Test } from "tap";
import { type RunningServer, startServer, waitFor } from "../helpers/server.js";

const SCHED_OTHER = 0;
const SCHED_BATCH = 3;

interface ThreadSched {
  nice: number;
  policy: number;
}

/** Threads named `name` (/proc/<pid>/task/<tid>/comm: Node 24 names its worker_threads "WorkerThread"). */
function threadsNamed(pid: number, name: string): number[] {
  return readdirSync(`/proc/${pid}/task`)
    .filter((tid) => readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() === name)
    .map(Number);
}

/** Field `n` (1-based, as proc(5) numbers them) of each thread's /proc/<pid>/task/<tid>/stat, by thread id. */
function threadStat(pid: number, ...n: number[]): Map<number, number[]> {
  const threads = new Map<number, number[]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    // Fields after the command's closing parenthesis start at field 3.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    threads.set(
      Number(tid),
      n.map((field) => Number(fields[field - 3])),
    );
  }
  return threads;
}

/** Nice value and scheduling policy of each thread of `pid` (stat fields 19 and 41), by thread id. */
function schedByThread(pid: number): Map<number, ThreadSched> {
  const threads = new Map<number, ThreadSched>();
  for (const [tid, [nice, policy]] of threadStat(pid, 19, 41)) threads.set(tid, { nice, policy });
  return threads;
}

/** The thread of `pid` other than `except` that has used the most CPU (utime + stime, fields 14 and 15) so far. */
function busiestBesides(pid: number, except: number): number {
  let busiest = -1;
  let most = -1;
  for (const [tid, [utime, stime]] of threadStat(pid, 14, 15))
    if (tid !== except && utime + stime > most) [busiest, most] = [tid, utime + stime];
  return busiest;
}

/** forestd with one worker and one scoring thread, stopped at the test's end; and its worker's pid. */
async function oneWorker(
  t: Test,
  env: Record<string, string>,
): Promise<{ server: RunningServer; worker: number }> {
  const server = await startServer({ WORKERS: "1", THREADS: "1", ...env });
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
  return { server, worker };
}

const linux = existsSync("/proc/self/task");

t.test(
  "by default the event loop is SCHED_BATCH; with LOOP_NICE=7 also niced; scoring threads are neither",
  { skip: !linux },
  async (t) => {
    const { server, worker } = await oneWorker(t, { LOOP_NICE: "7", INLINE_SCORING_MAX_US: "0" });
    // Work for the scoring thread, so that it stands out by its CPU time (see below).
    const rows = Array.from({ length: 2000 }, (_, i) => [150 + (i % 50), 50 + (i % 40), 36 + (i % 10)]);
    for (let i = 0; i < 20; i++) {
      const scored = await fetch(`${server.url}/predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ instances: rows }),
      });
      await scored.arrayBuffer();
      if (scored.status !== 200) t.fail(`prediction ${i}: ${scored.status}`);
    }
    const threads = schedByThread(worker);
    t.same(threads.get(worker), { nice: 7, policy: SCHED_BATCH }, "the event loop");
    // The scoring thread: Node 24 names worker_threads "WorkerThread" (THREADS=1: piscina's one);
    // Node 22 names every thread "node", so there it is the one that did the scoring — with
    // INLINE_SCORING_MAX_US=0 every row went through it, so no thread but the loop used more CPU.
    const scoring = busiestBesides(worker, worker);
    if (Number(process.versions.node.split(".")[0]) >= 24)
      t.same(threadsNamed(worker, "WorkerThread"), [scoring], "the one WorkerThread did the scoring");
    t.same(threads.get(scoring), { nice: 0, policy: SCHED_OTHER }, "the scoring thread keeps its own");
    const primary = server.child.pid as number;
    t.same(schedByThread(primary).get(primary), { nice: 0, policy: SCHED_OTHER }, "the primary is untouched");
  },
);

t.test("LOOP_SCHED=normal leaves the event loop SCHED_OTHER", { skip: !linux }, async (t) => {
  const { worker } = await oneWorker(t, { LOOP_SCHED: "normal" });
  t.same(schedByThread(worker).get(worker), { nice: 0, policy: SCHED_OTHER });
});

t.test(
  "without chrt the worker still starts: a warning, and the loop stays SCHED_OTHER",
  { skip: !linux },
  async (t) => {
    // PATH names no directory, so the worker cannot find chrt (nothing else in forestd needs PATH).
    const { server, worker } = await oneWorker(t, { PATH: "/nonexistent" });
    t.same(schedByThread(worker).get(worker), { nice: 0, policy: SCHED_OTHER });
    // Log lines are written asynchronously: the warning may follow the worker's readiness.
    const warning = () => server.events().find((e) => e.event === "loop_sched");
    await waitFor(() => warning() !== undefined, 5000).catch(() => undefined);
    t.match(warning(), { level: 40, msg: /cannot give the event loop SCHED_BATCH \(chrt: .*ENOENT/ });
  },
);
