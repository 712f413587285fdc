/**
 * deploy/nginx/forestd.conf with a real Nginx (Debian's) in front of a real forestd, on loopback:
 * predictions through the proxy are right, the client's address reaches forestd's access log
 * through X-Forwarded-For, Nginx's own errors are JSON, and a SIGHUP reload of forestd under load
 * behind Nginx fails no request.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { defaultModelPath, loadModel } from "../../model/index.js";
import { ROOT } from "../helpers/fixtures.js";
import { Load } from "../helpers/load.js";
import { CLI, freePort, request, startServer, waitFor } from "../helpers/server.js";

const NGINX = "/usr/sbin/nginx";
const CONF = join(ROOT, "deploy", "nginx", "forestd.conf");
const ROW = { height: 180, weight: 80, shoe_size: 44 };

/** forestd.conf with the upstream and listen port moved to this test's free ports. */
function confFor(forestdPort: number, nginxPort: number): string {
  const conf = readFileSync(CONF, "utf8");
  const upstream = /server 127\.0\.0\.1:8000 /g;
  const listen = /listen 8080;/g;
  if ((conf.match(upstream) ?? []).length !== 1 || (conf.match(listen) ?? []).length !== 1) {
    throw new Error("forestd.conf no longer has exactly one 'server 127.0.0.1:8000' and one 'listen 8080;'");
  }
  return conf
    .replace(upstream, `server 127.0.0.1:${forestdPort} `)
    .replace(listen, `listen 127.0.0.1:${nginxPort};`);
}

async function startNginx(dir: string, forestdPort: number): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  for (const d of ["body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"])
    mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, "forestd.conf"), confFor(forestdPort, port));
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off;
worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log ${dir}/logs/access.log combined;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/forestd.conf;
}
`,
  );
  const check = spawnSync(
    NGINX,
    ["-t", "-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "logs/error.log")],
    {
      encoding: "utf8",
    },
  );
  if (check.status !== 0) throw new Error(`nginx -t failed:\n${check.stderr}`);
  const child = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "logs/error.log")], {
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => (await request(`${url}/healthz`)).status === 200,
    10_000,
    () => child.exitCode !== null,
  );
  return { url, child };
}

function stopNginx(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGQUIT"); // graceful
  return exited;
}

/** One POST from a chosen local address (127.0.0.2 is loopback too on Linux). */
function postFrom(localAddress: string, url: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: "POST", agent: false, localAddress, headers: { "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

t.test("forestd behind a real Nginx", async (t) => {
  if (!existsSync(NGINX))
    throw new Error(`${NGINX} not found: run scripts/install-test-deps.sh (Debian nginx)`);
  const dir = mkdtempSync(join(tmpdir(), "forestd-nginx-"));
  const server = await startServer({
    WORKERS: "2",
    ACCESS_LOG: "on",
    FORWARDED_ALLOW_IPS: "127.0.0.1",
    PID_FILE: join(dir, "forestd.pid"),
  });
  let nginxChild: ChildProcess | undefined;
  t.teardown(async () => {
    if (nginxChild) await stopNginx(nginxChild);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const nginx = await startNginx(dir, server.port);
  nginxChild = nginx.child;

  t.test("predictions through the proxy are the model's", async (t) => {
    const model = loadModel(defaultModelPath());
    const rows = [
      [180, 80, 44],
      [160, 55, 37],
      [172.5, null, 41],
    ];
    const expected = Array.from(
      model.predictBatch(
        Float32Array.from(rows.flat().map((v) => (v === null ? Number.NaN : v))),
        rows.length,
      ),
    );
    const viaNginx = await request(`${nginx.url}/predict`, "POST", { instances: rows });
    t.equal(viaNginx.status, 200);
    t.same(viaNginx.json.predictions, expected.map(Math.fround), "same as the engine");
    const direct = await request(`${server.url}/predict`, "POST", { instances: rows });
    t.same(viaNginx.json, direct.json, "same as forestd directly");
    const oip = await request(`${nginx.url}/v2/models/default/infer`, "POST", {
      inputs: [{ name: "input-0", datatype: "FP32", shape: [1, 3], data: [180, 80, 44] }],
    });
    t.equal(oip.status, 200, "OIP infer through the proxy");
    t.equal((await request(`${nginx.url}/metrics`)).status, 404, "metrics are not exposed by the proxy");
  });

  t.test("the client's address reaches the access log through X-Forwarded-For", async (t) => {
    t.equal(await postFrom("127.0.0.2", `${nginx.url}/predict`, ROW), 200);
    await waitFor(
      () => server.events().some((e) => e.log === "access" && e.client === "127.0.0.2"),
      5000,
    ).catch(() => {});
    const lines = server.events().filter((e) => e.log === "access" && e.path === "/predict");
    t.ok(
      lines.some((e) => e.client === "127.0.0.2"),
      "access log names 127.0.0.2, the client, not 127.0.0.1, the proxy",
    );
  });

  t.test("Nginx's own errors are JSON in forestd's shape", async (t) => {
    const big = await request(
      `${nginx.url}/predict`,
      "POST",
      `{"instances":[${"0,".repeat(6 * 1024 * 1024)}0]}`,
    );
    t.equal(big.status, 413, "BODY_LIMIT is enforced at the proxy");
    t.match(big.json, { statusCode: 413, code: "FORESTD_ERR_BODY_TOO_LARGE" });
  });

  t.test("a SIGHUP reload of forestd under load fails no request", async (t) => {
    const spawned = () => server.events().filter((e) => e.event === "worker_spawn").length;
    const before = spawned();
    const load = new Load({
      url: `${nginx.url}/predict`,
      body: JSON.stringify(ROW),
      connections: 8,
      durationMs: 6000,
    });
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(server.child.pid as number, "SIGHUP");
    await load.done;
    await waitFor(() => server.events().some((e) => e.event === "reload_done"), 10_000);
    t.ok(spawned() >= before + 2, "new workers were spawned");
    t.ok(load.outcomes.length > 500, `${load.outcomes.length} requests sent through Nginx`);
    t.same(load.failures(), [], "none failed");
  });

  t.test("forestd healthcheck (the Dockerfile's HEALTHCHECK) sees the server", async (t) => {
    const env = { ...process.env, BIND: `127.0.0.1:${server.port}` };
    const ok = spawnSync(process.execPath, [CLI, "healthcheck"], { env, encoding: "utf8" });
    t.equal(ok.status, 0, "exit 0 while the server is up");
    const down = spawnSync(process.execPath, [CLI, "healthcheck"], {
      env: { ...env, BIND: `127.0.0.1:${await freePort()}` },
      encoding: "utf8",
    });
    t.equal(down.status, 1, "exit 1 where nothing listens");
    t.match(down.stderr, /healthz/);
  });
});
