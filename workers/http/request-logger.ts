/**
 * Fastify's per-request logger (`request.log`), made only when a request logs something.
 *
 * Fastify gives every request a pino child carrying its id; making one serialises the bindings and
 * builds a logger object, ~2 µs of a single-row request that almost never logs (the access line is
 * written by access-log.ts, not through request.log). This stands in for the child and makes the
 * real one, with the same bindings, on the first call.
 */
import type { FastifyBaseLogger } from "fastify";
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString } from "pino";

class RequestLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #options: ChildLoggerOptions;
  #made: FastifyBaseLogger | null = null;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  #logger(): FastifyBaseLogger {
    this.#made ??= this.#parent.child(this.#bindings, this.#options);
    return this.#made;
  }

  get level(): LevelWithSilentOrString {
    return this.#made?.level ?? this.#options.level ?? this.#parent.level;
  }
  set level(level: LevelWithSilentOrString) {
    this.#logger().level = level;
  }

  // Methods on the prototype, not arrow-function fields: seven closures per request would cost
  // what this saves.
  fatal(...args: unknown[]): void {
    this.#call("fatal", args);
  }
  error(...args: unknown[]): void {
    this.#call("error", args);
  }
  warn(...args: unknown[]): void {
    this.#call("warn", args);
  }
  info(...args: unknown[]): void {
    this.#call("info", args);
  }
  debug(...args: unknown[]): void {
    this.#call("debug", args);
  }
  trace(...args: unknown[]): void {
    this.#call("trace", args);
  }
  silent(...args: unknown[]): void {
    this.#call("silent", args);
  }

  #call(level: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent", args: unknown[]): void {
    const logger = this.#logger();
    (logger[level] as (...args: unknown[]) => void).apply(logger, args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, options);
  }
}

/** Fastify's `childLoggerFactory`: a request's logger, made when first used. */
export function lazyRequestLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  // LogFn's overloads (object, message, format arguments) are passed through as they are.
  return new RequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger;
}
