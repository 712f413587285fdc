/** `forestd healthcheck`: exit 0 when the local server these settings describe is live (Docker's HEALTHCHECK). */
import { loadSettings, parseBind } from "../config/load-settings.js";
import type { Command } from "./usage.js";

/** The address a local client reaches a server bound to `host` at: wildcards mean loopback. */
function localHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

export const healthcheckCommand: Command = {
  usage: `  forestd healthcheck [serve options]
      Exits 0 if the server these settings describe answers GET /healthz on its first BIND
      address within 2 s, else 1 (for Docker's HEALTHCHECK; reads the same environment).`,
  async run(args) {
    const { settings } = await loadSettings({ argv: args, env: process.env, cwd: process.cwd() });
    const { host, port } = parseBind(settings.bind[0]);
    const url = `http://${localHost(host)}:${port}/healthz`;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return 0;
      process.stderr.write(`forestd: ${url} answered ${response.status}\n`);
    } catch (error) {
      process.stderr.write(`forestd: ${url}: ${(error as Error).message}\n`);
    }
    return 1;
  },
};
