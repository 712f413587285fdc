/** What every forestd command shares: its usage error, and how a command is declared. */

/** A mistake in how the command was called: printed with the usage text, exit 2. */
export class UsageError extends Error {}

export interface Command {
  /** One line per usage form, then what the command does (printed by `forestd COMMAND --help`). */
  readonly usage: string;
  run(args: string[]): number | Promise<number>;
}

/** Whether the arguments ask for help (`--help` or `-h` anywhere). */
export function asksForHelp(args: readonly string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}
