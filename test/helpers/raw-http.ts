/** Raw bytes over a real socket, for requests no HTTP client would send (and for half-sent ones). */
import { connect, type Socket } from "node:net";

export interface RawAnswer {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: string;
}

function parse(data: string): RawAnswer {
  const [head, ...rest] = data.split("\r\n\r\n");
  const [statusLine, ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0),
    headers,
    body: rest.join("\r\n\r\n"),
  };
}

/**
 * Writes `bytes` (and keeps the socket open: a body may be left unfinished on purpose), reads
 * until one whole response arrived or the server closed; rejects after `waitMs` (a hang).
 */
export function rawRequest(port: number, bytes: Buffer | string, waitMs = 5000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, "127.0.0.1");
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("no answer (hang)"));
    }, waitMs);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parse(data));
    };
    socket.on("data", (d) => {
      data += d.toString("latin1");
      const head = data.indexOf("\r\n\r\n");
      const length = Number(/content-length: (\d+)/i.exec(data)?.[1] ?? -1);
      if (head >= 0 && length >= 0 && data.length >= head + 4 + length) finish();
    });
    socket.on("end", finish);
    socket.on("error", finish);
    socket.write(bytes);
  });
}

/** A POST's bytes; `contentLength` may claim more than `body` holds, to leave the body unfinished. */
export function rawPost(
  path: string,
  body: Buffer | string,
  headers: Record<string, string> = { "content-type": "application/json" },
  contentLength?: number,
): Buffer {
  const payload = typeof body === "string" ? Buffer.from(body) : body;
  const head = [
    `POST ${path} HTTP/1.1`,
    "host: 127.0.0.1",
    `content-length: ${contentLength ?? payload.length}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`), payload]);
}
