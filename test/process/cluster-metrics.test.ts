/** The primary's /metrics answers within 1 s even when a worker is hung, and says the scrape is partial. */
import t from "tap";
import { Load } from "../helpers/load.js";
import { freePort, postJson, request, startServer, waitFor } from "../helpers/server.js";

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

const okCount = (text: string) =>
  Number(
    /forestd_http_requests_total\{method="POST",route="\/predict",status="200"\} (\d+)/.exec(text)?.[1] ?? 0,
  );

t.test("counts survive kill -9: 200 answers, no scrape in between, one worker killed", async (t) => {
  const server = await startServer({ WORKERS: "2", ACCESS_LOG: "off" });
  t.teardown(() => server.stop());
  const pids = () => {
    const events = server.events();
    const exited = new Set(events.filter((e) => e.event === "worker_exit").map((e) => e.pid));
    return events.filter((e) => e.event === "worker_spawn" && !exited.has(e.pid)).map((e) => e.pid as number);
  };
  const ready = () =>
    server.events().filter((e) => e.event === "worker_ready" && e.role === "primary").length;
  await waitFor(() => ready() === 2, 10_000);
  // Known label values exist from the first scrape, at 0, so increase() sees the first event.
  const fresh = (await request(`${server.url}/metrics`)).text;
  t.match(fresh, /forestd_rejected_total\{reason="overload"\} 0/);
  t.match(fresh, /forestd_rejected_total\{reason="deadline"\} 0/);
  t.match(fresh, /forestd_worker_restarts_total\{reason="killed"\} 0/);
  t.match(fresh, /forestd_worker_boot_failures_total 0/);
  // A fresh connection per request: both workers answer some.
  let answered = 0;
  for (let i = 0; i < 200; i++)
    if ((await postJson(`${server.url}/predict`, { height: 170 })).status === 200) answered++;
  t.equal(answered, 200);
  for (const pid of pids()) process.kill(pid, "SIGKILL");
  await waitFor(
    async () =>
      (await postJson(`${server.url}/predict`, { height: 170 }).catch(() => ({ status: 0 }))).status === 200,
    15_000,
  );
  const counted = okCount((await request(`${server.url}/metrics`)).text);
  // 200 before the kills, plus the one that proved the replacements serve.
  t.ok(
    counted >= 200 && counted <= 201,
    `forestd_http_requests_total reads ${counted} (200 answered before both workers were killed, +1 after)`,
  );
});

t.test(
  "counts survive kill -9 under load: at most the killed worker's last turn is lost, nothing counted twice",
  async (t) => {
    const server = await startServer({ WORKERS: "2", ACCESS_LOG: "off" });
    t.teardown(() => server.stop());
    await waitFor(
      async () => (await postJson(`${server.url}/predict`, { height: 170 })).status === 200,
      10_000,
    );
    const before = okCount((await request(`${server.url}/metrics`)).text);
    const connections = 8;
    const load = new Load({
      url: `${server.url}/predict`,
      body: '{"height":170}',
      connections,
      durationMs: 5000,
    });
    await new Promise((r) => setTimeout(r, 2500));
    const victim = server
      .events()
      .filter((e) => e.event === "worker_spawn")
      .map((e) => e.pid as number)[0];
    process.kill(victim, "SIGKILL");
    await load.done;
    const ok = load.outcomes.filter((o) => o.status === 200).length;
    await new Promise((r) => setTimeout(r, 200));
    const counted = okCount((await request(`${server.url}/metrics`)).text) - before;
    t.ok(ok > 300, `${ok} requests answered`);
    t.ok(counted <= ok, `never counted twice: ${counted} counted for ${ok} answered`);
    t.ok(
      counted >= ok - connections,
      `at most ${connections} (the killed worker's last turn) lost: ${ok - counted}`,
    );
  },
);
