/**
 * Certificate building (x509/tbs.ts, sign.ts, issue.ts, leaf_key.ts,
 * parse.ts, pem.ts) with CA keys from signing.ts used through a signer
 * callback. `openssl` is the independent oracle (needs `--allow-run` and
 * openssl; without them those checks report themselves ignored with the
 * reason, and fail in CI); the parse-back checks always run.
 */

import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, sign as nodeSign, verify } from "node:crypto";
import { toHex } from "../../../lib/core/encoding.ts";
import type { KeyType } from "../../../lib/core/ops.ts";
import {
  generateSigningKey,
  publicKeyToSpkiDer,
  signMessage,
  signMessageAsync,
} from "../../../lib/crypto/signing.ts";
import {
  buildLeafTbs,
  CA_KEY_TYPES,
  type CaCertificateInfo,
  caCertificateInfo,
  type CaKeyType,
  checkCaSubject,
  checkLeafRequest,
  CLOCK_SKEW_SECS,
  createCaCertificate,
  dersToPem,
  derToPem,
  generateLeafKey,
  isCaKeyType,
  issueLeafCertificate,
  keyIdentifierOfSpki,
  type LeafRequest,
  parseCertificate,
  pemToDers,
  requireCaKeyType,
  signatureAlgorithmDer,
  signCertificate,
  x509SignatureValue,
} from "../../../lib/crypto/x509/mod.ts";
import { spkiFromPkcs8 } from "../../../lib/crypto/x509/leaf_key.ts";
import { gated } from "../../helpers/peers.ts";
import { OPENSSL_ORACLE } from "./helpers.ts";
import {
  assertKeyMatchesCert,
  assertVerifies,
  count,
  inTemp,
  isCode,
  opensslOracle,
  opensslText,
  opensslVerify,
} from "./x509_helpers.ts";

const SIG_OIDS: Readonly<Record<CaKeyType, string>> = {
  "ecdsa-p256": "1.2.840.10045.4.3.2",
  "ecdsa-p384": "1.2.840.10045.4.3.3",
  "ecdsa-p521": "1.2.840.10045.4.3.4",
  "ed25519": "1.3.101.112",
  "rsa-2048": "1.2.840.113549.1.1.11",
};
const OPENSSL_SIG: Readonly<Record<CaKeyType, string>> = {
  "ecdsa-p256": "ecdsa-with-SHA256",
  "ecdsa-p384": "ecdsa-with-SHA384",
  "ecdsa-p521": "ecdsa-with-SHA512",
  "ed25519": "ED25519",
  "rsa-2048": "sha256WithRSAEncryption",
};

interface TestCa {
  readonly keyType: CaKeyType;
  readonly info: CaCertificateInfo;
  readonly sign: (tbs: Uint8Array) => Promise<Uint8Array>;
}

async function makeCa(
  keyType: CaKeyType,
  subject = { commonName: "Basil Test CA", uri: "spiffe://example.org" },
  validitySecs?: number,
  now?: Date,
): Promise<TestCa> {
  const pair = generateSigningKey(keyType);
  const secret = pair.privateKey.expose().slice();
  pair.privateKey.wipe();
  const sign = (tbs: Uint8Array) => signMessageAsync(keyType, secret, tbs);
  const der = await createCaCertificate({
    keyType,
    spkiDer: publicKeyToSpkiDer(keyType, pair.publicKey),
    subject: checkCaSubject(subject),
    validitySecs,
    sign,
    now,
  });
  return { keyType, info: caCertificateInfo(parseCertificate(der)), sign };
}

function leafRequest(over: Partial<LeafRequest> = {}): LeafRequest {
  return {
    dnsSans: [],
    ipSans: [],
    uriSans: ["spiffe://example.org/ns/web"],
    ttlSecs: 3600,
    svid: true,
    ...over,
  };
}

function issue(ca: TestCa, over: Partial<LeafRequest> = {}, now?: Date) {
  return issueLeafCertificate({
    issuer: ca.info,
    issuerKeyType: ca.keyType,
    profile: checkLeafRequest(leafRequest(over)),
    sign: ca.sign,
    now,
  });
}

Deno.test("x509: CA key types", () => {
  assert.deepEqual([...CA_KEY_TYPES].sort(), Object.keys(SIG_OIDS).sort());
  for (const kt of ["ed25519-nkey", "aes-256-gcm", "x25519", "ml-dsa-65"] as KeyType[]) {
    assert.equal(isCaKeyType(kt), false, kt);
    assert.throws(() => requireCaKeyType(kt), isCode("UNSUPPORTED_ALGORITHM"));
  }
  // RSA parameters are an explicit NULL; the others have none (RFC 4055, 5758, 8410).
  assert.equal(toHex(signatureAlgorithmDer("rsa-2048")), "300d06092a864886f70d01010b0500");
  assert.equal(toHex(signatureAlgorithmDer("ecdsa-p256")), "300a06082a8648ce3d040302");
  assert.equal(toHex(signatureAlgorithmDer("ed25519")), "300506032b6570");
});

Deno.test("x509: CA and SVID leaf fields read back for every CA key type", async () => {
  for (const kt of CA_KEY_TYPES) {
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    const ca = await makeCa(kt);
    const caCert = parseCertificate(ca.info.der);
    assert.equal(caCert.signatureAlgorithm, SIG_OIDS[kt], kt);
    assert.ok(caCert.isCa);
    assert.deepEqual(caCert.issuerDer, caCert.subjectDer, "self-signed");
    assert.deepEqual(caCert.subjectKeyId, caCert.authorityKeyId);
    assert.deepEqual(caCert.subjectKeyId, keyIdentifierOfSpki(caCert.spkiDer));
    assert.equal(caCert.subjectKeyId!.length, 20);
    assert.deepEqual(caCert.uriSans, ["spiffe://example.org"]);
    assert.equal(caCert.subjectCommonName, "Basil Test CA");
    assert.equal(ca.info.trustDomain, "example.org");
    assert.ok(caCert.notBefore.getTime() >= t0 - CLOCK_SKEW_SECS * 1000 - 1000);
    assert.ok(caCert.notAfter.getTime() - caCert.notBefore.getTime() > 9 * 365 * 86400_000);

    const leaf = await issue(ca);
    try {
      const c = parseCertificate(leaf.certDer);
      assert.equal(c.signatureAlgorithm, SIG_OIDS[kt]);
      assert.equal(c.isCa, false);
      assert.deepEqual(c.uriSans, ["spiffe://example.org/ns/web"]);
      assert.deepEqual(c.dnsSans, []);
      assert.deepEqual(c.ipSans, []);
      assert.equal(c.subjectCommonName, undefined);
      assert.equal(toHex(c.subjectDer), "3000", "empty subject");
      assert.equal(c.sanCritical, true, "SAN is critical when the subject is empty");
      assert.deepEqual(c.issuerDer, caCert.subjectDer);
      assert.deepEqual(c.authorityKeyId, caCert.subjectKeyId);
      assert.deepEqual(c.subjectKeyId, keyIdentifierOfSpki(c.spkiDer));
      assert.equal(c.serial.length, 16);
      assert.ok(c.serial[0]! > 0 && c.serial[0]! < 0x80, "positive, minimal 16-byte serial");
      assert.deepEqual(c.notBefore, leaf.notBefore);
      assert.deepEqual(c.notAfter, leaf.notAfter);
      assert.equal(leaf.notBefore.getMilliseconds(), 0);
      assert.equal(
        leaf.notAfter.getTime() - leaf.notBefore.getTime(),
        (3600 + CLOCK_SKEW_SECS) * 1000,
      );
    } finally {
      leaf.privateKeyPkcs8.wipe();
    }
  }
});

Deno.test(gated(OPENSSL_ORACLE, {
  name: "x509: openssl verifies CA and SVID leaves; the profile is SPIFFE's",
  fn: async () => {
    await inTemp(async (dir) => {
      for (const kt of CA_KEY_TYPES) {
        const ca = await makeCa(kt);
        const leaf = await issue(ca);
        try {
          await assertVerifies(dir, [ca.info.der], leaf.certDer);
          await assertVerifies(dir, [ca.info.der], leaf.certDer, ["-purpose", "sslclient"]);
          await assertVerifies(dir, [ca.info.der], leaf.certDer, ["-purpose", "sslserver"]);
          await assertKeyMatchesCert(dir, leaf.privateKeyPkcs8.expose(), leaf.certDer);

          const caText = await opensslText(dir, ca.info.der);
          assert.match(caText, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
          assert.match(caText, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
          assert.match(caText, /Subject Key Identifier/);
          assert.match(caText, /Authority Key Identifier/);
          assert.equal(count(caText, "URI:spiffe://example.org"), 1);
          assert.match(caText, new RegExp(`Signature Algorithm: ${OPENSSL_SIG[kt]}`));

          const text = await opensslText(dir, leaf.certDer);
          assert.equal(count(text, "URI:"), 1, text);
          assert.equal(count(text, "URI:spiffe://example.org/ns/web"), 1);
          assert.match(text, /Subject Alternative Name: critical/);
          assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
          assert.match(text, /Key Usage: critical\s+Digital Signature\n/);
          assert.match(
            text,
            /Extended Key Usage:\s*\n\s+TLS Web Server Authentication, TLS Web Client Authentication/,
          );
          assert.match(text, /Subject Key Identifier/);
          assert.match(text, /Authority Key Identifier/);
          assert.match(text, /Version: 3 \(0x2\)/);
          assert.match(text, /Public-Key: \(256 bit\)[\s\S]*NIST CURVE: P-256/);
          assert.match(text, new RegExp(`Signature Algorithm: ${OPENSSL_SIG[kt]}`));
          // A leaf is no CA: nothing it "signs" verifies.
          const child = await issueLeafCertificate({
            issuer: caCertificateInfo({ ...parseCertificate(leaf.certDer), isCa: true }),
            issuerKeyType: "ecdsa-p256",
            profile: checkLeafRequest(leafRequest()),
            sign: (tbs) =>
              Promise.resolve(signMessage("ecdsa-p256", leaf.privateKeyPkcs8.expose(), tbs)),
          });
          child.privateKeyPkcs8.wipe();
          const r = await opensslVerify(dir, [ca.info.der, leaf.certDer], child.certDer);
          assert.equal(r.ok, false, "a leaf cannot issue");
          assert.match(r.out, /invalid CA certificate/);
        } finally {
          leaf.privateKeyPkcs8.wipe();
        }
      }
    });
  },
}));

Deno.test("x509: TLS leaf with CN, DNS, IPv4 and IPv6 SANs", async (t) => {
  const ca = await makeCa("ecdsa-p256", { commonName: "TLS CA", uri: "" });
  assert.equal(ca.info.uri, undefined);
  const leaf = await issue(ca, {
    svid: false,
    commonName: "svc.example.com",
    dnsSans: ["a.example.com", "*.b.example.com"],
    ipSans: ["127.0.0.1", "::1", "2001:db8::1", "::ffff:10.1.2.3"],
    uriSans: [],
  });
  try {
    const c = parseCertificate(leaf.certDer);
    assert.equal(c.subjectCommonName, "svc.example.com");
    assert.deepEqual(c.dnsSans, ["svc.example.com", "a.example.com", "*.b.example.com"]);
    assert.deepEqual(c.ipSans, ["127.0.0.1", "::1", "2001:db8::1", "::ffff:a01:203"]);
    assert.deepEqual(c.uriSans, []);
    assert.equal(c.sanCritical, false, "subject is not empty");
    await opensslOracle(t, async (dir) => {
      await assertVerifies(dir, [ca.info.der], leaf.certDer, ["-purpose", "sslserver"]);
      await assertVerifies(dir, [ca.info.der], leaf.certDer, [
        "-verify_hostname",
        "x.b.example.com",
      ]);
      await assertVerifies(dir, [ca.info.der], leaf.certDer, ["-verify_ip", "2001:db8::1"]);
      await assertVerifies(dir, [ca.info.der], leaf.certDer, ["-verify_ip", "127.0.0.1"]);
      const wrongHost = await opensslVerify(dir, [ca.info.der], leaf.certDer, [
        "-verify_hostname",
        "other.example.com",
      ]);
      assert.equal(wrongHost.ok, false);
      await assertKeyMatchesCert(dir, leaf.privateKeyPkcs8.expose(), leaf.certDer);
      const text = await opensslText(dir, leaf.certDer);
      assert.match(text, /Subject: CN = svc\.example\.com/);
      assert.match(text, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
      assert.match(text, /Subject Alternative Name: \n/, "not critical");
      for (
        const s of [
          "DNS:svc.example.com",
          "DNS:a.example.com",
          "DNS:*.b.example.com",
          "IP Address:127.0.0.1",
          "IP Address:0:0:0:0:0:0:0:1",
          "IP Address:2001:DB8:0:0:0:0:0:1",
          "IP Address:0:0:0:0:0:FFFF:A01:203",
        ]
      ) {
        assert.equal(count(text, s), 1, s);
      }
      assert.equal(count(text, "URI:"), 0);
    });
  } finally {
    leaf.privateKeyPkcs8.wipe();
  }
});

Deno.test("x509: leaf validity is clipped to the CA's; an expired CA issues nothing", async () => {
  const ca = await makeCa("ed25519", undefined, 600);
  const leaf = await issue(ca, { ttlSecs: 86400 });
  leaf.privateKeyPkcs8.wipe();
  assert.deepEqual(leaf.notAfter, ca.info.notAfter, "clipped to the CA's notAfter");
  const later = new Date(ca.info.notAfter.getTime() + 1000);
  await assert.rejects(issue(ca, {}, later), isCode("INTERNAL"));
});

Deno.test("x509: times after 2049 are GeneralizedTime (openssl reads them back)", async (t) => {
  const ca = await makeCa("ecdsa-p256", undefined, 40 * 365 * 86400);
  assert.ok(ca.info.notAfter.getUTCFullYear() >= 2060);
  const leaf = await issue(ca, { ttlSecs: 30 * 365 * 86400 });
  leaf.privateKeyPkcs8.wipe();
  assert.ok(leaf.notAfter.getUTCFullYear() >= 2050);
  await opensslOracle(t, async (dir) => {
    const text = await opensslText(dir, ca.info.der);
    assert.match(text, new RegExp(`Not After : .* ${ca.info.notAfter.getUTCFullYear()} GMT`));
    await assertVerifies(dir, [ca.info.der], leaf.certDer);
  });
});

Deno.test("x509: every CA version's subject is unique (serialNumber attribute)", async (t) => {
  const a = await makeCa("ecdsa-p256");
  const b = await makeCa("ecdsa-p256");
  assert.notDeepEqual(a.info.subjectDer, b.info.subjectDer);
  assert.equal(a.info.commonName, b.info.commonName);
  const serial = BigInt(`0x${toHex(parseCertificate(a.info.der).serial)}`).toString(10);
  await opensslOracle(t, async (dir) => {
    const text = await opensslText(dir, a.info.der);
    assert.match(text, new RegExp(`Subject: CN = Basil Test CA, serialNumber = ${serial}\n`));
  });
});

Deno.test("x509: ECDSA signatures become DER ECDSA-Sig-Value; bad signer output is INTERNAL", async () => {
  for (const [kt, curve] of [["ecdsa-p256", "P-256"], ["ecdsa-p384", "P-384"]] as const) {
    const pair = generateSigningKey(kt);
    const msg = new TextEncoder().encode("tbs");
    const raw = signMessage(kt, pair.privateKey.expose(), msg);
    const der = x509SignatureValue(kt, raw);
    assert.equal(der[0], 0x30);
    const pub = createPublicKey({
      key: Buffer.from(publicKeyToSpkiDer(kt, pair.publicKey)),
      format: "der",
      type: "spki",
    });
    const hash = curve === "P-256" ? "sha256" : "sha384";
    assert.ok(verify(hash, msg, { key: pub, dsaEncoding: "der" }, der));
    pair.privateKey.wipe();
  }
  assert.throws(() => x509SignatureValue("ecdsa-p256", new Uint8Array(63)), isCode("INTERNAL"));
  assert.throws(() => x509SignatureValue("rsa-2048", new Uint8Array(64)), isCode("INTERNAL"));
  const key = await generateLeafKey();
  key.privateKeyPkcs8.wipe();
  const ca = await makeCa("ed25519");
  const tbs = buildLeafTbs({
    issuer: ca.info,
    issuerKeyType: "ed25519",
    spkiDer: key.spkiDer,
    profile: checkLeafRequest(leafRequest()),
  });
  await assert.rejects(
    signCertificate(tbs.der, "ed25519", () => Promise.resolve(new Uint8Array(10))),
    isCode("INTERNAL"),
  );
});

Deno.test("x509: leaf keys are P-256; the public key read from PKCS#8 is WebCrypto's SPKI", async () => {
  for (let i = 0; i < 5; i++) {
    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
    ]);
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
    assert.deepEqual(spkiFromPkcs8(pkcs8), spki);
    const mangled = pkcs8.slice();
    mangled[5] = 1;
    assert.equal(spkiFromPkcs8(mangled), undefined, "unexpected layout → fallback");
    assert.equal(spkiFromPkcs8(pkcs8.subarray(0, pkcs8.length - 1)), undefined);
  }
  const key = await generateLeafKey();
  try {
    const priv = createPrivateKey({
      key: Buffer.from(key.privateKeyPkcs8.expose()),
      format: "der",
      type: "pkcs8",
    });
    assert.equal(priv.asymmetricKeyDetails?.namedCurve, "prime256v1");
    const pub = createPublicKey({ key: Buffer.from(key.spkiDer), format: "der", type: "spki" });
    const msg = new TextEncoder().encode("leaf");
    assert.ok(verify("sha256", msg, pub, nodeSign("sha256", msg, priv)));
  } finally {
    key.privateKeyPkcs8.wipe();
  }
});

Deno.test("x509: PEM round trip, single and bundle", () => {
  const a = crypto.getRandomValues(new Uint8Array(300));
  const b = crypto.getRandomValues(new Uint8Array(70));
  const pem = derToPem(a);
  assert.match(pem, /^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{64}\n)+[A-Za-z0-9+/=]+\n/);
  assert.match(pem, /\n-----END CERTIFICATE-----\n$/);
  assert.deepEqual(pemToDers(pem), [a]);
  assert.deepEqual(pemToDers(`junk\n${dersToPem([a, b])}trailer`), [a, b]);
  assert.deepEqual(pemToDers("no blocks"), []);
  assert.throws(() => pemToDers("-----BEGIN CERTIFICATE-----\nAAAA\n"), SyntaxError);
  assert.throws(
    () => pemToDers("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"),
    SyntaxError,
  );
});

Deno.test("x509: parseCertificate rejects what is not a certificate", () => {
  assert.throws(() => parseCertificate(new Uint8Array([0x30, 0x00])), isCode("INVALID_REQUEST"));
  assert.throws(() => parseCertificate(new Uint8Array([1, 2, 3])), isCode("INVALID_REQUEST"));
});
