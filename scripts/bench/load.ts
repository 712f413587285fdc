/**
 * One measurement: autocannon against a URL for a fixed time, on 127.0.0.1, with exact latencies
 * (autocannon's histogram rounds to whole milliseconds) and the server's CPU and peak RSS.
 */
import autocannon from "autocannon";
import { TreeSampler } from "./proc.js";

export interface LoadSpec {
  url: string;
  body: string;
  rowsPerRequest: number;
  seconds: number;
  connections: number;
  /** Offered requests/s over all connections (open loop); omitted = as fast as answers come. */
  overallRate?: number;
  /** false: a new connection per request. */
  keepAlive?: boolean;
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
  /** CPU cores the server's process tree used on average (null when not ours to measure). */
  cpuCores: number | null;
  peakRssMiB: number | null;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export async function measure(spec: LoadSpec, serverPid: number | null): Promise<Measurement> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const sampler = serverPid === null ? null : new TreeSampler(serverPid);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        method: "POST",
        // Keep-alive off: the server closes after each answer and autocannon reconnects
        // (its reconnectRate: 1 sends nothing at all in autocannon 8).
        headers: {
          "content-type": "application/json",
          ...(spec.keepAlive === false ? { connection: "close" } : {}),
        },
        body: spec.body,
        connections: spec.connections,
        duration: spec.seconds,
        ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
      },
      (error, r) => (error ? reject(error) : resolve(r)),
    );
    instance.on("response", (_client, status, _bytes, ms) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
  const usage = sampler?.stop() ?? null;
  const sorted = Float64Array.from(latencies).sort();
  const ok = latencies.length / spec.seconds;
  return {
    requestsPerSec: Math.round(ok),
    rowsPerSec: Math.round(ok * spec.rowsPerRequest),
    p50: round3(percentile(sorted, 50)),
    p90: round3(percentile(sorted, 90)),
    p99: round3(percentile(sorted, 99)),
    max: round3(percentile(sorted, 100)),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total,
    statuses,
    cpuCores: usage?.cpuCores ?? null,
    peakRssMiB: usage?.peakRssMiB ?? null,
  };
}
