/** Entry point of a worker process forked by the primary (see arbiter.ts). */
import type { Settings } from "../config/settings.js";
import { WORKER_ENV } from "../server/ipc.js";
import { runWorker } from "./worker.js";

const encoded = process.env[WORKER_ENV.settings];
if (!encoded) {
  process.stderr.write(
    "forestd: worker started without FORESTD_SETTINGS; start the server with `forestd serve`\n",
  );
  process.exit(2);
}
await runWorker(JSON.parse(encoded) as Settings);
