/**
 * Calls, not only connections, spread over the workers.
 *
 * An HTTP/2 connection carries every call of a client's channel, and a connection is served by the
 * worker that accepted it: a client with one long-lived channel (the usual gRPC client) would keep
 * one worker's scoring threads busy while another worker's idle. So a worker whose scoring threads
 * are all busy forwards a large ModelInfer call (GRPC_FORWARD_ROWS rows or more) to another worker,
 * over an HTTP/2 connection of its own to GRPC_PORT, and relays the answer. The message is
 * forwarded as the bytes it arrived as and the answer relayed as the bytes it left as (a plain
 * node:http2 client speaking gRPC's framing: nothing is decoded or encoded again), and scoring, its
 * rows and its model series are the other worker's.
 *
 * The link must reach another worker, and which worker accepts a connection to GRPC_PORT is the
 * kernel's choice: so the link's socket is this worker's own, and when this worker accepts it
 * (its remote port is one of `ownPorts`) the connection balancer hands it, unread, through the
 * primary to another ready worker (`forestd:handoff` with `elsewhere`). The link's first call
 * (ServerLive) is answered with the answering worker's pid, to be sure; with no other worker ready
 * to reach (the others still booting), forwarding rests a few seconds and tries again. A forwarded call carries this primary's peer token
 * (WORKER_ENV.peerToken): the other worker serves it without forwarding it again, and leaves the
 * request metrics and access line to the forwarding worker, which answered the client. The other
 * worker's own admission applies: if it turns the call away (RESOURCE_EXHAUSTED, UNAVAILABLE) or
 * the link fails, the call is served here after all.
 */
import { type ClientHttp2Session, connect as connectHttp2, type IncomingHttpHeaders } from "node:http2";
import { connect as connectTcp, type Socket } from "node:net";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";

export const FORWARDED_KEY = "forestd-forwarded";
export const WORKER_KEY = "forestd-worker";
const SERVICE_PATH = "/inference.GRPCInferenceService";

/** An answer relayed as the bytes another worker sent (the service's serializer passes it through). */
export class RelayedAnswer {
  constructor(readonly bytes: Buffer) {}
}

export type Forwarded =
  | { answer: RelayedAnswer; peer: number }
  | { error: ServiceError; peer: number }
  /** Not forwarded after all (no link, the peer turned it away, the link failed): serve it here. */
  | null;

/** What the forwarder tells the worker's log: a link to another worker opened, or none after every attempt. */
export type ForwarderEvent =
  | { type: "linked"; peer: number; attempts: number }
  | { type: "resting"; attempts: number; reason: string };

const LINK_ATTEMPTS = 3;
/** A worker still booting is not ready to take a link: try again this much later. */
const REST_MS = 5_000;

interface UnaryAnswer {
  /** gRPC status code; -1 when the stream failed (reset, connection lost). */
  code: number;
  details: string;
  message: Buffer | null;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
}

/** One unary gRPC call over `session`: the message framed (uncompressed), the answer unframed. */
function unary(
  session: ClientHttp2Session,
  method: string,
  message: Buffer,
  headers: Record<string, string>,
): Promise<UnaryAnswer> {
  return new Promise((resolve) => {
    let responseHeaders: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let stream: ReturnType<ClientHttp2Session["request"]>;
    try {
      stream = session.request({
        ":method": "POST",
        ":path": `${SERVICE_PATH}/${method}`,
        "content-type": "application/grpc",
        te: "trailers",
        ...headers,
      });
    } catch (error) {
      resolve({ code: -1, details: String(error), message: null, headers: {}, trailers: {} });
      return;
    }
    stream.on("response", (h) => {
      responseHeaders = h;
    });
    stream.on("trailers", (t) => {
      trailers = t;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => undefined);
    stream.on("close", () => {
      // A trailers-only answer (an error) carries its status in the headers.
      const ending = trailers["grpc-status"] !== undefined ? trailers : responseHeaders;
      const code = ending["grpc-status"] === undefined ? -1 : Number(ending["grpc-status"]);
      const body = Buffer.concat(chunks);
      const length = body.length >= 5 ? body.readUInt32BE(1) : -1;
      resolve({
        code,
        details: decodeURIComponent(String(ending["grpc-message"] ?? "")),
        message: length >= 0 && body.length >= 5 + length ? body.subarray(5, 5 + length) : null,
        headers: responseHeaders,
        trailers: ending,
      });
    });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    stream.write(prefix);
    stream.end(message);
  });
}

/** The answer's headers and trailers as gRPC metadata (what a client of the forwarding worker gets). */
function metadataOf(answer: UnaryAnswer): Metadata {
  const metadata = new Metadata();
  for (const source of [answer.headers, answer.trailers])
    for (const [key, value] of Object.entries(source)) {
      if (key.startsWith(":") || key.startsWith("grpc-status") || key === "grpc-message") continue;
      if (key === "content-type" || key === "date") continue;
      if (typeof value === "string" && key !== "x-request-id") metadata.set(key, value);
    }
  return metadata;
}

export class PeerForwarder {
  readonly #host: string;
  readonly #port: number;
  readonly #token: string;
  readonly #log: (event: ForwarderEvent) => void;
  /** Local ports of this worker's links: a connection from one of them, accepted here, must move on. */
  readonly ownPorts = new Set<number>();
  #session: ClientHttp2Session | null = null;
  #peer = 0;
  #opening: Promise<void> | null = null;
  #restUntil = 0;

  constructor(
    address: { host: string; port: number },
    token: string,
    log: (event: ForwarderEvent) => void = () => undefined,
  ) {
    this.#host = address.host;
    this.#port = address.port;
    this.#token = token;
    this.#log = log;
  }

  /** Whether a checked link to another worker is open now (else one is opened for later calls). */
  ready(): boolean {
    if (this.#session !== null) return true;
    if (this.#opening === null && performance.now() >= this.#restUntil) {
      this.#opening = this.#open().finally(() => {
        this.#opening = null;
      });
    }
    return false;
  }

  /** Whether a call's metadata says another worker of this primary forwarded it. */
  isForwarded(metadata: Metadata): boolean {
    const v = metadata.get(FORWARDED_KEY)[0];
    return typeof v === "string" && v === this.#token;
  }

  /** Sends the call's bytes to the other worker; resolves with its answer, its error, or null to serve here. */
  async forward(bytes: Buffer, deadline: Date | number, requestId: string): Promise<Forwarded> {
    const session = this.#session;
    if (session === null) return null;
    const peer = this.#peer;
    const headers: Record<string, string> = { [FORWARDED_KEY]: this.#token, "x-request-id": requestId };
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    if (Number.isFinite(at))
      headers["grpc-timeout"] = `${Math.max(1, Math.min(99_999_999, Math.ceil(at - Date.now())))}m`;
    const answer = await unary(session, "ModelInfer", bytes, headers);
    if (answer.code === -1) {
      // The link failed: served here; the next call opens another.
      this.#drop(session);
      return null;
    }
    if (answer.code === status.OK && answer.message !== null)
      return { answer: new RelayedAnswer(answer.message), peer };
    // Turned away (its queue, its readiness): this worker serves it, under its own admission.
    if (answer.code === status.RESOURCE_EXHAUSTED || answer.code === status.UNAVAILABLE) return null;
    const error = Object.assign(new Error(answer.details), {
      code: answer.code,
      details: answer.details,
      metadata: metadataOf(answer),
    }) as ServiceError;
    return { error, peer };
  }

  close(): void {
    this.#session?.close();
    this.#session = null;
  }

  #drop(session: ClientHttp2Session): void {
    if (this.#session === session) this.#session = null;
    session.destroy();
  }

  async #open(): Promise<void> {
    let reason = "";
    for (let attempt = 1; attempt <= LINK_ATTEMPTS; attempt++) {
      const session = await this.#connect();
      const peer = session === null ? null : await this.#probe(session);
      if (session !== null && peer !== null && peer !== process.pid) {
        this.#session = session;
        this.#peer = peer;
        const forget = () => {
          if (this.#session === session) this.#session = null;
        };
        session.once("close", forget);
        session.once("goaway", forget);
        this.#log({ type: "linked", peer, attempts: attempt });
        return;
      }
      reason =
        peer === null ? "no answer" : "the connection reached this worker itself (no other worker ready)";
      session?.destroy();
    }
    this.#restUntil = performance.now() + REST_MS;
    this.#log({ type: "resting", attempts: LINK_ATTEMPTS, reason });
  }

  /** An HTTP/2 session on a socket of this worker's own, its local port known before it is accepted anywhere. */
  #connect(): Promise<ClientHttp2Session | null> {
    return new Promise((resolve) => {
      const socket: Socket = connectTcp({ host: this.#host, port: this.#port, noDelay: true });
      socket.once("error", () => resolve(null));
      socket.once("connect", () => {
        const port = socket.localPort;
        if (port !== undefined) {
          this.ownPorts.add(port);
          socket.once("close", () => this.ownPorts.delete(port));
        }
        const session = connectHttp2(`http://${this.#host}:${this.#port}`, {
          createConnection: () => socket,
        });
        session.on("error", () => undefined);
        resolve(session);
      });
    });
  }

  /** The pid of the worker a new link reached, or null when it did not answer. */
  async #probe(session: ClientHttp2Session): Promise<number | null> {
    const answer = await unary(session, "ServerLive", Buffer.alloc(0), {
      [FORWARDED_KEY]: this.#token,
      "grpc-timeout": "2000m",
    });
    const peer = Number(answer.headers[WORKER_KEY]);
    return answer.code === status.OK && Number.isInteger(peer) && peer > 0 ? peer : null;
  }
}
