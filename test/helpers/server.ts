/** Start the real `forestd serve` (built dist/) on a free loopback port, and stop it. */
import { type ChildProcess, spawn } from "node:child_process";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { join } from "node:path";
import { freePort } from "../../scripts/loopback.js";
import { ROOT } from "./fixtures.js";
import { waitFor } from "./wait.js";

// waitFor lives in wait.ts so that unit tests can poll without importing this (process-level) helper.
export { freePort, waitFor };

export const CLI = join(ROOT, "dist", "cli", "forestd.js");

export interface RunningServer {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the server printed (JSON log lines), so far. */
  logs(): string;
  /** Log lines parsed as JSON objects. */
  events(): Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  /** Whether the server on `port` is ready (an HTTPS server needs its own check); GET /readyz over HTTP by default. */
  ready?(port: number): Promise<boolean>;
}

export async function startServer(
  env: Record<string, string> = {},
  args: string[] = [],
  options: StartOptions = {},
): Promise<RunningServer> {
  const port = env.PORT_OVERRIDE ? Number(env.PORT_OVERRIDE) : await freePort();
  const child = spawn(process.execPath, [CLI, "serve", ...args], {
    env: {
      ...process.env,
      BIND: `127.0.0.1:${port}`,
      WORKERS: "2",
      METRICS_PORT: "0",
      LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const server: RunningServer = {
    url,
    port,
    child,
    logs: () => output,
    events: () =>
      output
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        }),
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  try {
    await waitFor(
      async () => (options.ready ? options.ready(port) : (await request(`${url}/readyz`)).status === 200),
      20_000,
      () => child.exitCode !== null,
      output,
    );
  } catch (error) {
    // The caller never gets the server to stop: stop it here, or it outlives the test (and its
    // workers keep taking CPU from every test after it).
    await server.stop();
    throw error;
  }
  return server;
}

export interface JsonResponse {
  status: number;
  headers: IncomingHttpHeaders;
  json: Record<string, unknown>;
  text: string;
}

/**
 * One request on its own connection (no keep-alive), so a test never leaves idle connections that
 * a graceful stop would wait out.
 */
export function request(
  url: string,
  method = "GET",
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        agent: false,
        headers: { ...(payload !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            json: json as Record<string, unknown>,
            text,
          });
        });
      },
    );
    req.on("error", reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.end(payload);
  });
}

export function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  return request(url, "POST", body, headers);
}
