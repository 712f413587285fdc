/**
 * A bounded load generator for lifecycle tests: `connections` keep-alive clients on loopback, each
 * sending requests one after another until `stop()` or `durationMs`, recording every outcome.
 */
import { Agent, request as httpRequest } from "node:http";

export interface Outcome {
  sentAt: number;
  doneAt: number;
  status: number; // 0 = a transport error
  error?: string;
  body?: string;
}

export interface LoadOptions {
  url: string;
  body: string;
  connections: number;
  durationMs: number;
  /** Upper bound on requests per second over all connections (0 = as fast as they complete). */
  ratePerSec?: number;
}

export class Load {
  readonly outcomes: Outcome[] = [];
  readonly #agent: Agent;
  #stopped = false;
  readonly done: Promise<void>;

  constructor(readonly options: LoadOptions) {
    this.#agent = new Agent({ keepAlive: true, maxSockets: options.connections });
    const deadline = Date.now() + options.durationMs;
    const gapMs = options.ratePerSec ? (1000 * options.connections) / options.ratePerSec : 0;
    this.done = Promise.all(
      Array.from({ length: options.connections }, async () => {
        while (!this.#stopped && Date.now() < deadline) {
          const started = Date.now();
          this.outcomes.push(await this.#one());
          const wait = gapMs - (Date.now() - started);
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }),
    ).then(() => this.#agent.destroy());
  }

  #one(): Promise<Outcome> {
    const sentAt = Date.now();
    return new Promise((resolve) => {
      const req = httpRequest(
        this.options.url,
        { method: "POST", agent: this.#agent, headers: { "content-type": "application/json" } },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d) => {
            body += d;
          });
          res.on("end", () => resolve({ sentAt, doneAt: Date.now(), status: res.statusCode ?? 0, body }));
          res.on("error", (e) => resolve({ sentAt, doneAt: Date.now(), status: 0, error: e.message }));
        },
      );
      req.on("error", (e) => resolve({ sentAt, doneAt: Date.now(), status: 0, error: e.message }));
      req.setTimeout(15_000, () => req.destroy(new Error("no answer within 15 s")));
      req.end(this.options.body);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.done;
  }

  failures(sentBefore = Number.POSITIVE_INFINITY): Outcome[] {
    return this.outcomes.filter((o) => o.sentAt < sentBefore && o.status !== 200);
  }
}
