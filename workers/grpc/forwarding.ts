/**
 * Calls, not only connections, spread over the workers.
 *
 * An HTTP/2 connection carries every call of a client's channel, and a connection is served by the
 * worker that accepted it: a client with one long-lived channel (the usual gRPC client) would keep
 * one worker's scoring threads busy while another worker's idle. So a worker whose scoring threads
 * are all busy forwards a large ModelInfer call (GRPC_FORWARD_ROWS rows or more) to another worker,
 * over a connection of its own to GRPC_PORT, and relays the answer. The message is forwarded as
 * the bytes it arrived as and the answer relayed as the bytes it left as: the forwarding worker
 * decodes the request only as far as its shape, and scoring, its rows and its model series are the
 * other worker's.
 *
 * Which worker a connection to GRPC_PORT reaches is the kernel's and the connection balancer's
 * choice, so the link is checked: its first call (ServerLive) is answered with the answering
 * worker's pid, and a link that reached this worker itself is closed and opened again (a few
 * times; then forwarding rests for a while). A forwarded call carries this primary's peer token
 * (WORKER_ENV.peerToken): the other worker serves it without forwarding it again, and leaves its
 * request metrics and access line to the forwarding worker, which answered the client. The other
 * worker's own admission applies: if it turns the call away (RESOURCE_EXHAUSTED, UNAVAILABLE) or
 * the link fails, the call is served here after all.
 */
import {
  type CallOptions,
  credentials,
  Metadata as GrpcMetadata,
  type Metadata,
  makeGenericClientConstructor,
  type ServiceError,
  status,
} from "@grpc/grpc-js";

export const FORWARDED_KEY = "forestd-forwarded";
export const WORKER_KEY = "forestd-worker";

const passthrough = (b: Buffer) => b;
const method = (name: string) => ({
  path: `/inference.GRPCInferenceService/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: passthrough,
  requestDeserialize: passthrough,
  responseSerialize: passthrough,
  responseDeserialize: passthrough,
});
/** A client sending and receiving messages as bytes: nothing is decoded or encoded again. */
const RawClient = makeGenericClientConstructor(
  { ModelInfer: method("ModelInfer"), ServerLive: method("ServerLive") },
  "GRPCInferenceService",
);
type Raw = InstanceType<typeof RawClient>;
type RawCall = (
  request: Buffer,
  metadata: Metadata,
  options: CallOptions,
  callback: (error: ServiceError | null, answer?: Buffer) => void,
) => { on(event: "metadata", listener: (m: Metadata) => void): void; cancel(): void };

/** An answer relayed as the bytes another worker sent (the service's serializer passes it through). */
export class RelayedAnswer {
  constructor(readonly bytes: Buffer) {}
}

export type Forwarded =
  | { answer: RelayedAnswer; peer: number }
  | { error: ServiceError; peer: number }
  /** Not forwarded after all (no link, the peer turned it away, the link failed): serve it here. */
  | null;

/** How many times a link that reached this worker itself is opened again before forwarding rests. */
const LINK_ATTEMPTS = 8;
const REST_MS = 30_000;

export class PeerForwarder {
  readonly #address: string;
  readonly #token: string;
  #client: Raw | null = null;
  #peer = 0;
  #opening: Promise<void> | null = null;
  #restUntil = 0;

  constructor(address: string, token: string) {
    this.#address = address;
    this.#token = token;
  }

  /** Whether a checked link to another worker is open now (else one is opened for later calls). */
  ready(): boolean {
    if (this.#client !== null) return true;
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
  forward(bytes: Buffer, deadline: Date | number, requestId: string): Promise<Forwarded> {
    const client = this.#client;
    if (client === null) return Promise.resolve(null);
    const peer = this.#peer;
    const metadata = this.#metadata();
    metadata.set("x-request-id", requestId);
    return new Promise((resolve) => {
      const call = (client as unknown as { ModelInfer: RawCall }).ModelInfer(
        bytes,
        metadata,
        { deadline },
        (error, answer) => {
          if (error === null) return resolve({ answer: new RelayedAnswer(answer as Buffer), peer });
          // Turned away or not reached: this worker serves it (its own admission decides).
          if (error.code === status.RESOURCE_EXHAUSTED || error.code === status.UNAVAILABLE) {
            if (error.code === status.UNAVAILABLE && !error.metadata.get("forestd-code").length)
              this.#drop(client);
            return resolve(null);
          }
          resolve({ error, peer });
        },
      );
      // grpc-js reconnects a link that dropped, and the new connection may reach this worker
      // itself (which then serves the call without forwarding it): such a link is opened again.
      call.on("metadata", (m) => {
        if (Number(m.get(WORKER_KEY)[0]) === process.pid) this.#drop(client);
      });
    });
  }

  close(): void {
    this.#client?.close();
    this.#client = null;
  }

  #metadata(): Metadata {
    const m = new GrpcMetadata();
    m.set(FORWARDED_KEY, this.#token);
    return m;
  }

  #drop(client: Raw): void {
    if (this.#client === client) this.#client = null;
    client.close();
  }

  async #open(): Promise<void> {
    for (let attempt = 0; attempt < LINK_ATTEMPTS; attempt++) {
      // Its own subchannel pool: a fresh connection each attempt, not one shared with the last.
      const client = new RawClient(this.#address, credentials.createInsecure(), {
        "grpc.use_local_subchannel_pool": 1,
      });
      const peer = await this.#probe(client);
      if (peer !== null && peer !== process.pid) {
        this.#client = client;
        this.#peer = peer;
        return;
      }
      client.close();
    }
    this.#restUntil = performance.now() + REST_MS;
  }

  /** The pid of the worker a new link reached, or null when it did not answer. */
  #probe(client: Raw): Promise<number | null> {
    return new Promise((resolve) => {
      let peer: number | null = null;
      const call = (client as unknown as { ServerLive: RawCall }).ServerLive(
        Buffer.alloc(0),
        this.#metadata(),
        { deadline: Date.now() + 2000 },
        (error) => resolve(error ? null : peer),
      );
      call.on("metadata", (m) => {
        const v = Number(m.get(WORKER_KEY)[0]);
        if (Number.isInteger(v) && v > 0) peer = v;
      });
    });
  }
}
