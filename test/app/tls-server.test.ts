/**
 * config/tls.ts's ServerTls on real servers in process (loopback, a test CA's certificates): what
 * each CERT_REQS lets in, and reload — new connections get the new certificate, open ones keep
 * theirs and go on working, broken files change nothing. An HTTP/2 server (what gRPC runs on)
 * follows reloads the same way.
 */
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { createSecureServer, connect as http2Connect } from "node:http2";
import { join } from "node:path";
import { type ConnectionOptions, connect, createServer, type Server, type TLSSocket } from "node:tls";
import t from "tap";
import { type CertReqs, fromPem, ServerTls, TlsError, type TlsMaterial, toPem } from "../../config/tls.js";
import { type Issued, testPki } from "../helpers/tls.js";

const pki = testPki();
const first = pki.server("first");
const second = pki.server("second");
const client = pki.client("client");
const stranger = testPki("another CA").client("stranger");

function liveFiles(dir: string, issued: Issued) {
  const files = { certfile: join(dir, "cert.pem"), keyfile: join(dir, "key.pem"), caCerts: pki.ca.certFile };
  install(files, issued);
  return files;
}

function install(files: { certfile: string; keyfile: string }, issued: Issued): void {
  copyFileSync(issued.certFile, `${files.certfile}.new`);
  copyFileSync(issued.keyFile, `${files.keyfile}.new`);
  renameSync(`${files.certfile}.new`, files.certfile);
  renameSync(`${files.keyfile}.new`, files.keyfile);
}

/** An echo server over TLS: what it reads on a connection, it writes back. */
async function echoServer(serverTls: ServerTls, reqs: CertReqs): Promise<{ server: Server; port: number }> {
  const server = createServer(serverTls.options(reqs), (socket) => socket.pipe(socket));
  serverTls.attach(server, reqs);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** Connects and echoes `text` once: the socket (left open) and the server certificate's fingerprint. */
function echo(
  port: number,
  text: string,
  options: ConnectionOptions = {},
): Promise<{ socket: TLSSocket; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca: pki.ca.cert, ...options }, () => {
      socket.write(text);
    });
    socket.once("data", (data) => {
      if (data.toString() !== text) reject(new Error(`echoed ${data}`));
      resolve({ socket, fingerprint: socket.getPeerCertificate().fingerprint256 });
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error("closed before echoing")));
  });
}

/** The same, on a connection already open. */
function echoAgain(socket: TLSSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once("data", (data) => resolve(data.toString()));
    socket.once("error", reject);
    socket.write(text);
  });
}

t.test("CERT_REQS 0, 1 and 2, as Python's ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED", async (t) => {
  const serverTls = ServerTls.read(liveFiles(pki.dir, first));
  const withCert = { cert: client.cert, key: client.key };
  const strangerCert = { cert: stranger.cert, key: stranger.key };
  const expectations: [CertReqs, boolean, boolean, boolean][] = [
    // reqs, no certificate, CA_CERTS' certificate, another CA's certificate
    [0, true, true, true],
    [1, true, true, false],
    [2, false, true, false],
  ];
  for (const [reqs, none, known, other] of expectations) {
    const { server, port } = await echoServer(serverTls, reqs);
    for (const [what, options, served] of [
      ["no certificate", {}, none],
      ["CA_CERTS' certificate", withCert, known],
      ["another CA's certificate", strangerCert, other],
    ] as const) {
      const attempt = echo(port, "ping", options);
      if (served) t.equal((await attempt).fingerprint, first.fingerprint256, `${reqs}: ${what} served`);
      else await t.rejects(attempt, `${reqs}: ${what} refused`);
      void attempt.then(
        ({ socket }) => socket.destroy(),
        () => undefined,
      );
    }
    await new Promise((resolve) => server.close(resolve));
  }
});

t.test("reload: new connections get the new certificate, open ones keep theirs", async (t) => {
  const dir = join(pki.dir, "reload");
  mkdirSync(dir);
  const files = liveFiles(dir, first);
  const serverTls = ServerTls.read(files);
  const told: TlsMaterial[] = [];
  serverTls.onReload((material) => told.push(material));
  const { server, port } = await echoServer(serverTls, 0);
  t.teardown(() => server.close());

  const old = await echo(port, "before");
  t.equal(old.fingerprint, first.fingerprint256, "the first certificate");
  install(files, second);
  const material = serverTls.reload();
  t.equal(material.leaf.fingerprint256, second.fingerprint256, "reload returns what it read");
  t.same(
    told.map((m) => m.leaf.fingerprint256),
    [second.fingerprint256],
    "onReload listeners are told (a gRPC credential would be rebuilt there)",
  );
  const fresh = await echo(port, "after");
  t.equal(fresh.fingerprint, second.fingerprint256, "a new connection gets the new certificate");
  t.equal(await echoAgain(old.socket, "still here"), "still here", "the open connection goes on working");
  t.equal(old.socket.getPeerCertificate().fingerprint256, first.fingerprint256, "with its certificate");

  // Broken: a key that is not the certificate's. Nothing changes.
  writeFileSync(files.keyfile, first.key);
  t.throws(() => serverTls.reload(), TlsError, "a reload of mismatched files throws");
  t.equal(serverTls.material.leaf.fingerprint256, second.fingerprint256, "the material is the last good one");
  t.equal(told.length, 1, "and nobody is told");
  const again = await echo(port, "again");
  t.equal(again.fingerprint, second.fingerprint256, "new connections still get it");
  for (const s of [old.socket, fresh.socket, again.socket]) s.destroy();
});

t.test("an HTTP/2 server (gRPC's transport) takes the same options and follows reloads", async (t) => {
  const dir = join(pki.dir, "h2");
  mkdirSync(dir);
  const files = liveFiles(dir, first);
  const serverTls = ServerTls.read(files);
  const server = createSecureServer(serverTls.options(0), (_request, response) => response.end("h2"));
  serverTls.attach(server, 0);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const fingerprint = () =>
    new Promise<string>((resolve, reject) => {
      const session = http2Connect(`https://127.0.0.1:${port}`, { ca: pki.ca.cert });
      session.on("error", reject);
      const stream = session.request({ ":path": "/" });
      stream.on("error", reject);
      stream.resume();
      stream.on("end", () => {
        resolve((session.socket as TLSSocket).getPeerCertificate().fingerprint256);
        session.close();
      });
    });
  t.equal(await fingerprint(), first.fingerprint256, "served over HTTP/2 with TLS");
  install(files, second);
  serverTls.reload();
  t.equal(await fingerprint(), second.fingerprint256, "a new session gets the reloaded certificate");
});

t.test("the material as PEM text, for another process: checked again on arrival", async (t) => {
  const dir = join(pki.dir, "pem");
  mkdirSync(dir);
  const served = ServerTls.read(liveFiles(dir, first));
  const pem = JSON.parse(JSON.stringify(toPem(served.material))); // as IPC carries it
  const material = fromPem(pem);
  t.equal(material.leaf.fingerprint256, first.fingerprint256, "the same certificate");
  t.same(material.key, first.key, "and key");
  t.same(material.ca, pki.ca.cert, "and client CAs");
  t.throws(
    () => fromPem({ ...pem, key: second.key.toString("latin1") }),
    TlsError,
    "a mismatched pair is refused",
  );

  const receiving = new ServerTls(material);
  const { server, port } = await echoServer(receiving, 0);
  t.teardown(() => server.close());
  const before = await echo(port, "one");
  receiving.update(fromPem(toPem(ServerTls.read(liveFiles(dir, second)).material)));
  const after = await echo(port, "two");
  t.equal(before.fingerprint, first.fingerprint256, "served before the update");
  t.equal(after.fingerprint, second.fingerprint256, "update: new connections get the new certificate");
  for (const s of [before.socket, after.socket]) s.destroy();
});
