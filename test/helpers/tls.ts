/** A throwaway self-signed certificate for 127.0.0.1 (openssl CLI), for local HTTPS servers. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface SelfSigned {
  certFile: string;
  cert: string;
  key: string;
}

export function selfSignedCertificate(): SelfSigned {
  const dir = mkdtempSync(join(tmpdir(), "forestd-tls-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  // The openssl package is installed by scripts/install-test-deps.sh.
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "2",
      "-subj",
      "/CN=forestd test",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdio: "ignore" },
  );
  return loadSelfSigned(certFile);
}

/** The certificate made above, read again from its file (by a child process, say). */
export function loadSelfSigned(certFile: string): SelfSigned {
  const key = readFileSync(join(dirname(certFile), "key.pem"), "utf8");
  return { certFile, cert: readFileSync(certFile, "utf8"), key };
}
