/**
 * Where a connection that a worker handed on goes (workers/connection-balancer.ts): to the ready
 * worker holding the fewest connections, counted as what each worker last reported holding (with
 * every hand-off and every heartbeat) plus the connections given to it that it had not yet
 * received when it reported (it reports how many it has received in all). Pure: tested on its own.
 */
export class ConnectionRouter {
  readonly #reported = new Map<number, { held: number; received: number }>();
  /** Connections given to each worker, in all. */
  readonly #given = new Map<number, number>();

  /** Worker `id` holds `connections` open connections now, and has received `received` in all. */
  report(id: number, connections: number, received: number): void {
    this.#reported.set(id, { held: connections, received });
  }

  forget(id: number): void {
    this.#reported.delete(id);
    this.#given.delete(id);
  }

  /** The fewest connections any worker of `ready` other than `id` holds; null when there is none. */
  fewestBesides(id: number, ready: Iterable<number>): number | null {
    let fewest: number | null = null;
    for (const other of ready) {
      if (other === id) continue;
      const held = this.#held(other);
      if (fewest === null || held < fewest) fewest = held;
    }
    return fewest;
  }

  #held(id: number): number {
    const reported = this.#reported.get(id) ?? { held: 0, received: 0 };
    const inFlight = Math.max(0, (this.#given.get(id) ?? 0) - reported.received);
    return reported.held + inFlight;
  }

  /** The worker (of `ready`) to give the next connection to, counted as given; undefined if none. */
  route(ready: Iterable<number>): number | undefined {
    let best: number | undefined;
    let fewest = Number.POSITIVE_INFINITY;
    for (const id of ready) {
      const held = this.#held(id);
      if (held < fewest) {
        best = id;
        fewest = held;
      }
    }
    if (best !== undefined) this.#given.set(best, (this.#given.get(best) ?? 0) + 1);
    return best;
  }
}
