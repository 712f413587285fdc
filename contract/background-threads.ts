/**
 * V8's own background threads at the lowest priority (Linux; elsewhere nothing changes).
 *
 * A model is read and compiled in a thread of its own at nice 19, in the primary (validation,
 * server/validate-thread.ts) and in each worker (workers/thread/model-loader-thread.ts), so that a
 * load takes only the CPU that serving leaves. But the garbage a load makes is collected, and its
 * code optimised, by V8's platform threads ("V8Worker"), which every isolate of the process shares
 * and which start at the process's own priority. Measured: loading a 100-tree model took ~15 ms of
 * their CPU on an idle machine, and 50–65 ms per load in a worker pinned to one CPU beside a
 * scoring thread at half load — CPU taken at full priority from the other models' scoring, while
 * the load itself waited at nice 19 (their requests were shed as MAX_QUEUE_WAIT grew). At nice 19
 * those threads run on whatever CPU the request threads leave; while they lag, V8 does their share
 * of a collection on the thread that allocated (the event loop, a scoring thread, the loader), at
 * that thread's priority, as with --single-threaded-gc.
 */
import { readdirSync, readFileSync } from "node:fs";
import { setPriority } from "node:os";

/**
 * What Node names V8's platform threads (since nodejs/node#56416, in Node 24). A Node that names
 * no thread leaves them all "node", the event loop's too: nothing is told apart or changed then.
 */
const V8_THREAD_NAME = "V8Worker";
const LOWEST = 19;

/** Sets each of this process's V8 platform threads to nice 19; returns how many it found. */
export function lowerV8BackgroundThreads(): number {
  let tasks: string[];
  try {
    tasks = readdirSync("/proc/self/task");
  } catch {
    return 0; // not Linux: thread priorities are not this module's business there
  }
  let lowered = 0;
  for (const tid of tasks) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim() !== V8_THREAD_NAME) continue;
      // setpriority(PRIO_PROCESS, tid) sets one thread's nice value on Linux.
      setPriority(Number(tid), LOWEST);
      lowered++;
    } catch {
      // the thread is gone, or this system will not have it: it keeps its priority
    }
  }
  return lowered;
}
