/**
 * How the scheduler treats a worker's event-loop thread, set once its scoring threads are running
 * (threads inherit their creator's policy and nice value, so those already started keep theirs; a
 * thread started later, one replacing a thread stuck past TIMEOUT, inherits the loop's).
 *
 * Why: where the loop and a scoring thread share a CPU (one core per worker, the common container
 * shape), every request that arrives wakes the loop, and a woken thread may preempt the running
 * one. Under overload most arrivals are only to be turned away, yet each such wake-up interrupts a
 * batch being scored. Both settings act on this thread alone: Linux keeps scheduling policy and
 * nice value per thread, and the main thread's id is the process id.
 */
import { spawnSync } from "node:child_process";
import { setPriority } from "node:os";
import type { Logger } from "pino";

/**
 * LOOP_SCHED=batch: SCHED_BATCH for this thread. A SCHED_BATCH thread that wakes does not preempt
 * the running one (its turn comes at the end of that thread's slice, ~1 ms), so the loop then
 * handles all that arrived meanwhile in one go. Node has no binding for sched_setscheduler, so
 * util-linux's chrt sets it (no privilege is needed to move between SCHED_OTHER and SCHED_BATCH).
 */
export function scheduleEventLoop(policy: "batch" | "normal", logger: Logger): void {
  // Scheduling policies as used here are Linux's; elsewhere the setting means nothing.
  if (policy !== "batch" || process.platform !== "linux") return;
  const chrt = spawnSync("chrt", ["--batch", "--pid", "0", String(process.pid)], {
    encoding: "utf8",
    timeout: 5000,
  });
  if (chrt.status !== 0) {
    const why = chrt.error?.message ?? (chrt.stderr.trim() || `exit status ${chrt.status}`);
    logger.warn(
      { event: "loop_sched", err: why },
      `cannot give the event loop SCHED_BATCH (chrt: ${why}); it stays SCHED_OTHER`,
    );
  }
}

/**
 * LOOP_NICE: lowers this thread's priority (setpriority(PRIO_PROCESS, 0) is the calling thread on
 * Linux), so that the scheduler gives scoring most of a contended CPU however many requests the
 * loop is turning away.
 */
export function niceEventLoop(nice: number, logger: Logger): void {
  try {
    setPriority(nice);
  } catch (error) {
    logger.warn({ event: "loop_nice", err: error }, `cannot set the event loop's nice value to ${nice}`);
  }
}
