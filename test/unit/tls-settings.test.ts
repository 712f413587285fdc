/**
 * CERTFILE, KEYFILE, CA_CERTS, CERT_REQS and METRICS_CERT_REQS checked at start (config/tls.ts,
 * config/load-settings.ts): real files made by openssl, each problem stopping start-up with a
 * message that names the setting, the file and what is wrong with it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import t from "tap";
import { loadSettings, SettingsError } from "../../config/load-settings.js";
import {
  certificateValidityProblem,
  readTlsMaterial,
  TlsError,
  type TlsSettings,
  tlsSettingsProblems,
} from "../../config/tls.js";
import { testPki } from "../helpers/tls.js";

const pki = testPki();
const server = pki.server("server");
const other = pki.server("other");

const base: TlsSettings = { certfile: "", keyfile: "", ca_certs: "", cert_reqs: 0, metrics_cert_reqs: 0 };

t.test("settings that do not go together, each named", async (t) => {
  t.same(tlsSettingsProblems(base), [], "no TLS at all");
  t.same(tlsSettingsProblems({ ...base, certfile: "/c", keyfile: "/k" }), [], "a certificate and its key");
  t.same(
    tlsSettingsProblems({
      ...base,
      certfile: "/c",
      keyfile: "/k",
      ca_certs: "/ca",
      cert_reqs: 2,
      metrics_cert_reqs: 1,
    }),
    [],
    "client certificates with the CAs to check them",
  );
  const cases: [Partial<TlsSettings>, RegExp][] = [
    [{ certfile: "/c" }, /CERTFILE needs KEYFILE/],
    [{ keyfile: "/k" }, /KEYFILE needs CERTFILE/],
    [{ ca_certs: "/ca" }, /CA_CERTS needs CERTFILE and KEYFILE/],
    [{ cert_reqs: 2 }, /CERT_REQS 2 asks clients for certificates, which needs TLS/],
    [{ certfile: "/c", keyfile: "/k", cert_reqs: 1 }, /CERT_REQS 1 needs CA_CERTS/],
    [{ certfile: "/c", keyfile: "/k", metrics_cert_reqs: 2 }, /METRICS_CERT_REQS 2 needs CA_CERTS/],
  ];
  for (const [settings, message] of cases) {
    const problems = tlsSettingsProblems({ ...base, ...settings });
    t.equal(problems.length, 1, JSON.stringify(settings));
    t.match(problems[0], message);
  }
});

t.test("the files are read and checked", async (t) => {
  const material = readTlsMaterial({
    certfile: server.certFile,
    keyfile: server.keyFile,
    caCerts: pki.ca.certFile,
  });
  t.equal(material.leaf.fingerprint256, server.fingerprint256, "the certificate served is CERTFILE's");
  t.same(material.ca, pki.ca.cert, "CA_CERTS' certificates");
  t.equal(certificateValidityProblem(material), null, "valid now");
  t.match(
    certificateValidityProblem(material, Date.now() + 3 * 86_400_000),
    /the certificate expired on/,
    "and expired in three days (it is valid for two)",
  );

  const dir = join(pki.dir, "bad");
  mkdirSync(dir);
  const garbage = join(dir, "garbage.pem");
  writeFileSync(garbage, "not a certificate\n");
  const encrypted = join(dir, "encrypted.key");
  execFileSync("openssl", [
    "pkey",
    "-in",
    server.keyFile,
    "-aes256",
    "-passout",
    "pass:secret",
    "-out",
    encrypted,
  ]);
  const missing = join(dir, "missing.pem");
  const cases: [string, { certfile: string; keyfile: string; caCerts: string }, RegExp][] = [
    [
      "a missing certificate",
      { certfile: missing, keyfile: server.keyFile, caCerts: "" },
      /^CERTFILE .*missing\.pem does not exist$/,
    ],
    [
      "a key that is a directory",
      { certfile: server.certFile, keyfile: dir, caCerts: "" },
      /^KEYFILE .*bad is a directory, not a PEM file$/,
    ],
    [
      "a certificate file without a certificate",
      { certfile: garbage, keyfile: server.keyFile, caCerts: "" },
      /^CERTFILE .*garbage\.pem holds no PEM certificate/,
    ],
    [
      "a key file without a key",
      { certfile: server.certFile, keyfile: garbage, caCerts: "" },
      /^KEYFILE .*garbage\.pem holds no usable PEM private key/,
    ],
    [
      "an encrypted key",
      { certfile: server.certFile, keyfile: encrypted, caCerts: "" },
      /^KEYFILE .*encrypted\.key is encrypted: forestd takes an unencrypted key/,
    ],
    [
      "another certificate's key",
      { certfile: server.certFile, keyfile: other.keyFile, caCerts: "" },
      /^KEYFILE .*other\.key is not the key of CERTFILE .*server\.pem \(certificate CN=server, SHA-256 [0-9A-F:]+\): the two do not match$/,
    ],
    [
      "CA certificates that are not",
      { certfile: server.certFile, keyfile: server.keyFile, caCerts: garbage },
      /^CA_CERTS .*garbage\.pem holds no PEM certificate/,
    ],
    [
      "a missing CA file",
      { certfile: server.certFile, keyfile: server.keyFile, caCerts: missing },
      /^CA_CERTS .*missing\.pem does not exist$/,
    ],
  ];
  for (const [what, files, message] of cases) {
    t.throws(() => readTlsMaterial(files), TlsError, what);
    try {
      readTlsMaterial(files);
    } catch (error) {
      t.match((error as Error).message, message, what);
    }
  }
});

t.test("forestd serve's settings: paths made absolute, problems stop start-up in one message", async (t) => {
  const cwd = pki.dir;
  const { settings } = await loadSettings({
    argv: ["--certfile", relative(cwd, server.certFile), "--keyfile", relative(cwd, server.keyFile)],
    env: { CA_CERTS: relative(cwd, pki.ca.certFile), METRICS_CERT_REQS: "2" },
    cwd,
  });
  t.equal(settings.certfile, server.certFile, "CERTFILE absolute");
  t.equal(settings.keyfile, server.keyFile, "KEYFILE absolute");
  t.equal(settings.ca_certs, pki.ca.certFile, "CA_CERTS absolute");
  t.equal(settings.cert_reqs, 0, "CERT_REQS: Gunicorn's default, none");
  t.equal(settings.metrics_cert_reqs, 2, "METRICS_CERT_REQS: its own");

  await t.rejects(
    loadSettings({ argv: [], env: { CERT_REQS: "3" }, cwd }),
    { message: /CERT_REQS \(--cert-reqs, "cert_reqs"\): must be a whole number from 0 to 2; got 3/ },
    "CERT_REQS is 0, 1 or 2",
  );
  const both = loadSettings({
    argv: [],
    env: { CERTFILE: "cert.pem", CERT_REQS: "2", METRICS_CERT_REQS: "1" },
    cwd,
  });
  await t.rejects(both, SettingsError);
  await t.rejects(
    both,
    {
      message:
        /invalid settings:\n {2}CERTFILE needs KEYFILE.*\n {2}CERT_REQS 2 needs CA_CERTS.*\n {2}METRICS_CERT_REQS 1 needs CA_CERTS/,
    },
    "every problem at once",
  );
  await t.rejects(
    loadSettings({ argv: [], env: { CERTFILE: server.certFile, KEYFILE: other.keyFile }, cwd }),
    { message: /invalid settings:\n {2}KEYFILE .* is not the key of CERTFILE/ },
    "a key that is not the certificate's",
  );
  await t.rejects(
    loadSettings({ argv: [], env: { CERTFILE: "nowhere.pem", KEYFILE: server.keyFile }, cwd }),
    { message: new RegExp(`CERTFILE ${join(cwd, "nowhere.pem")} does not exist`) },
    "a missing file, by its absolute path",
  );
});
