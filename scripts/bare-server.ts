/**
 * The HTTP ceiling for `npm run bench`: a bare Fastify cluster with the same worker count as
 * forestd, answering POST /predict with a constant JSON body after parsing the request.
 *
 *   node dist/scripts/bare-server.js PORT WORKERS
 */
import cluster from "node:cluster";
import Fastify from "fastify";
import { scriptArgs } from "./script-args.js";

const { positionals } = scriptArgs(
  "node dist/scripts/bare-server.js [PORT] [WORKERS]\n  PORT (default 8100), WORKERS: Fastify worker processes (default 2)",
  { allowPositionals: true, options: {} },
);
const port = Number(positionals[0] ?? 8100);
const workers = Number(positionals[1] ?? 2);

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let ready = 0;
  cluster.on("message", (_worker, message) => {
    if (message === "ready" && ++ready === workers) process.stdout.write("ready\n");
  });
  process.on("SIGTERM", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const app = Fastify({ keepAliveTimeout: 75_000 });
  app.post("/predict", async () => ({ prediction: 0.5 }));
  app.get("/readyz", async () => ({ ready: true }));
  await app.listen({ host: "127.0.0.1", port });
  process.send?.("ready");
}
