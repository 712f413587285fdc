/**
 * V8's platform threads go to nice 19 (Linux): a model load's garbage collection and compilation
 * then take only CPU the request threads leave. Read back from /proc, thread by thread.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import t from "tap";
import { lowerV8BackgroundThreads } from "../../contract/background-threads.js";

/** Each thread of this process: its name and nice value (/proc/self/task/TID/stat, field 19). */
function threads(): { name: string; nice: number }[] {
  return readdirSync("/proc/self/task").map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), nice: Number(fields[16]) };
  });
}

t.test("V8's platform threads at nice 19, every other thread as it was", async (t) => {
  if (!existsSync("/proc/self/task")) {
    t.equal(lowerV8BackgroundThreads(), 0, "without /proc nothing is found or changed");
    return;
  }
  const before = threads();
  const v8 = before.filter((th) => th.name === "V8Worker");
  // Node 24 names its platform threads (nodejs/node#56416); a Node that does not leaves every
  // thread named "node", and nothing can be told apart: nothing is changed then.
  if (Number(process.versions.node.split(".")[0]) >= 24)
    t.ok(v8.length > 0, `Node ${process.versions.node} names them V8Worker`);
  t.equal(lowerV8BackgroundThreads(), v8.length, "each is found");
  const after = threads();
  t.same(
    after.filter((th) => th.name === "V8Worker").map((th) => th.nice),
    v8.map(() => 19),
  );
  t.same(
    after.filter((th) => th.name !== "V8Worker").map((th) => th.nice),
    before.filter((th) => th.name !== "V8Worker").map((th) => th.nice),
    "the main thread and the others keep their priority",
  );
});
