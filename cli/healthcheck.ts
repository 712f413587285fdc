/** `forestd healthcheck`: exit 0 when the local server these settings describe is live (Docker's HEALTHCHECK). */
import { readFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { get as httpsGet } from "node:https";
import { CERT_REQUIRED } from "../config/tls.js";
import type { Command } from "./usage.js";

/** The address a local client reaches a server bound to `host` at: wildcards mean loopback. */
function localHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** The status GET `url` answers within `timeoutMs`. */
function status(url: string, options: object): Promise<number> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith("https:") ? httpsGet : httpGet;
    const request = get(url, { ...options, agent: false, timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on("timeout", () => request.destroy(new Error("no answer within 2 s")));
    request.on("error", reject);
  });
}

export const healthcheckCommand: Command = {
  usage: `  forestd healthcheck [serve options]
      Exits 0 if the server these settings describe answers GET /healthz on its first BIND
      address within 2 s, else 1 (for Docker's HEALTHCHECK; reads the same environment).
      With CERTFILE it asks over HTTPS without checking the certificate (it is this host's own
      server); with CERT_REQS 2 it presents CERTFILE and KEYFILE as its client certificate.`,
  async run(args) {
    // The settings module (every setting's schema) is loaded when this command runs, not whenever
    // the forestd command starts: see cli/forestd.ts.
    const { loadSettings, parseBind } = await import("../config/load-settings.js");
    const { settings } = await loadSettings({ argv: args, env: process.env, cwd: process.cwd() });
    const { host, port } = parseBind(settings.bind[0]);
    const tls = settings.certfile !== "";
    const url = `${tls ? "https" : "http"}://${localHost(host)}:${port}/healthz`;
    // Loopback to this host's own server, whose certificate names its public name, not 127.0.0.1.
    const options = !tls
      ? {}
      : {
          rejectUnauthorized: false,
          ...(settings.cert_reqs === CERT_REQUIRED
            ? { cert: readFileSync(settings.certfile), key: readFileSync(settings.keyfile) }
            : {}),
        };
    try {
      const answer = await status(url, options);
      if (answer >= 200 && answer < 300) return 0;
      process.stderr.write(`forestd: ${url} answered ${answer}\n`);
    } catch (error) {
      process.stderr.write(`forestd: ${url}: ${(error as Error).message}\n`);
    }
    return 1;
  },
};
