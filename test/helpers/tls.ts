/** Throwaway certificates for 127.0.0.1 (openssl CLI): self-signed, or a test CA's, for local TLS servers and clients. */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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

/** A certificate and its key, as files, and the certificate's SHA-256 fingerprint (Node's format). */
export interface Issued {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  fingerprint256: string;
}

/** A test CA that issues server and client certificates (openssl CLI), all in one temporary directory. */
export interface TestPki {
  dir: string;
  ca: Issued;
  /** A certificate for 127.0.0.1 / localhost (serverAuth; clientAuth too if asked), signed by `ca`. */
  server(name: string, options?: { clientAuth?: boolean }): Issued;
  /** A client certificate (clientAuth), signed by `ca`. */
  client(name: string): Issued;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function issued(certFile: string, keyFile: string): Issued {
  const cert = readFileSync(certFile);
  return {
    certFile,
    keyFile,
    cert,
    key: readFileSync(keyFile),
    fingerprint256: new X509Certificate(cert).fingerprint256,
  };
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A CA of its own (another test PKI's certificates do not verify against this one's). */
export function testPki(label = "forestd test CA"): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "forestd-pki-"));
  const file = (name: string) => join(dir, name);
  openssl([
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.pem"),
    "-days",
    "2",
    "-subj",
    `/CN=${label}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const ca = issued(file("ca.pem"), file("ca.key"));
  const sign = (name: string, extensions: string): Issued => {
    writeFileSync(file(`${name}.ext`), extensions);
    openssl([
      "req",
      "-new",
      ...EC_KEY,
      "-keyout",
      file(`${name}.key`),
      "-out",
      file(`${name}.csr`),
      "-subj",
      `/CN=${name}`,
    ]);
    openssl([
      "x509",
      "-req",
      "-in",
      file(`${name}.csr`),
      "-CA",
      ca.certFile,
      "-CAkey",
      ca.keyFile,
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      file(`${name}.pem`),
      "-extfile",
      file(`${name}.ext`),
    ]);
    return issued(file(`${name}.pem`), file(`${name}.key`));
  };
  return {
    dir,
    ca,
    server: (name, options = {}) =>
      sign(
        name,
        `subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth${options.clientAuth ? ",clientAuth" : ""}\n`,
      ),
    client: (name) => sign(name, "extendedKeyUsage=clientAuth\n"),
  };
}
