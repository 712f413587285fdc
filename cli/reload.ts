/** `forestd reload`: sends SIGHUP to a running primary named by its pid file. */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type Command, UsageError } from "./usage.js";

export const reloadCommand: Command = {
  usage: `  forestd reload [--pid-file FILE]
      Asks a running server to reload its settings and model without downtime (SIGHUP).`,
  run(args) {
    const { values } = parseArgs({ args, options: { "pid-file": { type: "string", short: "p" } } });
    const file = values["pid-file"] ?? process.env.PID_FILE;
    if (!file)
      throw new UsageError("reload needs --pid-file FILE (or PID_FILE) naming the primary's pid file");
    let pid: number;
    try {
      pid = Number(readFileSync(file, "utf8").trim());
    } catch (error) {
      throw new UsageError(`cannot read pid file ${file}: ${(error as Error).message}`);
    }
    if (!Number.isInteger(pid) || pid <= 0)
      throw new UsageError(`pid file ${file} does not hold a process id`);
    try {
      process.kill(pid, "SIGHUP");
    } catch (error) {
      throw new UsageError(`cannot signal process ${pid}: ${(error as Error).message}`);
    }
    process.stdout.write(`sent SIGHUP to ${pid}\n`);
    return 0;
  },
};
