/** The primary's /metrics answers within 1 s even when a worker is hung, and says the scrape is partial. */
import t from "tap";
import { freePort, postJson, request, startServer, waitFor } from "./helpers/server.js";

t.test("a hung worker makes a partial scrape, not a failed or slow one", async (t) => {
  const metricsPort = await freePort();
  const server = await startServer({
    WORKERS: "2",
    METRICS_PORT: String(metricsPort),
    TIMEOUT: "20",
    ACCESS_LOG: "off",
  });
  t.teardown(() => server.stop());
  const metrics = `http://127.0.0.1:${metricsPort}/metrics`;
  for (let i = 0; i < 20; i++) await postJson(`${server.url}/predict`, { height: 170 });
  const count = (text: string) =>
    Number(
      /forestd_http_requests_total\{method="POST",route="\/predict",status="200"\} (\d+)/.exec(text)?.[1],
    );
  await waitFor(async () => count((await request(metrics)).text) === 20, 5000);
  t.match((await request(metrics)).text, /forestd_scrape_partial 0/);

  // A real hang: one worker stopped, so it cannot answer the primary's collection.
  const [hung] = server
    .events()
    .filter((e) => e.event === "worker_spawn")
    .map((e) => e.pid as number);
  process.kill(hung, "SIGSTOP");
  const started = Date.now();
  const scrape = await request(metrics);
  const took = Date.now() - started;
  t.equal(scrape.status, 200);
  t.ok(took < 1000, `answered in ${took} ms`);
  t.match(scrape.text, /forestd_scrape_partial 1/);
  t.equal(count(scrape.text), 20, "the hung worker's counts still included (its last snapshot)");
  t.match(scrape.text, /forestd_workers 2/);
  process.kill(hung, "SIGCONT");
  const viaWorker = await request(`${server.url}/metrics`);
  t.equal(viaWorker.status, 200, "a worker's /metrics gives the cluster's view too");
  t.match(viaWorker.text, /forestd_workers 2/);
});
