/**
 * Waiting, before a worker exits, until everything it sent the primary is written.
 *
 * A message carrying a handle (a connection the balancer hands on) waits for the primary's
 * acknowledgement, and every later message queues behind it inside this process (Node's
 * child_process `_handleQueue`), where `process.exit()` drops them: the connection, unanswered, and
 * the worker's final metrics.
 */

/** Resolves once all sent so far is written; at once without a channel; after `ms` at the latest. */
export function sentToPrimary(ms = 2000): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) {
      resolve();
      return;
    }
    const timer = setTimeout(resolve, ms);
    // Queued behind whatever is still unsent: its callback runs once it, and so all before it, is written.
    process.send({ type: "forestd:heartbeat" }, undefined, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
