/**
 * TLS end to end: a real forestd serve with certificates a test CA made (openssl, on loopback).
 * HTTPS serves /predict; TLS 1.1 is refused; METRICS_PORT requires a client certificate signed by
 * CA_CERTS while BIND asks for none; a certificate replaced and SIGHUP sent is what new connections
 * get, on both ports, while connections already open keep theirs and finish their requests; broken
 * files on SIGHUP change nothing; bad settings stop start-up with a message that says why.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, renameSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { Agent, type AgentOptions, request as httpsRequest } from "node:https";
import { createConnection } from "node:net";
import { join } from "node:path";
import { type ConnectionOptions, connect, type TLSSocket } from "node:tls";
import t from "tap";
import { forestdAsync } from "../helpers/cli.js";
import { CLI, freePort, type RunningServer, startServer, waitFor } from "../helpers/server.js";
import { type Issued, testPki } from "../helpers/tls.js";

const pki = testPki();
const first = pki.server("forestd-first");
const second = pki.server("forestd-second");
const client = pki.client("client");
const stranger = testPki("another CA").client("stranger");

// The files forestd reads; replaced in place (by rename, as Kubernetes updates a mounted Secret).
const CERTFILE = join(pki.dir, "live-cert.pem");
const KEYFILE = join(pki.dir, "live-key.pem");
function install(issued: Issued): void {
  copyFileSync(issued.certFile, `${CERTFILE}.new`);
  copyFileSync(issued.keyFile, `${KEYFILE}.new`);
  renameSync(`${CERTFILE}.new`, CERTFILE);
  renameSync(`${KEYFILE}.new`, KEYFILE);
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The server certificate this connection was established with. */
  fingerprint: string;
  socket: TLSSocket;
}

/** One HTTPS request: on `agent`'s kept-alive connection, or on a new one (agent false) with `options`. */
function get(
  port: number,
  path: string,
  agent: Agent | false,
  options: AgentOptions = {},
  /** A POST body sent in two parts: `first` at once, then REST_LENGTH bytes when `rest` resolves. */
  body?: { first: string; rest: Promise<string> },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        agent,
        ca: pki.ca.cert,
        ...options,
        method: body ? "POST" : "GET",
        headers: body
          ? {
              "content-type": "application/json",
              "content-length": String(Buffer.byteLength(body.first) + REST_LENGTH),
            }
          : {},
      },
      (res) => {
        // Now: once the body has ended, a kept-alive socket goes back to its agent (res.socket null).
        const socket = res.socket as TLSSocket;
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, fingerprint, socket }),
        );
      },
    );
    req.on("error", reject);
    req.setTimeout(20_000, () => req.destroy(new Error(`no answer from ${port}${path} within 20 s`)));
    if (!body) req.end();
    else {
      req.write(body.first);
      body.rest.then((rest) => req.end(rest), reject);
    }
  });
}

/** A TLS handshake alone: the protocol agreed, or the error. */
function handshake(port: number, options: ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca: pki.ca.cert, ...options }, () => {
      const protocol = socket.getProtocol() ?? "";
      socket.end();
      resolve(protocol);
    });
    socket.on("error", reject);
  });
}

const ROW = '{"height": 180, "weight": 80, "shoe_size": 44}';
/** The second part of a POST body: JSON's trailing whitespace. */
const REST_LENGTH = 64;
const REST = " ".repeat(REST_LENGTH);
const withClientCert = { cert: client.cert, key: client.key };

async function startTls(env: Record<string, string>): Promise<RunningServer> {
  return startServer({ CERTFILE, KEYFILE, CA_CERTS: pki.ca.certFile, ...env }, [], {
    ready: async (port) => (await get(port, "/readyz", false)).status === 200,
  });
}

t.test("HTTPS on BIND, client certificates required on METRICS_PORT, SIGHUP rotates", async (t) => {
  install(first);
  const metricsPort = await freePort();
  const server = await startTls({ METRICS_PORT: String(metricsPort), METRICS_CERT_REQS: "2" });
  t.teardown(() => server.stop());

  // Serving: HTTPS, no client certificate asked for.
  const predicted = await get(
    server.port,
    "/predict",
    false,
    {},
    { first: ROW, rest: Promise.resolve(REST) },
  );
  t.equal(predicted.status, 200, "POST /predict over HTTPS, without a client certificate");
  t.match(JSON.parse(predicted.body), { prediction: Number }, "a prediction");
  t.equal(predicted.fingerprint, first.fingerprint256, "served with CERTFILE's certificate");
  await t.rejects(
    new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port: server.port, path: "/healthz", agent: false },
        resolve,
      );
      req.on("error", reject);
      req.end();
    }),
    "plain HTTP on the TLS port gets no answer",
  );

  // Protocols: 1.3 and 1.2 yes, 1.1 no (even by a client that would accept it).
  t.equal(await handshake(server.port, {}), "TLSv1.3", "TLS 1.3");
  t.equal(await handshake(server.port, { maxVersion: "TLSv1.2" }), "TLSv1.2", "TLS 1.2");
  await t.rejects(
    handshake(server.port, { minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" }),
    { code: "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION" },
    "TLS 1.1 refused by the server (a protocol_version alert)",
  );
  await t.rejects(
    handshake(metricsPort, {
      minVersion: "TLSv1",
      maxVersion: "TLSv1.1",
      ciphers: "DEFAULT@SECLEVEL=0",
      ...withClientCert,
    }),
    { code: "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION" },
    "on METRICS_PORT too",
  );

  // The admin port: a certificate signed by CA_CERTS, or nothing.
  await t.rejects(get(metricsPort, "/metrics", false), "METRICS_PORT refuses a client without a certificate");
  await t.rejects(
    get(metricsPort, "/metrics", false, { cert: stranger.cert, key: stranger.key }),
    "and one whose certificate another CA signed",
  );
  const metrics = await get(metricsPort, "/metrics", false, withClientCert);
  t.equal(metrics.status, 200, "and answers one whose certificate CA_CERTS' CA signed");
  t.match(metrics.body, /forestd_workers 2/, "the cluster's metrics");
  t.equal(metrics.fingerprint, first.fingerprint256, "served with CERTFILE's certificate too");

  // Connections open before the rotation: an idle keep-alive one to the primary, and one to a
  // worker with a request in flight (its body half sent).
  const metricsAgent = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca.cert, ...withClientCert });
  const servingAgent = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca.cert });
  t.teardown(() => {
    metricsAgent.destroy();
    servingAgent.destroy();
  });
  const metricsBefore = await get(metricsPort, "/metrics", metricsAgent);
  const servingBefore = await get(server.port, "/healthz", servingAgent);
  let sendRest = (_rest: string) => {};
  const rest = new Promise<string>((resolve) => {
    sendRest = resolve;
  });
  const inFlight = get(server.port, "/predict", servingAgent, {}, { first: ROW, rest });

  install(second);
  const reloadsBefore = server.events().filter((e) => e.event === "reload_done").length;
  server.child.kill("SIGHUP");
  await waitFor(
    () => server.events().some((e) => e.event === "tls_reloaded" && e.role === "primary"),
    30_000,
  );
  const primaryReload = server.events().find((e) => e.event === "tls_reloaded" && e.role === "primary");
  t.equal(primaryReload?.fingerprint256, second.fingerprint256, "the primary logs the new certificate");
  const metricsAfter = await get(metricsPort, "/metrics", false, withClientCert);
  t.equal(
    metricsAfter.fingerprint,
    second.fingerprint256,
    "a new connection to METRICS_PORT gets the new certificate",
  );
  const metricsKept = await get(metricsPort, "/metrics", metricsAgent);
  t.equal(metricsKept.status, 200, "the keep-alive connection to METRICS_PORT still answers");
  t.equal(metricsKept.socket, metricsBefore.socket, "on the same connection");
  t.equal(metricsKept.fingerprint, first.fingerprint256, "which keeps the certificate it was opened with");
  await waitFor(
    () => server.events().filter((e) => e.event === "tls_reloaded" && e.worker !== undefined).length >= 2,
    30_000,
  );
  t.pass("both serving workers read the new certificate at once (before the reload replaces them)");
  await waitFor(
    async () => (await get(server.port, "/healthz", false)).fingerprint === second.fingerprint256,
    30_000,
  );
  t.pass("a new connection to BIND gets the new certificate");

  await waitFor(
    () => server.events().filter((e) => e.event === "reload_done").length > reloadsBefore,
    30_000,
  );
  sendRest(REST);
  const finished = await inFlight;
  t.equal(finished.status, 200, "the request in flight across the reload is answered");
  t.match(JSON.parse(finished.body), { prediction: Number }, "with its prediction");
  t.equal(finished.socket, servingBefore.socket, "on the connection it started on");
  t.equal(finished.fingerprint, first.fingerprint256, "established with the old certificate");
  const fresh = await get(server.port, "/predict", false, {}, { first: ROW, rest: Promise.resolve(REST) });
  t.equal(
    fresh.fingerprint,
    second.fingerprint256,
    "after the reload, the new workers serve the new certificate",
  );

  // Broken files on SIGHUP: nothing changes (and the reload they also fail keeps the workers).
  writeFileSync(KEYFILE, first.key);
  const failuresBefore = server.events().filter((e) => e.event === "reload_failed").length;
  server.child.kill("SIGHUP");
  await waitFor(() => server.events().some((e) => e.event === "tls_reload_failed"), 30_000);
  const failure = server.events().find((e) => e.event === "tls_reload_failed");
  t.match(
    failure?.msg,
    /the old one keeps serving: KEYFILE .* is not the key of CERTFILE/,
    "a key that does not match is refused",
  );
  await waitFor(
    () => server.events().filter((e) => e.event === "reload_failed").length > failuresBefore,
    30_000,
  );
  t.equal(
    (await get(server.port, "/healthz", false)).fingerprint,
    second.fingerprint256,
    "BIND keeps the last good certificate",
  );
  t.equal(
    (await get(metricsPort, "/metrics", false, withClientCert)).fingerprint,
    second.fingerprint256,
    "so does METRICS_PORT",
  );

  // A worker started now (a crash's replacement) serves the last good certificate, as the primary
  // holds it: workers never read the files, which are still broken.
  const readyBefore = server.events().filter((e) => e.event === "worker_ready").length;
  const live = server.events().filter((e) => e.event === "worker_spawn" && e.generation === 2);
  t.equal(live.length, 2, "the reload's two workers");
  process.kill(live[0].pid as number, "SIGKILL");
  await waitFor(() => server.events().filter((e) => e.event === "worker_ready").length > readyBefore, 30_000);
  t.notOk(
    server.events().some((e) => e.event === "boot_error"),
    "its replacement booted (it did not read the broken files)",
  );
  const fingerprints = new Set<string>();
  for (let i = 0; i < 8; i++) fingerprints.add((await get(server.port, "/healthz", false)).fingerprint);
  t.same([...fingerprints], [second.fingerprint256], "every worker serves the last good certificate");
});

t.test("CERT_REQS 1 on BIND: a certificate is optional, but one sent must be CA_CERTS'", async (t) => {
  install(first);
  const server = await startTls({ CERT_REQS: "1", WORKERS: "1", HEADERS_TIMEOUT: "1" });
  t.teardown(() => server.stop());
  const silent = createConnection({ host: "127.0.0.1", port: server.port });
  const started = Date.now();
  await new Promise((resolve) => silent.on("close", resolve).on("error", () => undefined));
  t.ok(
    Date.now() - started < 5000,
    "a client that never starts its handshake is cut off after HEADERS_TIMEOUT",
  );
  t.equal((await get(server.port, "/healthz", false)).status, 200, "no certificate: served");
  const known = await get(server.port, "/healthz", false, withClientCert);
  t.equal(known.status, 200, "a certificate CA_CERTS' CA signed: served");
  await t.rejects(
    get(server.port, "/healthz", false, { cert: stranger.cert, key: stranger.key }),
    "another CA's certificate: the connection is closed before any request is read",
  );
  const healthcheck = spawnSync(process.execPath, [CLI, "healthcheck"], {
    env: {
      ...process.env,
      BIND: `127.0.0.1:${server.port}`,
      CERTFILE,
      KEYFILE,
      CA_CERTS: pki.ca.certFile,
      CERT_REQS: "1",
    },
    encoding: "utf8",
  });
  t.equal(healthcheck.status, 0, `forestd healthcheck over HTTPS: ${healthcheck.stderr}`);
});

t.test("CERT_REQS 2 on BIND: no certificate, no answer; forestd healthcheck presents CERTFILE", async (t) => {
  // A certificate for both ends, as an internal CA often issues them: healthcheck's client certificate.
  install(pki.server("forestd-both", { clientAuth: true }));
  const server = await startServer(
    { CERTFILE, KEYFILE, CA_CERTS: pki.ca.certFile, CERT_REQS: "2", WORKERS: "1" },
    [],
    { ready: async (port) => (await get(port, "/readyz", false, withClientCert)).status === 200 },
  );
  t.teardown(() => server.stop());
  await t.rejects(get(server.port, "/healthz", false), "a client without a certificate is refused");
  t.equal(
    (await get(server.port, "/healthz", false, withClientCert)).status,
    200,
    "one with CA_CERTS' is served",
  );
  const env = {
    ...process.env,
    BIND: `127.0.0.1:${server.port}`,
    CERTFILE,
    KEYFILE,
    CA_CERTS: pki.ca.certFile,
  };
  const healthcheck = spawnSync(process.execPath, [CLI, "healthcheck"], {
    env: { ...env, CERT_REQS: "2" },
    encoding: "utf8",
  });
  t.equal(healthcheck.status, 0, `forestd healthcheck with CERT_REQS 2: ${healthcheck.stderr}`);
  const without = spawnSync(process.execPath, [CLI, "healthcheck"], {
    env: { ...env, CERT_REQS: "0" },
    encoding: "utf8",
  });
  t.equal(without.status, 1, "without presenting it, the check fails (so the one above depended on it)");
});

t.test("bad TLS settings stop start-up with a message naming the problem", async (t) => {
  install(first);
  const cases: [string, Record<string, string>, RegExp][] = [
    [
      "a key that is not the certificate's",
      { CERTFILE, KEYFILE: second.keyFile },
      /KEYFILE .*forestd-second\.key is not the key of CERTFILE/,
    ],
    [
      "a missing certificate",
      { CERTFILE: join(pki.dir, "nothing.pem"), KEYFILE },
      /CERTFILE .*nothing\.pem does not exist/,
    ],
    [
      "a key file that is a directory",
      { CERTFILE, KEYFILE: pki.dir },
      /KEYFILE .* is a directory, not a PEM file/,
    ],
    [
      "client certificates without CA_CERTS",
      { CERTFILE, KEYFILE, METRICS_CERT_REQS: "2" },
      /METRICS_CERT_REQS 2 needs CA_CERTS/,
    ],
  ];
  // Side by side: each run is mostly Node's start-up (none gets as far as listening).
  const runs = await Promise.all(
    cases.map(([, env]) =>
      forestdAsync(["serve"], "", {
        ...process.env,
        BIND: "127.0.0.1:0",
        METRICS_PORT: "0",
        WORKERS: "1",
        ...env,
      }),
    ),
  );
  for (const [i, [what, , message]] of cases.entries()) {
    t.equal(runs[i].code, 2, `${what}: exit 2`);
    t.match(runs[i].stderr, /^forestd: invalid settings:\n/, `${what}: a settings error`);
    t.match(runs[i].stderr, message, what);
  }
});
