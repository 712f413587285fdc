/**
 * A worker exits only once the connections it handed on are written to the primary: a message with
 * a handle waits for the primary's acknowledgement and the next ones queue inside the worker, where
 * an exit drops them (workers/process/sent-to-primary.ts).
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import t from "tap";

const child = fileURLToPath(new URL("../helpers/handoff-child.js", import.meta.url));

/** How many handles a child that hands on three, then exits as `mode` says, delivers. */
function delivered(mode: "exit" | "wait"): Promise<number> {
  return new Promise((resolve, reject) => {
    const forked = fork(child, [mode], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let handles = 0;
    forked.on("message", (message: { type?: string }, handle?: unknown) => {
      if (message?.type === "handoff" && handle) {
        handles++;
        (handle as { destroy(): void }).destroy();
      }
    });
    forked.once("error", reject);
    forked.once("exit", () => setTimeout(() => resolve(handles), 100));
  });
}

t.test("exiting at once drops the handles still queued (what the wait is for)", async (t) => {
  t.ok((await delivered("exit")) < 3, "fewer than three arrive");
});

t.test("waiting until they are written delivers every one", async (t) => {
  t.equal(await delivered("wait"), 3, "all three arrive");
});
