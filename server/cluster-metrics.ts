/**
 * Cluster-wide metrics, served by the primary (METRICS_PORT) and, through it, by every worker's
 * GET /metrics.
 *
 * Better than prom-client's cluster defaults in two ways: counters never go backwards when a worker
 * dies or is recycled (the primary keeps each worker's latest snapshot and, when it exits, folds it
 * into retired totals; a worker that stops gracefully sends its final counts), and a scrape still
 * answers within its deadline when a worker is busy or hung (the other workers' data, with the
 * silent one's last snapshot for its counters, and forestd_scrape_partial 1).
 */

import type { Worker } from "node:cluster";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Server as TlsServer } from "node:tls";
import { Gauge, Registry } from "prom-client";
import type { CertReqs, ServerTls } from "../config/tls.js";
import type { PrimaryMessage, WorkerMessage } from "../contract/messages.js";
import { DeltaAccumulator } from "../contract/metrics-delta.js";
import { accumulate, mergeSnapshots, monotonicPart, type Snapshot } from "./metrics-merge.js";
import type { PrimaryMetrics } from "./primary-metrics.js";

const SCRAPE_DEADLINE_MS = 800;

interface Pending {
  waiting: Set<number>;
  resolve: () => void;
}

export class ClusterMetrics {
  readonly #primary: PrimaryMetrics;
  readonly #workers: () => Worker[];
  readonly #snapshots = new Map<number, Snapshot>();
  /** Per worker: what it counted since its latest snapshot (deltas sent every event-loop turn). */
  readonly #deltas = new Map<number, DeltaAccumulator>();
  readonly #pending = new Map<number, Pending>();
  readonly #partial: Gauge;
  #retired: Snapshot = [];
  #retiring: Promise<void> = Promise.resolve();
  #nextRequest = 1;
  #server: Server | null = null;

  constructor(primary: PrimaryMetrics, workers: () => Worker[]) {
    this.#primary = primary;
    this.#workers = workers;
    this.#partial = new Gauge({
      name: "forestd_scrape_partial",
      help: "1 when a worker did not answer this scrape in time (its counters are from its last snapshot).",
      registers: [primary.registry],
    });
  }

  /** The Prometheus text of the whole cluster. */
  async text(): Promise<{ contentType: string; body: string }> {
    const workers = this.#workers().filter((w) => w.isConnected());
    const requestId = this.#nextRequest++;
    const answered = new Promise<void>((resolve) => {
      this.#pending.set(requestId, { waiting: new Set(workers.map((w) => w.id)), resolve });
    });
    for (const w of workers) {
      try {
        w.send({ type: "forestd:collect-metrics", requestId } satisfies PrimaryMessage);
      } catch {
        // gone already; its snapshot stands in
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const complete = await Promise.race([
      workers.length === 0 ? Promise.resolve(true) : answered.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), SCRAPE_DEADLINE_MS);
      }),
    ]);
    clearTimeout(timer);
    this.#pending.delete(requestId);
    await this.#retiring;
    this.#partial.set(complete ? 0 : 1);
    // Live workers' latest snapshots (a silent worker's only for its monotonic part), plus retired totals.
    const live = new Set(workers.map((w) => w.id));
    const snapshots: Snapshot[] = [];
    for (const [id, snapshot] of this.#snapshots)
      snapshots.push(live.has(id) ? snapshot : monotonicPart(this.#withDeltas(id, snapshot)));
    // A worker that has never answered a scrape is known from its deltas alone.
    for (const id of this.#deltas.keys())
      if (!this.#snapshots.has(id)) snapshots.push(monotonicPart(this.#withDeltas(id, [])));
    if (this.#retired.length > 0) snapshots.push(this.#retired);
    const merged = Registry.merge([mergeSnapshots(snapshots), this.#primary.registry]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  #withDeltas(workerId: number, snapshot: Snapshot): Snapshot {
    const deltas = this.#deltas.get(workerId);
    return deltas && !deltas.empty ? deltas.applyTo(snapshot) : snapshot;
  }

  onWorkerMessage(workerId: number, message: WorkerMessage): void {
    if (message.type === "forestd:metrics-delta") {
      let deltas = this.#deltas.get(workerId);
      if (!deltas) {
        deltas = new DeltaAccumulator();
        this.#deltas.set(workerId, deltas);
      }
      deltas.add(message.delta);
      return;
    }
    if (message.type !== "forestd:metrics") return;
    this.#snapshots.set(workerId, message.metrics as Snapshot);
    this.#deltas.get(workerId)?.reset();
    const pending = this.#pending.get(message.requestId);
    if (pending) {
      pending.waiting.delete(workerId);
      if (pending.waiting.size === 0) pending.resolve();
    }
  }

  /** A worker is gone: its last counts join the retired totals. */
  onWorkerExit(workerId: number): void {
    const snapshot = this.#snapshots.get(workerId);
    const last = this.#withDeltas(workerId, snapshot ?? []);
    this.#snapshots.delete(workerId);
    this.#deltas.delete(workerId);
    if (last.length === 0) return;
    this.#retiring = this.#retiring.then(async () => {
      this.#retired = await accumulate(this.#retired, last);
    });
  }

  /**
   * Serves GET /metrics on `port` (0 = off), and whatever `routes` answers (the repository API:
   * it returns true for the requests it took); over TLS with `options.tls` (CERTFILE), asking for
   * client certificates as `tls.reqs` (METRICS_CERT_REQS) says, and following its reloads.
   * `options.keepAliveMs` (KEEPALIVE) outlasts Prometheus' scrape interval, so that a scraper keeps
   * its connection (and, over TLS, does not pay a handshake per scrape; Node's default is 5 s).
   */
  listen(
    host: string,
    port: number,
    routes: (request: IncomingMessage, response: ServerResponse) => boolean = () => false,
    options: { tls?: { server: ServerTls; reqs: CertReqs }; keepAliveMs?: number } = {},
  ): Promise<void> {
    const { tls } = options;
    if (port === 0) return Promise.resolve();
    const handler = (request: IncomingMessage, response: ServerResponse) => {
      if (routes(request, response)) return;
      if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
        response
          .writeHead(404, { "content-type": "application/json" })
          .end('{"code":"FORESTD_ERR_NOT_FOUND","message":"try GET /metrics"}');
        return;
      }
      this.text().then(
        ({ contentType, body }) => response.writeHead(200, { "content-type": contentType }).end(body),
        (error: Error) =>
          response.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${error.message}\n`),
      );
    };
    let server: Server;
    if (tls) {
      const https = createHttpsServer(tls.server.options(tls.reqs), handler);
      tls.server.attach(https as TlsServer, tls.reqs);
      server = https as unknown as Server;
    } else server = createServer(handler);
    if (options.keepAliveMs !== undefined) server.keepAliveTimeout = options.keepAliveMs;
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
  }

  close(): void {
    this.#server?.close();
    this.#server?.closeAllConnections();
  }
}
