/**
 * Every forestd setting, declared once: name, env var, CLI flag, typebox schema, default, and the
 * line of documentation that `forestd serve --help` and the README's table are made from
 * (after Gunicorn's gunicorn/config.py). Loading and precedence live in load-settings.ts.
 */
import { availableParallelism } from "node:os";
import { type Static, type TSchema, Type } from "typebox";

export type Kind = "integer" | "number" | "boolean" | "string" | "list";

export interface SettingSpec<S extends TSchema = TSchema> {
  /** Key in a config file, and the name errors use: `workers`. */
  readonly key: string;
  /** Environment variable: `WORKERS`. Extra accepted names (e.g. `PORT`) are handled in load-settings. */
  readonly env: string;
  /** Long CLI flag without dashes: `workers`. */
  readonly flag: string;
  readonly short?: string;
  readonly section: "server" | "workers" | "model" | "limits" | "observability";
  readonly kind: Kind;
  readonly schema: S;
  /** The default, or a function computing it from the environment (e.g. the CPU count). */
  readonly default: Static<S> | ((env: NodeJS.ProcessEnv) => Static<S>);
  /** How the default reads in --help and the README when it is computed. */
  readonly defaultDoc?: string;
  readonly doc: string;
  /** Gunicorn's setting of the same role, for the README's mapping table. */
  readonly gunicorn?: string;
}

const seconds = (min: number) => Type.Number({ minimum: min, maximum: 86_400 });
const count = (min: number, max: number) => Type.Integer({ minimum: min, maximum: max });

function cpuCount(): number {
  return Math.max(1, availableParallelism());
}

export const SETTINGS = [
  {
    key: "bind",
    env: "BIND",
    flag: "bind",
    short: "b",
    section: "server",
    kind: "list",
    schema: Type.Array(Type.String({ pattern: "^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):[0-9]{1,5}$" }), {
      minItems: 1,
      maxItems: 16,
    }),
    default: (env: NodeJS.ProcessEnv) => [`0.0.0.0:${env.PORT ?? "8000"}`],
    defaultDoc: "0.0.0.0:$PORT, else 0.0.0.0:8000",
    doc: "Addresses to listen on, HOST:PORT ([::1]:8000 for IPv6); repeat the flag or comma-separate for several.",
    gunicorn: "bind (-b)",
  },
  {
    key: "workers",
    env: "WORKERS",
    flag: "workers",
    short: "w",
    section: "workers",
    kind: "integer",
    schema: count(1, 1024),
    default: (env: NodeJS.ProcessEnv) => {
      const n = Number(env.WEB_CONCURRENCY);
      return Number.isInteger(n) && n >= 1 ? n : cpuCount();
    },
    defaultDoc: "$WEB_CONCURRENCY, else the number of CPUs",
    doc: "HTTP worker processes (each a Fastify server sharing the port).",
    gunicorn: "workers (-w)",
  },
  {
    key: "threads",
    env: "THREADS",
    flag: "threads",
    section: "workers",
    kind: "integer",
    schema: count(1, 256),
    default: 1,
    doc: "Scoring threads (piscina) per worker; each loads the model once.",
    gunicorn: "threads",
  },
  {
    key: "keepalive",
    env: "KEEPALIVE",
    flag: "keepalive",
    section: "server",
    kind: "number",
    schema: seconds(0),
    default: 75,
    doc: "Seconds an idle keep-alive connection stays open. Longer than Nginx's upstream keepalive_timeout (60 s), so the proxy, not forestd, closes idle connections.",
    gunicorn: "keepalive",
  },
  {
    key: "timeout",
    env: "TIMEOUT",
    flag: "timeout",
    short: "t",
    section: "workers",
    kind: "number",
    schema: seconds(1),
    default: 30,
    doc: "Seconds a worker may stay silent (no heartbeat) before it is killed and replaced.",
    gunicorn: "timeout (-t)",
  },
  {
    key: "graceful_timeout",
    env: "GRACEFUL_TIMEOUT",
    flag: "graceful-timeout",
    section: "workers",
    kind: "number",
    schema: seconds(0),
    default: 30,
    doc: "Seconds a stopping worker has to finish in-flight requests before it is killed.",
    gunicorn: "graceful_timeout",
  },
  {
    key: "max_requests",
    env: "MAX_REQUESTS",
    flag: "max-requests",
    section: "workers",
    kind: "integer",
    schema: count(0, 2 ** 31),
    default: 0,
    doc: "Recycle a worker after this many requests (0 = never).",
    gunicorn: "max_requests",
  },
  {
    key: "max_requests_jitter",
    env: "MAX_REQUESTS_JITTER",
    flag: "max-requests-jitter",
    section: "workers",
    kind: "integer",
    schema: count(0, 2 ** 31),
    default: 0,
    doc: "Add a random 0..N to max_requests per worker, so workers do not all recycle at once.",
    gunicorn: "max_requests_jitter",
  },
  {
    key: "backlog",
    env: "BACKLOG",
    flag: "backlog",
    section: "server",
    kind: "integer",
    schema: count(1, 65_535),
    default: 2048,
    doc: "Pending-connection queue length passed to listen().",
    gunicorn: "backlog",
  },
  {
    key: "body_limit",
    env: "BODY_LIMIT",
    flag: "body-limit",
    section: "limits",
    kind: "integer",
    schema: count(1024, 1 << 30),
    default: 10 * 1024 * 1024,
    defaultDoc: "10485760 (10 MiB)",
    doc: "Largest request body in bytes; larger bodies get 413.",
    gunicorn: "limit_request_line / limit_request_field_size (closest)",
  },
  {
    key: "max_batch_rows",
    env: "MAX_BATCH_ROWS",
    flag: "max-batch-rows",
    section: "workers",
    kind: "integer",
    schema: count(1, 1_000_000),
    default: 4096,
    doc: "Most rows coalesced into one scoring task for a thread.",
  },
  {
    key: "max_queue",
    env: "MAX_QUEUE",
    flag: "max-queue",
    section: "limits",
    kind: "integer",
    schema: count(0, 100_000_000),
    default: 100_000,
    doc: "Most rows waiting for a scoring thread in one worker; beyond it requests get 503 (0 = no waiting at all).",
  },
  {
    key: "max_queue_wait",
    env: "MAX_QUEUE_WAIT",
    flag: "max-queue-wait",
    section: "limits",
    kind: "number",
    schema: Type.Number({ minimum: 0, maximum: 3600 }),
    default: 0.05,
    doc: "Longest expected wait, in seconds, for a scoring thread (from recent scoring rates) that a request is admitted to when all threads are busy; beyond it the request gets 503 at once, before its body is read. Bounds the latency of accepted requests under overload.",
  },
  {
    key: "request_deadline",
    env: "REQUEST_DEADLINE",
    flag: "request-deadline",
    section: "limits",
    kind: "number",
    schema: Type.Number({ minimum: 0.001, maximum: 3600 }),
    default: 30,
    doc: "Default seconds a request may wait for scoring; rows not scored by then get 504. A request may ask for less with X-Request-Timeout-Ms (OIP: parameters.timeout, ms).",
  },
  {
    key: "max_request_rows",
    env: "MAX_REQUEST_ROWS",
    flag: "max-request-rows",
    section: "limits",
    kind: "integer",
    schema: count(1, 10_000_000),
    default: 100_000,
    doc: "Most rows in one request; more get 413.",
  },
  {
    key: "headers_timeout",
    env: "HEADERS_TIMEOUT",
    flag: "headers-timeout",
    section: "limits",
    kind: "number",
    schema: seconds(1),
    default: 10,
    doc: "Seconds a client has to send its request headers (slow-client defence).",
  },
  {
    key: "client_timeout",
    env: "CLIENT_TIMEOUT",
    flag: "client-timeout",
    section: "limits",
    kind: "number",
    schema: seconds(1),
    default: 30,
    doc: "Seconds a client has to send its whole request, body included.",
  },
  {
    key: "keepalive_requests",
    env: "KEEPALIVE_REQUESTS",
    flag: "keepalive-requests",
    section: "limits",
    kind: "integer",
    schema: count(0, 2 ** 31),
    default: 0,
    doc: "Most requests on one keep-alive connection before it is closed (0 = no cap).",
  },
  {
    key: "max_header_size",
    env: "MAX_HEADER_SIZE",
    flag: "max-header-size",
    section: "limits",
    kind: "integer",
    schema: count(1024, 1 << 20),
    default: 16_384,
    doc: "Largest request head (request line and headers) in bytes; larger gets 431.",
    gunicorn: "limit_request_field_size",
  },
  {
    key: "max_headers_count",
    env: "MAX_HEADERS_COUNT",
    flag: "max-headers-count",
    section: "limits",
    kind: "integer",
    schema: count(1, 10_000),
    default: 100,
    doc: "Most request headers read; further ones are ignored.",
    gunicorn: "limit_request_fields",
  },
  {
    key: "max_url_length",
    env: "MAX_URL_LENGTH",
    flag: "max-url-length",
    section: "limits",
    kind: "integer",
    schema: count(64, 1 << 20),
    default: 8192,
    doc: "Longest request URL in bytes; longer gets 414.",
    gunicorn: "limit_request_line",
  },
  {
    key: "max_event_loop_delay",
    env: "MAX_EVENT_LOOP_DELAY",
    flag: "max-event-loop-delay",
    section: "limits",
    kind: "integer",
    schema: count(0, 60_000),
    default: 200,
    doc: "Shed prediction requests (503) while a worker's mean event-loop delay (sampled every 250 ms) exceeds this many ms (0 = off).",
  },
  {
    key: "max_event_loop_utilization",
    env: "MAX_EVENT_LOOP_UTILIZATION",
    flag: "max-event-loop-utilization",
    section: "limits",
    kind: "number",
    schema: Type.Number({ minimum: 0, maximum: 1 }),
    default: 0,
    doc: "Shed prediction requests while a worker's event-loop utilisation exceeds this share (0 = off, the default: a saturated but healthy worker runs near 1, and a just-started one too).",
  },
  {
    key: "max_heap_bytes",
    env: "MAX_HEAP_BYTES",
    flag: "max-heap-bytes",
    section: "limits",
    kind: "integer",
    schema: count(0, 2 ** 45),
    default: 0,
    doc: "Shed prediction requests while a worker's used heap exceeds this (0 = off).",
  },
  {
    key: "max_rss_bytes",
    env: "MAX_RSS_BYTES",
    flag: "max-rss-bytes",
    section: "limits",
    kind: "integer",
    schema: count(0, 2 ** 45),
    default: 0,
    doc: "Shed prediction requests while a worker's resident memory exceeds this (0 = off).",
  },
  {
    key: "model_path",
    env: "MODEL_PATH",
    flag: "model",
    short: "m",
    section: "model",
    kind: "string",
    schema: Type.String(),
    default: "",
    defaultDoc: "the bundled model/default/model.json",
    doc: "XGBoost model file (.json or .ubj, as written by save_model).",
  },
  {
    key: "model_name",
    env: "MODEL_NAME",
    flag: "model-name",
    section: "model",
    kind: "string",
    schema: Type.String({ pattern: "^([A-Za-z0-9][A-Za-z0-9._-]{0,127})?$" }),
    default: "",
    defaultDoc: 'the model file\'s name without extension; "default" for the bundled model',
    doc: "Name the model answers to in /v2/models/{name}.",
  },
  {
    key: "metrics_port",
    env: "METRICS_PORT",
    flag: "metrics-port",
    section: "observability",
    kind: "integer",
    schema: count(0, 65_535),
    default: 9091,
    doc: "Port of the primary's cluster-wide /metrics (0 = off).",
  },
  {
    key: "forwarded_allow_ips",
    env: "FORWARDED_ALLOW_IPS",
    flag: "forwarded-allow-ips",
    section: "server",
    kind: "list",
    schema: Type.Array(Type.String({ minLength: 1 }), { maxItems: 256 }),
    default: ["127.0.0.1", "::1"],
    doc: "Proxies whose X-Forwarded-For is trusted (addresses or CIDRs; * trusts all).",
    gunicorn: "forwarded_allow_ips",
  },
  {
    key: "log_level",
    env: "LOG_LEVEL",
    flag: "log-level",
    section: "observability",
    kind: "string",
    schema: Type.Union([
      Type.Literal("fatal"),
      Type.Literal("error"),
      Type.Literal("warn"),
      Type.Literal("info"),
      Type.Literal("debug"),
      Type.Literal("trace"),
      Type.Literal("silent"),
    ]),
    default: "info",
    doc: "Log level: fatal, error, warn, info, debug, trace or silent.",
    gunicorn: "loglevel",
  },
  {
    key: "access_log",
    env: "ACCESS_LOG",
    flag: "access-log",
    section: "observability",
    kind: "boolean",
    schema: Type.Boolean(),
    default: true,
    doc: "One JSON line per request (method, path, status, duration, rows, client).",
    gunicorn: "accesslog",
  },
  {
    key: "pid_file",
    env: "PID_FILE",
    flag: "pid-file",
    short: "p",
    section: "server",
    kind: "string",
    schema: Type.String(),
    default: "",
    defaultDoc: "none",
    doc: "Write the primary's PID to this file.",
    gunicorn: "pidfile (-p)",
  },
] as const satisfies readonly SettingSpec[];

type Entry = (typeof SETTINGS)[number];
/** The resolved, validated, frozen settings. */
export type Settings = { readonly [E in Entry as E["key"]]: Static<E["schema"]> };
export type SettingKey = Entry["key"];
