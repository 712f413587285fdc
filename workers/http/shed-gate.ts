/**
 * The cheapest possible "no": when the scoring queue already holds more than MAX_QUEUE_WAIT of
 * work, scoring requests are answered 503 by the raw Node request listener, before Fastify
 * routes them and before their bodies are read or parsed. Under overload most requests are
 * turned away, so each rejection must cost a small fraction of an accepted request or the
 * rejections themselves starve the scoring threads of CPU.
 *
 * A request sent with `Expect: 100-continue` reaches the gate before its body is even sent: turned
 * away, it is answered 503 with `Connection: close` (the client never sends the body, so the
 * connection cannot carry another request); let through, it gets its 100 Continue then.
 *
 * Shed requests are counted (forestd_rejected_total{reason="overload"} and forestd_http_requests_total)
 * but not access-logged: a log line each would cost more than the answer.
 *
 * Retry storms: a client that ignores Retry-After and resends as soon as it is answered makes
 * rejections as fast as the gate can give them, and on a CPU shared with the scoring thread those
 * take the CPU that scoring needs (measured: 64 such clients halved goodput). A connection turned
 * away again less than RETRY_STORM_DELAY after its last 503 gets this 503 that much later, and after
 * STORM_STREAK_BEFORE_DOUBLING such resends each further one twice as late (jittered: between half
 * and all of it), up to the Retry-After it was given (1 s): a storming connection then costs a handful of rejections, then one a second. A fixed delay was not enough
 * where a rejection costs much against a request served: one model offered ten times what a
 * pinned worker scores (100 rows of 300 trees, ~1.8 ms each) over 256 connections made ~5 500
 * rejections a second, which at ~0.1 ms each took half the CPU from the other models' requests.
 * A client that waits (paced, or honouring Retry-After) is never held, and the first hold is below
 * an unloaded request's latency.
 *
 * "At once" is judged from the connection's last answer, a 503 or one let through: one request let
 * through does not end a streak, or a model flooding over many connections, each let through now
 * and then as its model's queue drains, made ~6 rejections for every request it got through (each
 * let-through request started the connection's streak afresh at an immediate 503); a pause does
 * (the client waited), and so does a second request let through in a row (the connection is being
 * served: a busy client of another model, shed once, is not held for its next 503). And it is judged
 * as the event loop sees it: the loop's recent delay is added to RETRY_STORM_DELAY, or a loop
 * held up longer than that (the CPU it shares taken by scoring, or by the rejections themselves)
 * took every resend for a paused client, answered each at once and fell further behind.
 */
import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { WorkerMetrics } from "../process/metrics.js";
import { errorBody, errorHeaders, httpErrorSpec, mlflowErrorBody, OverloadedError } from "./errors.js";
import { REQUEST_ID_HEADER, requestId } from "./request-id.js";

/** A scoring request's route (as it is counted) and the model version it names. */
interface ScoringTarget {
  route: string;
  /** undefined: the default model (POST /predict). */
  name?: string;
  version?: string;
}

const PREDICT = /^\/predict\/([^/]+)(?:\/versions\/([^/]+))?$/;
const INFER = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/;
const INVOCATIONS = /^\/invocations\/([^/]+)(?:\/versions\/([^/]+))?$/;

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // not a name any model has: Fastify answers for it
  }
}

/** The scoring routes a request may be shed from; anything else goes on to Fastify (and its 404). */
export function scoringTarget(url: string): ScoringTarget | null {
  const path = url.split("?", 1)[0];
  if (path === "/predict") return { route: "/predict" };
  if (path === "/invocations") return { route: "/invocations" };
  let m = PREDICT.exec(path);
  if (m) {
    const version = m[2] === undefined ? undefined : decoded(m[2]);
    return {
      route: version === undefined ? "/predict/:name" : "/predict/:name/versions/:version",
      name: decoded(m[1]),
      version,
    };
  }
  m = INFER.exec(path);
  if (m) {
    const version = m[2] === undefined ? undefined : decoded(m[2]);
    return {
      route: version === undefined ? "/v2/models/:name/infer" : "/v2/models/:name/versions/:version/infer",
      name: decoded(m[1]),
      version,
    };
  }
  m = INVOCATIONS.exec(path);
  if (m) {
    const version = m[2] === undefined ? undefined : decoded(m[2]);
    return {
      route: version === undefined ? "/invocations/:name" : "/invocations/:name/versions/:version",
      name: decoded(m[1]),
      version,
    };
  }
  return null;
}

/**
 * Stands in for the request id while the body is built once. `<` and `>` are in no request id
 * (request-id.ts) and JSON.stringify writes them as they are, so the slot is found verbatim.
 */
const ID_SLOT = "<request-id>";

/**
 * The answer, built once from workers/errors.ts (the gate's whole point is to be cheap): the body
 * either side of its request id. request-id.ts keeps ids to one-byte characters that need no JSON
 * escaping, so a rejection costs two string concatenations and no JSON.stringify.
 */
function answer(protocol: "forestd" | "oip" | "mlflow"): {
  head: string;
  tail: string;
  fixedBytes: number;
  reason: string;
} {
  const error = new OverloadedError("the scoring queue is full (MAX_QUEUE_WAIT); try again shortly");
  // MLflow's error body has no request id (it is in the header): the slot ends the body.
  const body =
    protocol === "mlflow"
      ? JSON.stringify(mlflowErrorBody(error, 503)) + ID_SLOT
      : JSON.stringify(errorBody(error, 503, protocol === "oip", ID_SLOT));
  const parts = body.split(ID_SLOT);
  if (parts.length !== 2) throw new Error("shed-gate: the request id slot must occur once in the body");
  const [head, tail] = parts;
  const reason = httpErrorSpec(error.code)?.rejected as string;
  return { head, tail, fixedBytes: Buffer.byteLength(head) + Buffer.byteLength(tail), reason };
}
const RETRY = errorHeaders(503);
const PREDICT_ANSWER = answer("forestd");
const OIP_ANSWER = answer("oip");
const MLFLOW_ANSWER = answer("mlflow");

/** Marks a request that is waiting for 100 Continue before it sends its body. */
const EXPECTS_CONTINUE = Symbol("forestd.expectsContinue");

/**
 * Node answers `Expect: 100-continue` itself unless the server listens for checkContinue: route
 * such requests to the (gated) request listener instead, which decides.
 */
export function gateContinue(server: Server): void {
  server.on("checkContinue", (request: IncomingMessage, response: ServerResponse) => {
    (request as IncomingMessage & { [EXPECTS_CONTINUE]?: true })[EXPECTS_CONTINUE] = true;
    server.emit("request", request, response);
  });
}

/** A connection turned away: its resends at once since, and when it was last answered (performance.now()). */
interface Streak {
  streak: number;
  /** Its last answer: this 503, or a later request's, let through. */
  at: number;
  /** Requests let through since its last 503 (a second in a row ends the streak). */
  through: number;
}
/** Connections turned away lately. */
const lastShed = new WeakMap<Socket, Streak>();

/**
 * The event loop's recent delay (ms): the most a 10 ms timer ran late in the last 100–200 ms, or
 * how late it is now (a loop held up at this moment has not run its timers yet). Measured only
 * while requests are being shed, stopped after two quiet seconds. (Not monitorEventLoopDelay: its
 * histogram, reset from a timer of this one's, could lose the delay that timer's turn had seen.)
 */
class RecentLoopDelay {
  static readonly TICK_MS = 10;
  #timer: NodeJS.Timeout | null = null;
  #lastTick = 0;
  #windowStart = 0;
  #maxMs = 0;
  #previousMaxMs = 0;
  #lastShedAt = 0;

  /** A request is shed now: measure, from now on if not already. */
  watch(now: number): void {
    this.#lastShedAt = now;
    if (this.#timer !== null) return;
    this.#lastTick = now;
    this.#windowStart = now;
    this.#maxMs = 0;
    this.#previousMaxMs = 0;
    this.#timer = setInterval(() => this.#tick(), RecentLoopDelay.TICK_MS);
    this.#timer.unref();
  }

  #tick(): void {
    const now = performance.now();
    this.#maxMs = Math.max(this.#maxMs, now - this.#lastTick - RecentLoopDelay.TICK_MS);
    this.#lastTick = now;
    if (now - this.#windowStart < 100) return;
    this.#previousMaxMs = this.#maxMs;
    this.#maxMs = 0;
    this.#windowStart = now;
    if (now - this.#lastShedAt > 2000 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  get ms(): number {
    if (this.#timer === null) return 0;
    const late = performance.now() - this.#lastTick - RecentLoopDelay.TICK_MS;
    return Math.max(this.#previousMaxMs, this.#maxMs, late);
  }
}
const loopDelay = new RecentLoopDelay();

/** The longest a 503 is held: the Retry-After it carries (errorHeaders(503)). */
const MAX_HOLD_MS = 1000;
/**
 * Resends at once held `holdMs` each before the hold starts doubling: a connection caught in a
 * moment's overload (a load beside it, a burst) is not slowed past that moment; a flood is.
 */
export const STORM_STREAK_BEFORE_DOUBLING = 8;

/**
 * How long to hold the answer to a connection's `streak`-th resend at once after a 503: `holdMs`
 * for the first STORM_STREAK_BEFORE_DOUBLING, then doubling with each further one, never past
 * MAX_HOLD_MS (nor below `holdMs`).
 */
export function stormHoldMs(holdMs: number, streak: number): number {
  const doublings = Math.min(30, Math.max(0, streak - STORM_STREAK_BEFORE_DOUBLING));
  return Math.max(holdMs, Math.min(MAX_HOLD_MS, holdMs * 2 ** doublings));
}

/**
 * The hold actually given: stormHoldMs, and once it has started doubling, a random point between
 * half of it and all of it (never below `holdMs`). Connections that storm together (a flood's,
 * opened at once) otherwise keep in step, and with holds of up to a second their resends arrived
 * as one burst each second: hundreds of requests in one turn of the loop, which the other models'
 * requests then waited behind. (Exponential backoff's "equal jitter"; `random` in [0, 1).)
 */
export function jitteredHoldMs(holdMs: number, streak: number, random = Math.random()): number {
  const hold = stormHoldMs(holdMs, streak);
  if (streak <= STORM_STREAK_BEFORE_DOUBLING) return hold;
  return Math.max(holdMs, hold / 2 + (hold / 2) * random);
}

export function shedGate(
  /** Whether the model version a request names (undefined name: the default model) admits it now. */
  admitting: (name: string | undefined, version: string | undefined) => boolean,
  metrics: WorkerMetrics,
  /** RETRY_STORM_DELAY in seconds; 0 answers every 503 at once. */
  retryStormDelay = 0,
  /** A request for that model version was shed (its per-model series count it). */
  shed: (name: string | undefined, version: string | undefined) => void = () => undefined,
): (handler: RequestListener) => RequestListener {
  const holdMs = retryStormDelay * 1000;
  /** A request `gap` ms after its connection's last answer was resent at once, as far as this loop can tell. */
  const atOnce = (gap: number) => gap < holdMs || gap < holdMs + loopDelay.ms;
  return (handler) => (request: IncomingMessage, response: ServerResponse) => {
    const target = request.method === "POST" ? scoringTarget(request.url ?? "") : null;
    const route = target !== null && !admitting(target.name, target.version) ? target.route : null;
    const expectsContinue = (request as IncomingMessage & { [EXPECTS_CONTINUE]?: true })[EXPECTS_CONTINUE];
    if (route === null) {
      // Let through. A connection that paused, or is let through a second time in a row, is not
      // storming; one that resent at once keeps its streak, counted from this answer.
      const last = target === null ? undefined : lastShed.get(request.socket);
      if (last !== undefined) {
        if (holdMs === 0 || last.through > 0 || !atOnce(performance.now() - last.at))
          lastShed.delete(request.socket);
        else {
          last.through++;
          response.once("finish", () => {
            last.at = performance.now();
          });
        }
      }
      if (expectsContinue) response.writeContinue();
      handler(request, response);
      return;
    }
    const mlflow = route.startsWith("/invocations");
    const { head, tail, fixedBytes, reason } = route.startsWith("/predict")
      ? PREDICT_ANSWER
      : mlflow
        ? MLFLOW_ANSWER
        : OIP_ANSWER;
    metrics.rejected.inc({ reason });
    metrics.requests.inc({ method: "POST", route, status: "503" });
    shed(target?.name, target?.version);
    // The caller's X-Request-Id when plain, else a made one: a shed answer is quoted like any other.
    const id = requestId(request.headers[REQUEST_ID_HEADER]);
    const headers: Record<string, string> = {
      "content-type": "application/json; charset=utf-8",
      "content-length": String(mlflow ? fixedBytes : fixedBytes + id.length),
      ...RETRY,
      [REQUEST_ID_HEADER]: id,
    };
    if (expectsContinue) headers.connection = "close";
    const body = mlflow ? head : head + id + tail;
    const now = performance.now();
    if (holdMs > 0) loopDelay.watch(now);
    const last = lastShed.get(request.socket);
    const storming = holdMs > 0 && last !== undefined && atOnce(now - last.at);
    const turnedAway: Streak = { at: now, through: 0, streak: storming ? (last?.streak ?? 0) + 1 : 0 };
    lastShed.set(request.socket, turnedAway);
    if (storming) {
      setTimeout(
        () => {
          // The interval is counted from this answer: the client's next resend is timed from it.
          turnedAway.at = performance.now();
          if (!response.destroyed) {
            response.writeHead(503, headers);
            response.end(body);
          }
        },
        jitteredHoldMs(holdMs, turnedAway.streak),
      );
      return;
    }
    response.writeHead(503, headers);
    response.end(body);
  };
}
