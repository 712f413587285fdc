/**
 * The pino logger of the primary and of each worker, in the LOG_FORMAT chosen. json-iso changes
 * only how "time" and "level" are written; every other field is the same in both formats.
 */
import pino, { type DestinationStream, type Logger } from "pino";
import type { Settings } from "./settings.js";

export function createLogger(
  settings: Pick<Settings, "log_level" | "log_format">,
  base: Record<string, unknown>,
  destination?: DestinationStream,
): Logger {
  if (settings.log_format === "json-iso") {
    return pino(
      {
        level: settings.log_level,
        base,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      destination,
    );
  }
  return pino({ level: settings.log_level, base }, destination);
}
