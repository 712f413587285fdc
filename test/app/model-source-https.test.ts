/**
 * Models over HTTPS from a local server with a self-signed certificate, trusted the way an
 * operator would trust a private CA: NODE_EXTRA_CA_CERTS. Node reads that variable once, at
 * start, so this file starts itself again with it set (with the loader flags tap gave it) and the
 * cases run in that child; its TAP output is this file's.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { selfSignedCertificate } from "../helpers/tls.js";

if (process.env.FORESTD_TEST_TLS_CERT === undefined) {
  const tls = selfSignedCertificate();
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: "inherit",
    env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.certFile, FORESTD_TEST_TLS_CERT: tls.certFile },
    timeout: 120_000,
  });
  process.exitCode = child.status ?? 1;
} else {
  await import("../helpers/https-source-cases.js");
}
