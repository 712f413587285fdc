/**
 * Scoring threads that misbehave on cue, for tests: test/fixtures/threads/scripted-thread.mjs,
 * passed as the pool's thread file (testApp's `threadFile`, or FORESTD_SCORING_THREAD for a whole
 * server). A task whose first value is one of SCRIPT's hangs, fails, is held or answers garbage.
 */
import { join } from "node:path";
import { ROOT } from "./fixtures.js";

export const SCRIPTED_THREAD = join(ROOT, "test", "fixtures", "threads", "scripted-thread.mjs");

export const SCRIPT = { hang: -7001, fail: -7002, hold: -7003, garbage: -7004, slow: -7005 } as const;

/** A positional row of `width` values that triggers `what` when it leads a task. */
export function scriptedRow(what: keyof typeof SCRIPT, width: number): number[] {
  return [SCRIPT[what], ...Array.from({ length: width - 1 }, () => 0)];
}

/**
 * The held tasks of scripted threads: `held()` resolves when a thread announces one (an event,
 * not a sleep); `release()` lets every held task finish.
 */
export function heldThreads() {
  const channel = new BroadcastChannel("forestd-test-thread");
  let announced = 0;
  let waiters: { count: number; resolve: () => void }[] = [];
  channel.onmessage = (event: MessageEvent) => {
    if (event.data !== "held") return;
    announced++;
    const due = waiters.filter((w) => announced >= w.count);
    waiters = waiters.filter((w) => announced < w.count);
    for (const w of due) w.resolve();
  };
  return {
    /** Resolves once `count` tasks in all have been held. */
    held(count = 1): Promise<void> {
      if (announced >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    release(): void {
      channel.postMessage("release");
    },
    close(): void {
      channel.close();
    },
  };
}
