/**
 * Entry point of a worker process forked by the primary (see server/arbiter.ts).
 *
 * Heartbeats start before anything heavy is imported: the primary bounds a booting worker by
 * TIMEOUT like any silent one, and loading Fastify, piscina and the model takes real time on a busy
 * machine. This module imports nothing heavy until the heartbeat runs.
 */
import { WORKER_ENV } from "../../contract/messages.js";

const HEARTBEAT_MS = 500;
const send = () => {
  if (process.connected && process.send) process.send({ type: "forestd:heartbeat" });
};
send();
const bootHeartbeat = setInterval(send, HEARTBEAT_MS);

const encoded = process.env[WORKER_ENV.settings];
if (!encoded) {
  process.stderr.write(
    "forestd: worker started without FORESTD_SETTINGS; start the server with `forestd serve`\n",
  );
  process.exit(2);
}
const { runWorker } = await import("./worker.js");
await runWorker(JSON.parse(encoded), () => clearInterval(bootHeartbeat));
