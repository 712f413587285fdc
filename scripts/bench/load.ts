/**
 * One measurement: autocannon against a URL for a fixed time, on 127.0.0.1, with exact latencies
 * (autocannon's histogram rounds to whole milliseconds) and the server's CPU and peak RSS.
 */
import { request as httpRequest } from "node:http";
import autocannon from "autocannon";
import { TreeSampler } from "./proc.js";

export interface LoadSpec {
  url: string;
  /** JSON text, or the bytes of a binary-data request (with its `headers`). */
  body: string | Buffer;
  /** Request headers besides content-type: application/json (which they may replace). */
  headers?: Record<string, string>;
  rowsPerRequest: number;
  seconds: number;
  connections: number;
  /** Offered requests/s over all connections (open loop; keep-alive only); omitted = as fast as answers come. */
  overallRate?: number;
  /** false: a new connection per request. */
  keepAlive?: boolean;
  /**
   * Requests each connection sends in turn, over and over (keep-alive only), instead of `body` to
   * `url`'s path: a path (on `url`'s origin) and a body each.
   */
  requests?: readonly { path: string; body: string }[];
}

export interface Measurement {
  requestsPerSec: number;
  rowsPerSec: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
  total: number;
  /** Responses by status code, e.g. {"200": 9120, "503": 12}. */
  statuses: Record<string, number>;
  /** The 503s (turned away by shedding), when there were any: how fast, and whether they said when to retry. */
  rejected?: { p50: number; p99: number; withRetryAfter: number };
  /** CPU cores the server's process tree used on average (null when not ours to measure). */
  cpuCores: number | null;
  peakRssMiB: number | null;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** One POST on a fresh connection that closes after the answer: its status (0 = error), and Retry-After. */
function postOnce(
  url: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; retryAfter: boolean }> {
  return new Promise((resolve) => {
    const req = httpRequest(
      url,
      {
        method: "POST",
        agent: false,
        headers: {
          "content-type": "application/json",
          ...headers,
          "content-length": body.length,
          connection: "close",
        },
      },
      (res) => {
        res.resume();
        const answer = { status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] !== undefined };
        res.on("end", () => resolve(answer));
        res.on("error", () => resolve({ status: 0, retryAfter: false }));
      },
    );
    req.on("error", () => resolve({ status: 0, retryAfter: false }));
    req.setTimeout(10_000, () => req.destroy());
    req.end(body);
  });
}

/**
 * Keep-alive off: `connections` clients, each opening a new connection per request. Not autocannon:
 * when the server closes a connection, autocannon has already written its next request to it and
 * times the next answer from that write, so its latencies grow with every reconnect.
 */
async function measureWithoutKeepAlive(spec: LoadSpec, sampler: TreeSampler | null) {
  const latencies: Latencies = { ok: [], rejected: [], withRetryAfter: 0 };
  const statuses: Record<string, number> = {};
  let errors = 0;
  let total = 0;
  const body = Buffer.from(spec.body);
  const deadline = performance.now() + spec.seconds * 1000;
  await Promise.all(
    Array.from({ length: spec.connections }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        const { status, retryAfter } = await postOnce(spec.url, body, spec.headers);
        total++;
        if (status === 0) errors++;
        else statuses[status] = (statuses[status] ?? 0) + 1;
        record(latencies, status, performance.now() - started, retryAfter);
      }
    }),
  );
  return summarize(spec, latencies, statuses, errors, total, sampler);
}

/** Latencies of the answers, by kind: 2xx, and 503s with how many carried Retry-After. */
export interface Latencies {
  ok: number[];
  rejected: number[];
  withRetryAfter: number;
}

/** Whether the answer autocannon's client just parsed had Retry-After (its parser keeps the last head). */
function hasRetryAfter(client: unknown): boolean {
  const head = (client as { parser?: { info?: { headers?: string[] } } }).parser?.info?.headers;
  return head?.some((h, i) => i % 2 === 0 && h.toLowerCase() === "retry-after") ?? false;
}

export function record(latencies: Latencies, status: number, ms: number, retryAfter: boolean): void {
  if (status >= 200 && status < 300) latencies.ok.push(ms);
  else if (status === 503) {
    latencies.rejected.push(ms);
    if (retryAfter) latencies.withRetryAfter++;
  }
}

export function summarize(
  spec: LoadSpec,
  latencies: Latencies,
  statuses: Record<string, number>,
  errors: number,
  total: number,
  sampler: TreeSampler | null,
): Measurement {
  const usage = sampler?.stop() ?? null;
  const sorted = Float64Array.from(latencies.ok).sort();
  const rejected = Float64Array.from(latencies.rejected).sort();
  const ok = latencies.ok.length / spec.seconds;
  const non2xx = Object.entries(statuses)
    .filter(([code]) => !code.startsWith("2"))
    .reduce((n, [, count]) => n + count, 0);
  return {
    requestsPerSec: Math.round(ok),
    rowsPerSec: Math.round(ok * spec.rowsPerRequest),
    p50: round3(percentile(sorted, 50)),
    p90: round3(percentile(sorted, 90)),
    p99: round3(percentile(sorted, 99)),
    max: round3(percentile(sorted, 100)),
    errors,
    non2xx,
    total,
    statuses,
    ...(rejected.length > 0
      ? {
          rejected: {
            p50: round3(percentile(rejected, 50)),
            p99: round3(percentile(rejected, 99)),
            withRetryAfter: latencies.withRetryAfter,
          },
        }
      : {}),
    cpuCores: usage?.cpuCores ?? null,
    peakRssMiB: usage?.peakRssMiB ?? null,
  };
}

export async function measure(spec: LoadSpec, serverPid: number | null): Promise<Measurement> {
  if (spec.keepAlive === false) {
    if (spec.requests) throw new Error("a sequence of requests is sent over kept-alive connections only");
    return measureWithoutKeepAlive(spec, serverPid === null ? null : new TreeSampler(serverPid));
  }
  const latencies: Latencies = { ok: [], rejected: [], withRetryAfter: 0 };
  const statuses: Record<string, number> = {};
  const sampler = serverPid === null ? null : new TreeSampler(serverPid);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        method: "POST",
        headers: { "content-type": "application/json", ...spec.headers },
        body: spec.body,
        ...(spec.requests
          ? { requests: spec.requests.map((r) => ({ method: "POST" as const, path: r.path, body: r.body })) }
          : {}),
        connections: spec.connections,
        duration: spec.seconds,
        // autocannon ends a run at its next sample tick (every second by default): a shorter run
        // would last the whole second, and read as more than its rate.
        sampleInt: Math.min(1000, spec.seconds * 1000),
        ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
      },
      (error, r) => (error ? reject(error) : resolve(r)),
    );
    instance.on("response", (client, status, _bytes, ms) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      record(latencies, status, ms, status === 503 && hasRetryAfter(client));
    });
  });
  return {
    ...summarize(spec, latencies, statuses, result.errors + result.timeouts, result.requests.total, sampler),
    // autocannon counts non-2xx itself (including answers it could not parse).
    non2xx: result.non2xx,
  };
}
