/**
 * Arguments of a development script: `--help` (or `-h`) prints its usage and exits 0; an unknown or
 * malformed option prints what is wrong and the usage, and exits 2 — no stack trace.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";

export function scriptArgs<T extends ParseArgsConfig>(
  usage: string,
  config: T,
  args: string[] = process.argv.slice(2),
): ReturnType<typeof parseArgs<T>> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  try {
    return parseArgs({ ...config, args }) as ReturnType<typeof parseArgs<T>>;
  } catch (error) {
    if (!(error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) throw error;
    process.stderr.write(`${(error as Error).message}\n\n${usage.trim()}\n`);
    process.exit(2);
  }
}
