/**
 * MODEL_REPOSITORY read by the primary (server/repository/) from a directory, an S3 prefix and an
 * HTTPS index: models and versions served, entries refused with their reasons, only changed files
 * fetched, bad replacements keeping the old version, duplicates, the repository API's load and
 * unload, MODEL_MEMORY_LIMIT. The HTTPS server's certificate is trusted the operator's way
 * (NODE_EXTRA_CA_CERTS, read once at start), so this file starts itself again with it set and the
 * cases (test/helpers/repository-cases.ts) run in that child; its TAP output is this file's.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { selfSignedCertificate } from "../helpers/tls.js";

if (process.env.FORESTD_TEST_TLS_CERT === undefined) {
  const tls = selfSignedCertificate();
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: "inherit",
    env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.certFile, FORESTD_TEST_TLS_CERT: tls.certFile },
    timeout: 240_000,
  });
  process.exitCode = child.status ?? 1;
} else {
  await import("../helpers/repository-cases.js");
}
