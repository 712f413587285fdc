/**
 * An open-loop HTTP/1.1 load generator on raw sockets, in the manner of wrk2 (Gil Tene's wrk2):
 * requests are scheduled at a constant rate, request i at t0 + i/rate, and each latency is taken
 * from that intended start, not from when a connection was free to send it. A slow server then
 * cannot slow the offered load down (coordinated omission): requests it holds up keep being
 * scheduled, and they wait here, on the clock, for a connection.
 *
 * Closed-loop phases (rate 0) send on each connection as soon as the previous answer arrived:
 * capacity, and a retry storm (clients that resend at once, whatever Retry-After says).
 *
 * Raw `net` sockets and a minimal response parser instead of node:http or autocannon: each request
 * costs the generator a few microseconds, so one core can offer many times what one server core
 * can answer (each run reports how far its sends lagged their schedule, so that is checked).
 */
import { connect, type Socket } from "node:net";
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";

export interface Phase {
  name: string;
  seconds: number;
  /** Requests/s over all connections; 0 = closed loop, each connection as fast as answers come. */
  rate: number;
  /** Most connections open at once (closed loop: exactly this many). */
  connections: number;
  /** Closed loop: after a 503, wait this long before the next request (0 = at once, a retry storm). */
  backoffMs?: number;
}

export interface LoadPlan {
  host: string;
  port: number;
  path: string;
  body: string;
  /** Send `Expect: 100-continue` and the body only once the server says 100 Continue. */
  expectContinue?: boolean;
  phases: Phase[];
  /** Grace after the last phase for answers still due (ms). */
  drainMs?: number;
  /** Also return every latency (PhaseResult.okMs, rejectedMs), so runs can be merged. */
  samples?: boolean;
}

export interface PhaseResult {
  name: string;
  seconds: number;
  /** Requests/s the phase asked for (closed loop: 0). */
  rate: number;
  /** Requests scheduled by the clock (closed loop: sent). */
  scheduled: number;
  sent: number;
  /** Answers by status, e.g. {"200": 1450, "503": 12877}. */
  statuses: Record<string, number>;
  /** Connection errors, resets, and requests unanswered when the run ended. */
  errors: number;
  /** 503s that carried Retry-After. */
  withRetryAfter: number;
  /** Latencies (ms) from the intended start: answered 2xx, and 503s. */
  ok: LatencySummary;
  rejected: LatencySummary;
  /**
   * How late sends were against their schedule (ms): the generator's own lag, and also, when every
   * connection the phase may open holds a request, the wait for one to be answered (a slow server).
   */
  sendLagP99Ms: number;
  /**
   * The generator's event-loop delay over the phase (p99 and max, ms): its own lag alone, the check
   * that it kept to its schedule (a loaded load CPU shows here, a slow server does not).
   */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** 2xx answers per 100 ms bucket of the phase, by the time they came back. */
  okTimeline: number[];
  /**
   * With LoadPlan.samples: every latency summarised in `ok` and `rejected`, and when each request
   * was due (ms from the phase's start), so that runs can be merged and a phase's edges left out.
   */
  okMs?: number[];
  rejectedMs?: number[];
  okDueMs?: number[];
  rejectedDueMs?: number[];
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

interface Pending {
  phase: number;
  intended: number;
}

const CRLF2 = Buffer.from("\r\n\r\n");
const LAST_CHUNK = Buffer.from("0\r\n\r\n");

export function summarize(ms: number[]): LatencySummary {
  const sorted = Float64Array.from(ms).sort();
  const at = (p: number) =>
    sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { count: sorted.length, p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), max: r(at(1)) };
}

interface Stats {
  scheduled: number;
  sent: number;
  statuses: Record<string, number>;
  errors: number;
  withRetryAfter: number;
  ok: number[];
  rejected: number[];
  /** When each of `ok` and `rejected` was due, in ms from the phase's start. */
  okDue: number[];
  rejectedDue: number[];
  lag: number[];
  okTimeline: number[];
  /** This process's event-loop delay while the phase ran. */
  loop: IntervalHistogram;
}

function newStats(seconds: number): Stats {
  return {
    scheduled: 0,
    sent: 0,
    statuses: {},
    errors: 0,
    withRetryAfter: 0,
    ok: [],
    rejected: [],
    okDue: [],
    rejectedDue: [],
    lag: [],
    okTimeline: new Array(Math.ceil(seconds * 10)).fill(0),
    loop: monitorEventLoopDelay({ resolution: 1 }),
  };
}

/** One keep-alive connection with at most one request in flight. */
class Connection {
  readonly socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #current: Pending | null = null;
  #waitingForContinue = false;
  #closed = false;

  constructor(
    private readonly run: Runner,
    host: string,
    port: number,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on("data", (chunk) => this.#onData(chunk));
    this.socket.on("error", () => undefined);
    this.socket.on("close", () => this.#onClose());
  }

  get idle(): boolean {
    return this.#current === null && !this.#closed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(pending: Pending): void {
    this.#current = pending;
    const now = performance.now();
    this.run.onSent(pending, now);
    if (this.run.plan.expectContinue) {
      this.#waitingForContinue = true;
      this.socket.write(this.run.head);
    } else {
      this.socket.write(this.run.request);
    }
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const end = this.#buffer.indexOf(CRLF2);
      if (end < 0) return;
      const head = this.#buffer.subarray(0, end).toString("latin1");
      const status = Number(head.slice(9, 12));
      const lower = head.toLowerCase();
      let length = Number(/\r\ncontent-length:\s*(\d+)/.exec(lower)?.[1] ?? 0);
      if (lower.includes("\r\ntransfer-encoding: chunked")) {
        // Small answers only: the body ends at the last, empty chunk.
        const last = this.#buffer.indexOf(LAST_CHUNK, end + 4);
        if (last < 0) return;
        length = last + LAST_CHUNK.length - (end + 4);
      }
      if (this.#buffer.length < end + 4 + length) return;
      this.#buffer = this.#buffer.subarray(end + 4 + length);
      if (status === 100) {
        if (this.#waitingForContinue) {
          this.#waitingForContinue = false;
          this.socket.write(this.run.plan.body);
        }
        continue;
      }
      const pending = this.#current;
      this.#current = null;
      const close = lower.includes("\r\nconnection: close");
      if (pending) this.run.onAnswer(pending, status, lower.includes("\r\nretry-after:"));
      if (close || this.#waitingForContinue) {
        // Answered before the body was sent (or the server is closing): this connection is done.
        this.#waitingForContinue = false;
        this.#closed = true;
        this.socket.end();
        this.run.onFree(this, status);
        return;
      }
      this.run.onFree(this, status);
    }
  }

  #onClose(): void {
    this.#closed = true;
    if (this.#current) {
      this.run.onError(this.#current);
      this.#current = null;
    }
    this.run.onClosed(this, this.socket.bytesRead > 0);
  }
}

class Runner {
  readonly request: Buffer;
  readonly head: Buffer;
  readonly #connections = new Set<Connection>();
  readonly #idle: Connection[] = [];
  readonly #queue: Pending[] = [];
  readonly #stats: Stats[];
  #phase = 0;
  #phaseStart = 0;
  #due = 0;
  /** Connections still connecting. */
  #opening = 0;
  #done = false;
  #finish: () => void = () => undefined;

  constructor(readonly plan: LoadPlan) {
    const body = Buffer.from(plan.body);
    const head = `POST ${plan.path} HTTP/1.1\r\nhost: ${plan.host}:${plan.port}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n`;
    this.head = Buffer.from(`${head}expect: 100-continue\r\n\r\n`);
    this.request = Buffer.concat([Buffer.from(`${head}\r\n`), body]);
    this.#stats = plan.phases.map((p) => newStats(p.seconds));
  }

  get #current(): Phase {
    return this.plan.phases[this.#phase];
  }

  async run(): Promise<PhaseResult[]> {
    const finished = new Promise<void>((resolve) => {
      this.#finish = resolve;
    });
    this.#startPhase(performance.now());
    const tick = setInterval(() => this.#tick(), 1);
    await finished;
    clearInterval(tick);
    this.#stats[this.#phase].loop.disable();
    // Answers still due: wait a little, then count what is left as errors.
    const grace = performance.now() + (this.plan.drainMs ?? 2000);
    while (performance.now() < grace && [...this.#connections].some((c) => !c.idle && !c.closed)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const c of this.#connections) c.socket.destroy();
    await new Promise((r) => setTimeout(r, 10));
    return this.plan.phases.map((p, i) => {
      const s = this.#stats[i];
      return {
        name: p.name,
        seconds: p.seconds,
        rate: p.rate,
        scheduled: p.rate > 0 ? s.scheduled : s.sent,
        sent: s.sent,
        statuses: s.statuses,
        errors: s.errors + (p.rate > 0 ? s.scheduled - s.sent : 0),
        withRetryAfter: s.withRetryAfter,
        ok: summarize(s.ok),
        rejected: summarize(s.rejected),
        sendLagP99Ms: summarize(s.lag).p99,
        loopDelayP99Ms: Math.round(s.loop.percentile(99) / 1e3) / 1e3,
        loopDelayMaxMs: Math.round(s.loop.max / 1e3) / 1e3,
        okTimeline: s.okTimeline,
        ...(this.plan.samples
          ? { okMs: s.ok, rejectedMs: s.rejected, okDueMs: s.okDue, rejectedDueMs: s.rejectedDue }
          : {}),
      };
    });
  }

  #startPhase(now: number): void {
    if (this.#phase > 0) this.#stats[this.#phase - 1].loop.disable();
    this.#stats[this.#phase].loop.enable();
    this.#phaseStart = now;
    this.#due = 0;
    // Requests of the previous phase never sent are not carried over: they count as its errors.
    this.#queue.length = 0;
    const phase = this.#current;
    if (phase.rate === 0) {
      while (this.#connections.size < phase.connections) this.#open();
      for (const c of this.#idle.splice(0)) this.#closedLoopSend(c);
    }
  }

  #open(): Connection {
    const c = new Connection(this, this.plan.host, this.plan.port);
    this.#connections.add(c);
    this.#opening++;
    let connected = false;
    c.socket.once("close", () => {
      if (!connected) this.#opening--;
    });
    c.socket.once("connect", () => {
      connected = true;
      this.#opening--;
      if (!this.#done) this.onFree(c);
    });
    return c;
  }

  #tick(): void {
    const now = performance.now();
    const phase = this.#current;
    if (now - this.#phaseStart >= phase.seconds * 1000) {
      if (this.#phase + 1 >= this.plan.phases.length) {
        this.#done = true;
        this.#finish();
        return;
      }
      this.#phase++;
      this.#startPhase(this.#phaseStart + phase.seconds * 1000);
      return;
    }
    if (phase.rate === 0) return;
    const due = Math.floor(((now - this.#phaseStart) / 1000) * phase.rate);
    const stats = this.#stats[this.#phase];
    for (; this.#due < due; this.#due++) {
      stats.scheduled++;
      this.#queue.push({ phase: this.#phase, intended: this.#phaseStart + (this.#due * 1000) / phase.rate });
    }
    this.#dispatch();
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const c = this.#idle.pop();
      if (c) {
        if (c.idle) c.send(this.#queue.shift() as Pending);
        continue;
      }
      // No idle connection: open one more if allowed; its first request goes once it connects.
      if (this.#connections.size < this.#current.connections && this.#opening < this.#queue.length)
        this.#open();
      return;
    }
  }

  #closedLoopSend(c: Connection): void {
    if (this.#done || !c.idle) return;
    c.send({ phase: this.#phase, intended: performance.now() });
  }

  onSent(pending: Pending, now: number): void {
    const s = this.#stats[pending.phase];
    s.sent++;
    s.lag.push(now - pending.intended);
  }

  onAnswer(pending: Pending, status: number, retryAfter: boolean): void {
    const now = performance.now();
    const s = this.#stats[pending.phase];
    s.statuses[status] = (s.statuses[status] ?? 0) + 1;
    const ms = now - pending.intended;
    const start = this.#phaseStartOf(pending.phase);
    if (status >= 200 && status < 300) {
      s.ok.push(ms);
      s.okDue.push(pending.intended - start);
      const bucket = Math.floor((now - start) / 100);
      if (bucket >= 0 && bucket < s.okTimeline.length) s.okTimeline[bucket]++;
    } else if (status === 503) {
      s.rejected.push(ms);
      s.rejectedDue.push(pending.intended - start);
      if (retryAfter) s.withRetryAfter++;
    }
  }

  /** Start of phase `i` (phases run back to back on the clock). */
  #phaseStartOf(i: number): number {
    let start = this.#phaseStart;
    for (let p = this.#phase; p > i; p--) start -= this.plan.phases[p - 1].seconds * 1000;
    return start;
  }

  onError(pending: Pending): void {
    this.#stats[pending.phase].errors++;
  }

  onFree(c: Connection, status = 0): void {
    if (this.#done) return;
    if (c.closed) return;
    if (this.#current.rate === 0) {
      const backoff = status === 503 ? (this.#current.backoffMs ?? 0) : 0;
      if (backoff > 0) setTimeout(() => this.#closedLoopSend(c), backoff);
      else this.#closedLoopSend(c);
      return;
    }
    this.#idle.push(c);
    this.#dispatch();
  }

  onClosed(c: Connection, connected: boolean): void {
    this.#connections.delete(c);
    if (this.#done) return;
    // A closed-loop client whose connection closed reconnects and goes on (after a pause if it
    // never connected, so a refused port is not retried in a tight loop).
    if (this.#current.rate === 0 && this.#connections.size < this.#current.connections) {
      if (connected) this.#open();
      else setTimeout(() => !this.#done && this.#open(), 10);
    } else this.#dispatch();
  }
}

/** Runs the plan's phases back to back on this process's event loop. */
export function runLoad(plan: LoadPlan): Promise<PhaseResult[]> {
  return new Runner(plan).run();
}
