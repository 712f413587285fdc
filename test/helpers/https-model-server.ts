/**
 * A local HTTPS server holding model files, as an artifact store or a CDN would: ETag and
 * Last-Modified, conditional GETs (304), and paths that misbehave on purpose.
 *
 *   /<name>            the object, with validators
 *   /plain/<name>      the object without any validator
 *   /redirect/<name>   302 to /<name>
 *   /auth/<name>       the object behind Basic auth (BASIC_USER / BASIC_PASSWORD)
 *   /signed/<name>     the object only with ?X-Amz-Signature=… (a presigned URL)
 *   /status/<code>     that status, no body
 *   /slow              accepts and never answers
 *   /cut               promises 5000 bytes, sends 100, hangs up
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { SelfSigned } from "./tls.js";

export const BASIC_USER = "reader";
export const BASIC_PASSWORD = "pa55word-never-logged";

export interface ModelHttpsServer {
  url: string;
  server: Server;
  /** Request lines seen, with the conditional header and the status answered. */
  requests: { path: string; ifNoneMatch?: string; status?: number }[];
  put(name: string, bytes: Uint8Array): void;
  close(): Promise<void>;
}

interface Stored {
  bytes: Uint8Array;
  etag: string;
  lastModified: string;
}

export async function startModelHttpsServer(tls: SelfSigned, port = 0): Promise<ModelHttpsServer> {
  const objects = new Map<string, Stored>();
  const requests: ModelHttpsServer["requests"] = [];
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const seen: ModelHttpsServer["requests"][number] = {
      path: url.pathname,
      ifNoneMatch: req.headers["if-none-match"],
    };
    requests.push(seen);
    res.on("finish", () => {
      seen.status = res.statusCode;
    });
    const [, first, ...rest] = url.pathname.split("/");
    const serve = (name: string, validators: boolean) => {
      const stored = objects.get(name);
      if (!stored) return void res.writeHead(404).end();
      if (validators && req.headers["if-none-match"] === stored.etag) return void res.writeHead(304).end();
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": stored.bytes.length,
        ...(validators ? { etag: stored.etag, "last-modified": stored.lastModified } : {}),
      });
      res.end(stored.bytes);
    };
    switch (first) {
      case "plain":
        return serve(rest.join("/"), false);
      case "redirect":
        return void res.writeHead(302, { location: `/${rest.join("/")}` }).end();
      case "auth": {
        const expected = `Basic ${Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString("base64")}`;
        if (req.headers.authorization !== expected) return void res.writeHead(401).end();
        return serve(rest.join("/"), true);
      }
      case "signed":
        if (!url.searchParams.get("X-Amz-Signature")) return void res.writeHead(403).end();
        return serve(rest.join("/"), true);
      case "status":
        return void res.writeHead(Number(rest[0])).end();
      case "slow":
        return;
      case "cut":
        res.writeHead(200, { "content-length": 5000 });
        res.write(Buffer.alloc(100, 32));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      default:
        return serve([first, ...rest].join("/"), true);
    }
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${address.port}`,
    server,
    requests,
    put(name, bytes) {
      const digest = createHash("sha256").update(bytes).digest("hex");
      objects.set(name, {
        bytes,
        etag: `"${digest.slice(0, 16)}"`,
        // Distinct per version even within one second (Last-Modified has 1 s resolution).
        lastModified: new Date(Date.now() + objects.size * 1000).toUTCString(),
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
