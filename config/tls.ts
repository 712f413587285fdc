/**
 * TLS as Gunicorn has it (CERTFILE, KEYFILE, CA_CERTS, CERT_REQS; METRICS_CERT_REQS for the admin
 * port): the files read and checked, turned into the options a Node TLS server takes, and read
 * again on SIGHUP. One module for every TLS server forestd runs — the workers' HTTP servers, the
 * primary's METRICS_PORT, and any other transport a worker serves (an HTTP/2 or gRPC server is a
 * tls.Server too) — so they all serve the same certificate, checked the same way.
 *
 * Only the primary reads the files (at start, for each reload's generation, on SIGHUP); workers are
 * given what it read, as PEM text over IPC (toPem / fromPem), as they are given model bytes: a
 * worker started while the files are being replaced, or after a SIGHUP found them broken, serves
 * the last good certificate like every other.
 *
 * Protocol and ciphers are not settings: TLS 1.2 and 1.3 only (set explicitly, so that a
 * `--tls-min-v1.0` in NODE_OPTIONS cannot lower it), with Node's default cipher list, which its
 * documentation presents as the recommended one (and which `--tls-cipher-list` replaces, an
 * operator's explicit choice).
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import tls from "node:tls";

/** Python's ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED, as Gunicorn's cert_reqs takes them. */
export type CertReqs = 0 | 1 | 2;
export const CERT_NONE = 0;
export const CERT_OPTIONAL = 1;
export const CERT_REQUIRED = 2;

export const TLS_MIN_VERSION = "TLSv1.2";

export class TlsError extends Error {
  readonly code = "FORESTD_ERR_TLS";
  constructor(message: string) {
    super(message);
    this.name = "TlsError";
  }
}

/** Where the certificate, its key and the client CAs are (absolute paths; caCerts "" = none). */
export interface TlsFiles {
  readonly certfile: string;
  readonly keyfile: string;
  readonly caCerts: string;
}

/** What the files held, checked: a certificate chain, the key that matches it, the client CAs. */
export interface TlsMaterial {
  readonly files: TlsFiles;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** CA_CERTS' certificates (null without CA_CERTS). */
  readonly ca: Buffer | null;
  /** The certificate served (CERTFILE's first): its subject, fingerprint and validity, for logs. */
  readonly leaf: X509Certificate;
}

/** The settings this module reads (a subset of config/settings.ts's Settings). */
export interface TlsSettings {
  readonly certfile: string;
  readonly keyfile: string;
  readonly ca_certs: string;
  readonly cert_reqs: number;
  readonly metrics_cert_reqs: number;
}

/** The files TLS is served from, or null when CERTFILE is unset (plain HTTP). */
export function tlsFiles(settings: TlsSettings): TlsFiles | null {
  if (settings.certfile === "") return null;
  return { certfile: settings.certfile, keyfile: settings.keyfile, caCerts: settings.ca_certs };
}

/**
 * What is wrong with the TLS settings taken together (not the files' content: readTlsMaterial
 * checks that), one line per problem, for the start-up check.
 */
export function tlsSettingsProblems(settings: TlsSettings): string[] {
  const problems: string[] = [];
  const on = settings.certfile !== "";
  if (on && settings.keyfile === "") problems.push("CERTFILE needs KEYFILE, its private key");
  if (!on && settings.keyfile !== "") problems.push("KEYFILE needs CERTFILE, the certificate it belongs to");
  for (const [name, reqs] of [
    ["CERT_REQS", settings.cert_reqs],
    ["METRICS_CERT_REQS", settings.metrics_cert_reqs],
  ] as const) {
    if (reqs === CERT_NONE) continue;
    if (!on)
      problems.push(
        `${name} ${reqs} asks clients for certificates, which needs TLS: set CERTFILE and KEYFILE`,
      );
    else if (settings.ca_certs === "")
      problems.push(
        `${name} ${reqs} needs CA_CERTS, the CA certificates client certificates must be signed by`,
      );
  }
  if (!on && settings.ca_certs !== "")
    problems.push("CA_CERTS needs CERTFILE and KEYFILE (it checks client certificates, over TLS)");
  return problems;
}

/** A file's bytes, or a TlsError naming the setting and the path and saying what is wrong. */
function readSettingFile(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "does not exist"
        : code === "EACCES" || code === "EPERM"
          ? `cannot be read by this user (uid ${process.getuid?.() ?? "?"}): permission denied`
          : code === "EISDIR"
            ? "is a directory, not a PEM file"
            : `cannot be read: ${(error as Error).message}`;
    throw new TlsError(`${setting} ${path} ${why}`);
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM file, parsed; a TlsError when it holds none or one does not parse. */
function parseCertificates(setting: string, path: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString("latin1").match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0)
    throw new TlsError(`${setting} ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new TlsError(
        `${setting} ${path}: certificate ${i + 1} does not parse: ${(error as Error).message}`,
      );
    }
  });
}

/** PKCS#8's encrypted form, and the traditional one (Proc-Type: 4,ENCRYPTED). */
const PEM_ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/;

function parsePrivateKey(path: string, pem: Buffer): KeyObject {
  // OpenSSL's own error for a key without its passphrase says only "interrupted or cancelled".
  const encrypted = PEM_ENCRYPTED_KEY.test(pem.toString("latin1"));
  try {
    if (!encrypted) return createPrivateKey(pem);
  } catch (error) {
    throw new TlsError(`KEYFILE ${path} holds no usable PEM private key: ${(error as Error).message}`);
  }
  throw new TlsError(
    `KEYFILE ${path} is encrypted: forestd takes an unencrypted key (keep it in a Secret or a file only forestd's user can read)`,
  );
}

/**
 * Reads and checks the files: each exists and is readable, CERTFILE holds certificates, KEYFILE an
 * unencrypted private key that matches CERTFILE's first certificate, CA_CERTS certificates; then
 * builds a secure context from them, as a server would, so that whatever else OpenSSL refuses (a
 * key too weak for its security level, say) is refused here, with its reason. Throws TlsError.
 */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const cert = readSettingFile("CERTFILE", files.certfile);
  const key = readSettingFile("KEYFILE", files.keyfile);
  const ca = files.caCerts === "" ? null : readSettingFile("CA_CERTS", files.caCerts);
  return checkTlsMaterial(files, cert, key, ca);
}

/** The checks of readTlsMaterial, on bytes already read (`files` says where they came from). */
export function checkTlsMaterial(files: TlsFiles, cert: Buffer, key: Buffer, ca: Buffer | null): TlsMaterial {
  const [leaf] = parseCertificates("CERTFILE", files.certfile, cert);
  const privateKey = parsePrivateKey(files.keyfile, key);
  if (!leaf.checkPrivateKey(privateKey))
    throw new TlsError(
      `KEYFILE ${files.keyfile} is not the key of CERTFILE ${files.certfile} (certificate ${leaf.subject.replaceAll("\n", ", ")}, SHA-256 ${leaf.fingerprint256}): the two do not match`,
    );
  if (ca !== null) parseCertificates("CA_CERTS", files.caCerts, ca);
  const material: TlsMaterial = { files, cert, key, ca, leaf };
  try {
    tls.createSecureContext(secureContextOptions(material));
  } catch (error) {
    throw new TlsError(
      `CERTFILE ${files.certfile} / KEYFILE ${files.keyfile}${ca ? ` / CA_CERTS ${files.caCerts}` : ""} cannot be served: ${(error as Error).message}`,
    );
  }
  return material;
}

/**
 * The secure-context options of every forestd TLS server: for tls.createServer,
 * https.createServer, http2.createSecureServer, and server.setSecureContext on reload.
 */
export function secureContextOptions(material: TlsMaterial): tls.SecureContextOptions {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca ? { ca: material.ca } : {}),
    minVersion: TLS_MIN_VERSION,
    ciphers: tls.DEFAULT_CIPHERS,
  };
}

/**
 * The server options that ask for client certificates, as CERT_REQS says. With 1 (optional) the
 * handshake accepts any certificate or none: enforceOptionalClientCert(server) then closes a
 * connection whose certificate did not verify, as Python's CERT_OPTIONAL does.
 */
export function clientCertOptions(reqs: CertReqs): { requestCert: boolean; rejectUnauthorized: boolean } {
  return { requestCert: reqs !== CERT_NONE, rejectUnauthorized: reqs === CERT_REQUIRED };
}

/** Everything a TLS server is created with: secure context and client-certificate policy. */
export function serverTlsOptions(material: TlsMaterial, reqs: CertReqs): tls.TlsOptions {
  return { ...secureContextOptions(material), ...clientCertOptions(reqs) };
}

/**
 * CERT_REQS 1: a client may send no certificate, but one it sends must verify against CA_CERTS.
 * Node has no such mode (rejectUnauthorized is all or nothing), so the connection is closed as soon
 * as it is established, before any request on it is read.
 */
export function enforceOptionalClientCert(server: tls.Server): void {
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    if (socket.authorized) return;
    const peer = socket.getPeerCertificate();
    if (peer && Object.keys(peer).length > 0) socket.destroy();
  });
}

/**
 * The material as text, to send to another process (a worker is given the primary's, never reading
 * the files itself): PEM is ASCII.
 */
export interface TlsPem {
  readonly files: TlsFiles;
  readonly cert: string;
  readonly key: string;
  readonly ca: string | null;
}

export function toPem(material: TlsMaterial): TlsPem {
  const { files, cert, key, ca } = material;
  return {
    files,
    cert: cert.toString("latin1"),
    key: key.toString("latin1"),
    ca: ca?.toString("latin1") ?? null,
  };
}

/** The material again, checked again (throws TlsError). */
export function fromPem(pem: TlsPem): TlsMaterial {
  const bytes = (text: string) => Buffer.from(text, "latin1");
  return checkTlsMaterial(pem.files, bytes(pem.cert), bytes(pem.key), pem.ca === null ? null : bytes(pem.ca));
}

/** Something that serves TLS and can take a new certificate for its new connections. */
export interface SecureContextTarget {
  setSecureContext(options: tls.SecureContextOptions): void;
}

/**
 * The TLS of one process's servers: the material they started with, and SIGHUP's reload. A server
 * attached here serves each new certificate to its new connections (server.setSecureContext);
 * connections already open keep the certificate they were established with until they close.
 *
 * Another transport in a worker (gRPC, say) uses the worker's instance: an http2.createSecureServer
 * made with options(reqs) and attach()ed follows every reload by itself; a library that builds its
 * own credentials from key and certificate (@grpc/grpc-js's ServerCredentials.createSsl) takes
 * `material` and is told of each new one through onReload.
 */
export class ServerTls {
  #material: TlsMaterial;
  readonly #targets: SecureContextTarget[] = [];
  readonly #listeners: ((material: TlsMaterial) => void)[] = [];

  /** Serves `material` (checked: readTlsMaterial, fromPem). */
  constructor(material: TlsMaterial) {
    this.#material = material;
  }

  /** Reads and checks the files (readTlsMaterial); throws TlsError. */
  static read(files: TlsFiles): ServerTls {
    return new ServerTls(readTlsMaterial(files));
  }

  get material(): TlsMaterial {
    return this.#material;
  }

  /** Options to create a server with that asks for client certificates as `reqs` says. */
  options(reqs: CertReqs): tls.TlsOptions {
    return serverTlsOptions(this.#material, reqs);
  }

  /**
   * `server` (created with options(reqs)) follows every reload; with CERT_REQS 1 it also closes
   * connections whose certificate does not verify.
   */
  attach(server: SecureContextTarget & tls.Server, reqs: CertReqs): void {
    if (reqs === CERT_OPTIONAL) enforceOptionalClientCert(server);
    this.#targets.push(server);
  }

  /** Calls `listener` with the new material after each successful reload (a gRPC credential, say). */
  onReload(listener: (material: TlsMaterial) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Reads the files again (the same ones, or `files`): if they check out, they are served (update);
   * if not, a TlsError and nothing changes (the old certificate keeps serving).
   */
  reload(files: TlsFiles = this.#material.files): TlsMaterial {
    const material = readTlsMaterial(files);
    this.update(material);
    return material;
  }

  /** Every attached server serves `material` to its new connections; the onReload listeners are told. */
  update(material: TlsMaterial): void {
    const options = secureContextOptions(material);
    for (const target of this.#targets) target.setSecureContext(options);
    this.#material = material;
    for (const listener of this.#listeners) listener(material);
  }
}

/** The log fields of a certificate: what it is, for whom, until when. */
export function certificateFields(material: TlsMaterial): Record<string, string> {
  const { leaf } = material;
  return {
    certfile: material.files.certfile,
    subject: leaf.subject.replaceAll("\n", ", "),
    issuer: leaf.issuer.replaceAll("\n", ", "),
    fingerprint256: leaf.fingerprint256,
    valid_to: new Date(leaf.validTo).toISOString(),
  };
}

/** Why the certificate is not valid now (expired, or not yet valid), or null. Clients will refuse it. */
export function certificateValidityProblem(material: TlsMaterial, now = Date.now()): string | null {
  const { leaf } = material;
  if (now > Date.parse(leaf.validTo))
    return `CERTFILE ${material.files.certfile}: the certificate expired on ${new Date(leaf.validTo).toISOString()}`;
  if (now < Date.parse(leaf.validFrom))
    return `CERTFILE ${material.files.certfile}: the certificate is not valid before ${new Date(leaf.validFrom).toISOString()}`;
  return null;
}
