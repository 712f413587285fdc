#!/usr/bin/env node
/**
 * The `forestd` command.
 *
 *   forestd serve [options]                                  run the server (primary + workers)
 *   forestd reload [--pid-file FILE]                         zero-downtime reload (SIGHUP)
 *   forestd predict [--model FILE] [--output KIND] < rows.json   score or explain a JSON array of rows
 *   forestd inspect [FILE] [--json]                          describe a model
 *   forestd healthcheck [serve options]                      exit 0 if the local server is live
 *
 * Only `serve` starts a primary (server/); the others need the engine or the settings alone.
 */
import { SettingsError } from "../config/settings-error.js";
import { ModelError, RowError, UnsupportedOutputError } from "../model/index.js";
import { healthcheckCommand } from "./healthcheck.js";
import { inspectCommand } from "./inspect.js";
import { predictCommand } from "./predict.js";
import { reloadCommand } from "./reload.js";
import { asksForHelp, type Command, UsageError } from "./usage.js";

const SERVE_USAGE = `  forestd serve [options]
      Starts the server (see forestd serve --help for every setting).`;

const COMMANDS: Readonly<Record<string, Command>> = {
  // serve's own --help lists every setting (config/settings.ts), so it reads its arguments itself.
  // The server (and every setting's schema) is loaded only for serve: importing it took two thirds
  // of a `forestd predict` or `inspect` run (~0.6 s of ~0.9 s).
  serve: { usage: SERVE_USAGE, run: async (args) => (await import("../server/serve.js")).serve(args) },
  reload: reloadCommand,
  predict: predictCommand,
  inspect: inspectCommand,
  healthcheck: healthcheckCommand,
};

const USAGE = `Usage:
${Object.values(COMMANDS)
  .map((c) => c.usage)
  .join("\n")}

Without a model file, the bundled default model (model/default/model.json) is used.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  try {
    if (command) {
      if (name !== "serve" && asksForHelp(rest)) {
        process.stdout.write(`Usage:\n${command.usage}\n`);
        return 0;
      }
      return await command.run(rest);
    }
    if (name === undefined || name === "help" || name === "--help" || name === "-h") {
      process.stdout.write(`${USAGE}\n`);
      return name === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command "${name}"`);
  } catch (error) {
    if (error instanceof SettingsError) {
      process.stderr.write(`forestd: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ModelError || error instanceof RowError || error instanceof UnsupportedOutputError) {
      process.stderr.write(`forestd: ${error.code}: ${error.message}\n`);
      return 1;
    }
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`forestd: ${(error as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
