/**
 * The keystore pki engine (lib/backends/keystore/pki.ts): CAs stored as
 * `key` entries with their certificates, used in place to issue X509-SVIDs
 * and TLS leaves; rotation and bundles; request checks; storage integrity.
 * `openssl` is the independent oracle (needs `--allow-run` and openssl;
 * without them those steps report themselves ignored with the reason, and
 * fail in CI).
 */

import assert from "node:assert/strict";
import type { CertRequest } from "../../../lib/backends/backend.ts";
import type { CatalogKey } from "../../../lib/catalog/schema.ts";
import type { KeyType } from "../../../lib/core/ops.ts";
import { CA_KEY_TYPES, parseCertificate } from "../../../lib/crypto/x509/mod.ts";
import {
  assertKeyMatchesCert,
  assertVerifies,
  count,
  isCode,
  opensslOracle,
  opensslText,
  opensslVerify,
} from "../crypto/x509_helpers.ts";
import { type KeystoreFixture, withKeystore as withTempKeystore } from "./helpers.ts";

const TD = "example.org";
const CA_SUBJECT = { commonName: "Basil Test CA", uri: `spiffe://${TD}` };
const notFound = isCode("INTERNAL", "key material not found in backend");

function withKeystore(fn: (f: KeystoreFixture) => Promise<void> | void): Promise<void> {
  return withTempKeystore("basil-pki-", fn);
}

function svid(path = "/ns/web", over: Partial<CertRequest> = {}): CertRequest {
  return {
    dnsSans: [],
    ipSans: [],
    uriSans: [`spiffe://${TD}${path}`],
    ttlSecs: 3600,
    svid: true,
    ...over,
  };
}

function pkiKey(path: string, keyType: KeyType): CatalogKey {
  return {
    name: "test.ca",
    class: "asymmetric",
    keyType,
    backend: "ks",
    engine: "pki",
    path,
    publicPath: undefined,
    writable: true,
    missing: "error",
    generate: undefined,
    sealingPin: undefined,
    labels: ["svid_kind=x509", `trust_domain=${TD}`],
    labelMap: new Map([["svid_kind", "x509"], ["trust_domain", TD]]),
    description: "test CA",
  };
}

Deno.test("pki: createCa, info, exists and an SVID per CA key type (openssl verifies)", async (t) => {
  await withKeystore(async (f) => {
    const b = f.open();
    for (const kt of CA_KEY_TYPES) {
      const path = `pki/issue/${kt}`;
      assert.equal(await b.pki.info(path), undefined);
      assert.equal(await b.exists(pkiKey(path, kt)), false);
      await b.pki.createCa(path, kt, CA_SUBJECT);
      assert.deepEqual(await b.pki.info(path), { keyType: kt, latest: 1, minAvailable: 1 });
      assert.equal(await b.exists(pkiKey(path, kt)), true);

      const issued = await b.pki.issue(path, kt, svid());
      try {
        assert.equal(issued.chainDer.length, 1, "leaf only");
        assert.equal(issued.caChainDer.length, 1);
        const [caDer] = await b.pki.caCertificates(path, kt, 1, 1);
        assert.deepEqual(issued.caChainDer[0], caDer);
        const leaf = parseCertificate(issued.chainDer[0]!);
        assert.deepEqual(leaf.uriSans, [`spiffe://${TD}/ns/web`]);
        assert.deepEqual(leaf.notBefore, issued.notBefore);
        assert.deepEqual(leaf.notAfter, issued.notAfter);
        assert.equal(issued.notAfter.getTime() - issued.notBefore.getTime(), (3600 + 60) * 1000);
        await opensslOracle(t, async (dir) => {
          await assertVerifies(dir, [caDer!], issued.chainDer[0]!);
          await assertKeyMatchesCert(dir, issued.privateKeyPkcs8.expose(), issued.chainDer[0]!);
          const text = await opensslText(dir, issued.chainDer[0]!);
          assert.equal(count(text, "URI:"), 1);
          assert.equal(count(text, `URI:spiffe://${TD}/ns/web`), 1);
          assert.match(text, /Subject Alternative Name: critical/);
          assert.match(text, /CA:FALSE/);
          assert.match(text, /Digital Signature/);
          const caText = await opensslText(dir, caDer!);
          assert.match(caText, /CA:TRUE/);
          assert.match(caText, /Certificate Sign/);
          assert.equal(count(caText, `URI:spiffe://${TD}\n`), 1);
        }, `openssl oracle (${kt})`);
      } finally {
        issued.privateKeyPkcs8.wipe();
      }
    }
  });
});

Deno.test("pki: a TLS leaf with CN, DNS and IP SANs", async (t) => {
  await withKeystore(async (f) => {
    const b = f.open();
    const path = "pki/issue/tls";
    await b.pki.createCa(path, "ecdsa-p384", { commonName: "Internal TLS CA" });
    const issued = await b.pki.issue(path, "ecdsa-p384", {
      commonName: "api.internal",
      dnsSans: ["api.example.com"],
      ipSans: ["10.0.0.7", "fd00::7"],
      uriSans: [],
      ttlSecs: 600,
      svid: false,
    });
    try {
      const leaf = parseCertificate(issued.chainDer[0]!);
      assert.equal(leaf.subjectCommonName, "api.internal");
      assert.deepEqual(leaf.dnsSans, ["api.internal", "api.example.com"]);
      assert.deepEqual(leaf.ipSans, ["10.0.0.7", "fd00::7"]);
      await opensslOracle(t, async (dir) => {
        await assertVerifies(dir, issued.caChainDer, issued.chainDer[0]!, [
          "-verify_hostname",
          "api.example.com",
        ]);
        await assertVerifies(dir, issued.caChainDer, issued.chainDer[0]!, [
          "-verify_ip",
          "fd00::7",
        ]);
        const text = await opensslText(dir, issued.chainDer[0]!);
        assert.match(text, /Subject: CN = api\.internal/);
        assert.match(
          text,
          /DNS:api\.internal, DNS:api\.example\.com, IP Address:10\.0\.0\.7, IP Address:FD00:0:0:0:0:0:0:7/,
        );
        await assertKeyMatchesCert(dir, issued.privateKeyPkcs8.expose(), issued.chainDer[0]!);
      });
    } finally {
      issued.privateKeyPkcs8.wipe();
    }
  });
});

Deno.test("pki: rotateCa — new leaves chain to the new CA, old leaves to the old one in the bundle", async (t) => {
  await withKeystore(async (f) => {
    const b = f.open();
    const kt = "ecdsa-p256";
    const path = "pki/issue/svid";
    await b.pki.createCa(path, kt, CA_SUBJECT);
    const old = await b.pki.issue(path, kt, svid("/old"));
    old.privateKeyPkcs8.wipe();
    assert.equal(await b.pki.rotateCa(path, kt), 2);
    assert.deepEqual(await b.pki.info(path), { keyType: kt, latest: 2, minAvailable: 1 });
    const fresh = await b.pki.issue(path, kt, svid("/new"));
    fresh.privateKeyPkcs8.wipe();

    const bundle = await b.pki.caCertificates(path, kt, 1, 2);
    assert.equal(bundle.length, 2);
    const [v2, v1] = bundle.map((d) => parseCertificate(d));
    assert.deepEqual(fresh.caChainDer, [bundle[0]], "issued by the latest version");
    assert.deepEqual(old.caChainDer, [bundle[1]]);
    assert.deepEqual(await b.pki.caCertificates(path, kt, 2, 2), [bundle[0]]);
    assert.deepEqual(await b.pki.caCertificates(path, kt, 1, 1), [bundle[1]]);
    assert.deepEqual(await b.pki.caCertificates(path, kt, 1, 9), bundle, "clipped to what exists");

    assert.notDeepEqual(v1!.subjectKeyId, v2!.subjectKeyId, "a fresh key");
    assert.notDeepEqual(v1!.subjectDer, v2!.subjectDer, "a distinct subject name");
    assert.equal(v2!.subjectCommonName, "Basil Test CA", "rotation keeps the CN");
    assert.deepEqual(v2!.uriSans, [`spiffe://${TD}`], "and the trust domain URI");
    assert.deepEqual(parseCertificate(fresh.chainDer[0]!).authorityKeyId, v2!.subjectKeyId);
    assert.deepEqual(parseCertificate(old.chainDer[0]!).authorityKeyId, v1!.subjectKeyId);

    await opensslOracle(t, async (dir) => {
      await assertVerifies(dir, bundle, fresh.chainDer[0]!);
      await assertVerifies(dir, bundle, old.chainDer[0]!);
      await assertVerifies(dir, [bundle[0]!], fresh.chainDer[0]!);
      await assertVerifies(dir, [bundle[1]!], old.chainDer[0]!);
      assert.equal((await opensslVerify(dir, [bundle[1]!], fresh.chainDer[0]!)).ok, false);
      assert.equal((await opensslVerify(dir, [bundle[0]!], old.chainDer[0]!)).ok, false);
    });
  });
});

Deno.test("pki: pruned CA versions leave the bundle; the rest survive a reopen", async () => {
  await withKeystore(async (f) => {
    const kt = "ed25519";
    const path = "pki/issue/prune";
    let bundle: Uint8Array[];
    {
      const b = f.open();
      await b.pki.createCa(path, kt, CA_SUBJECT);
      await b.pki.rotateCa(path, kt);
      await b.pki.rotateCa(path, kt);
      bundle = await b.pki.caCertificates(path, kt, 1, 3);
      assert.equal(bundle.length, 3);
      assert.equal(b.store.prune("key", path, 2), 1);
      assert.deepEqual(await b.pki.info(path), { keyType: kt, latest: 3, minAvailable: 2 });
      assert.deepEqual(await b.pki.caCertificates(path, kt, 1, 3), bundle.slice(0, 2));
      b.close();
    }
    const again = f.open();
    assert.deepEqual(await again.pki.caCertificates(path, kt, 2, 3), bundle.slice(0, 2));
    const issued = await again.pki.issue(path, kt, svid());
    issued.privateKeyPkcs8.wipe();
    assert.deepEqual(issued.caChainDer, [bundle[0]]);
  });
});

Deno.test("pki: bad requests are INVALID_REQUEST naming the field", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    const kt = "ecdsa-p256";
    const path = "pki/issue/bad";
    await b.pki.createCa(path, kt, CA_SUBJECT);
    const tls: CertRequest = {
      commonName: "svc",
      dnsSans: [],
      ipSans: [],
      uriSans: [],
      ttlSecs: 60,
      svid: false,
    };
    const bad: [CertRequest, string | RegExp][] = [
      [svid("", { uriSans: [] }), /^uri_sans: .*exactly one/],
      [svid("", { uriSans: [`spiffe://${TD}/a`, `spiffe://${TD}/b`] }), /^uri_sans: .*got 2$/],
      [svid("", { uriSans: ["https://example.org/a"] }), "uri_sans[0]: not a valid SPIFFE ID"],
      [svid("", { uriSans: ["spiffe://other.org/a"] }), /^uri_sans\[0\]: .*trust domain/],
      [svid("/x", { dnsSans: ["bad..name"] }), "dns_sans[0]: not a valid DNS name"],
      [svid("/x", { ipSans: ["1.2.3.256"] }), "ip_sans[0]: not a valid IP address"],
      [svid("/x", { ttlSecs: 0 }), /^ttl: /],
      [{ ...tls, commonName: undefined }, "common_name: required for a TLS certificate"],
      [{ ...tls, dnsSans: ["ok.example", "-bad.example"] }, "dns_sans[1]: not a valid DNS name"],
      [{ ...tls, ipSans: ["::1", "::1::"] }, "ip_sans[1]: not a valid IP address"],
      [{ ...tls, ttlSecs: 0 }, /^ttl: /],
    ];
    for (const [req, message] of bad) {
      await assert.rejects(b.pki.issue(path, kt, req), isCode("INVALID_REQUEST", message));
    }
  });
});

Deno.test("pki: createCa rejects an existing CA, bad subjects and non-CA key types", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    const path = "pki/issue/ca";
    await b.pki.createCa(path, "ecdsa-p256", CA_SUBJECT);
    const first = await b.pki.caCertificates(path, "ecdsa-p256", 1, 1);
    await assert.rejects(
      b.pki.createCa(path, "ecdsa-p256", CA_SUBJECT),
      isCode("INVALID_REQUEST", "key already exists"),
    );
    assert.deepEqual(await b.pki.caCertificates(path, "ecdsa-p256", 1, 1), first, "unchanged");
    assert.deepEqual(await b.pki.info(path), { keyType: "ecdsa-p256", latest: 1, minAvailable: 1 });

    await assert.rejects(
      b.pki.createCa("pki/issue/x", "ecdsa-p256", { commonName: "" }),
      isCode("INVALID_REQUEST", /^common_name:/),
    );
    await assert.rejects(
      b.pki.createCa("pki/issue/x", "ecdsa-p256", { commonName: "CA", uri: "spiffe://BAD" }),
      isCode("INVALID_REQUEST", /^uri:/),
    );
    for (const kt of ["ed25519-nkey", "aes-256-gcm", "x25519", "ml-dsa-44"] as KeyType[]) {
      await assert.rejects(
        b.pki.createCa("pki/issue/x", kt, CA_SUBJECT),
        isCode("UNSUPPORTED_ALGORITHM"),
      );
      await assert.rejects(b.pki.issue(path, kt, svid()), isCode("UNSUPPORTED_ALGORITHM"));
    }
    assert.equal(await b.pki.info("pki/issue/x"), undefined, "nothing was written");
  });
});

Deno.test("pki: absent CAs and key type mismatches are INTERNAL", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    await assert.rejects(b.pki.issue("pki/issue/none", "ecdsa-p256", svid()), notFound);
    await assert.rejects(b.pki.rotateCa("pki/issue/none", "ecdsa-p256"), notFound);
    await assert.rejects(b.pki.caCertificates("pki/issue/none", "ecdsa-p256", 1, 1), notFound);
    const path = "pki/issue/typed";
    await b.pki.createCa(path, "ecdsa-p256", CA_SUBJECT);
    for (
      const call of [
        () => b.pki.issue(path, "ecdsa-p384", svid()),
        () => b.pki.rotateCa(path, "ed25519"),
        () => b.pki.caCertificates(path, "rsa-2048", 1, 1),
      ]
    ) {
      await assert.rejects(call(), (e: unknown) => {
        isCode("INTERNAL")(e);
        assert.match((e as { detail: string }).detail, /holds ecdsa-p256, the catalog says/);
        return true;
      });
    }
    await assert.rejects(b.pki.caCertificates(path, "ecdsa-p256", 2, 1), isCode("INTERNAL"));
    await assert.rejects(b.pki.caCertificates(path, "ecdsa-p256", 0, 1), isCode("INTERNAL"));
    // A transit key at the path has no certificate: INTERNAL, never a bogus leaf.
    await b.transit.create("plain", "ecdsa-p256");
    await assert.rejects(b.pki.issue("plain", "ecdsa-p256", svid()), (e: unknown) => {
      isCode("INTERNAL")(e);
      assert.match((e as { detail: string }).detail, /holds no valid CA certificate/);
      return true;
    });
  });
});

Deno.test("pki: the CA key stays sealed and an edited certificate fails to open", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    const path = "pki/issue/sealed";
    await b.pki.createCa(path, "ecdsa-p256", CA_SUBJECT);
    const [caDer] = await b.pki.caCertificates(path, "ecdsa-p256", 1, 1);
    const db = f.rawDb();
    const row = db.prepare("SELECT key_type, public, sealed FROM entries WHERE path = ?").get(path);
    assert.ok(row);
    assert.equal(row.key_type, "ecdsa-p256");
    assert.deepEqual(new Uint8Array(row.public as Uint8Array), caDer, "certificate in `public`");
    // The sealed blob is nonce + AES-GCM: no PKCS#8 header in sight.
    const sealed = row.sealed as Uint8Array;
    const hex = Array.from(sealed, (x) => x.toString(16).padStart(2, "0")).join("");
    assert.equal(hex.includes("2a8648ce3d0201"), false, "no id-ecPublicKey OID in the clear");

    const edited = caDer!.slice();
    edited[edited.length - 1]! ^= 1;
    db.prepare("UPDATE entries SET public = ? WHERE path = ?").run(edited, path);
    await assert.rejects(b.pki.issue(path, "ecdsa-p256", svid()), (e: unknown) => {
      isCode("INTERNAL")(e);
      assert.match((e as { detail: string }).detail, /failed authentication/);
      return true;
    });
    // The running store serves the certificate it authenticated, never the edited one;
    // a fresh store refuses the row.
    assert.deepEqual(await b.pki.caCertificates(path, "ecdsa-p256", 1, 1), [caDer]);
    const fresh = f.open();
    await assert.rejects(fresh.pki.caCertificates(path, "ecdsa-p256", 1, 1), isCode("INTERNAL"));
  });
});

Deno.test("pki: issuance cost (printed, not asserted)", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    for (const kt of ["ecdsa-p256", "ed25519"] as const) {
      const path = `pki/issue/timing-${kt}`;
      await b.pki.createCa(path, kt, CA_SUBJECT);
      for (let i = 0; i < 50; i++) (await b.pki.issue(path, kt, svid())).privateKeyPkcs8.wipe();
      const n = 300;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) (await b.pki.issue(path, kt, svid())).privateKeyPkcs8.wipe();
      const ms = (performance.now() - t0) / n;
      // deno-lint-ignore no-console
      console.log(`pki issue (SVID, ${kt} CA, P-256 leaf): ${ms.toFixed(3)} ms/op over ${n}`);
    }
  });
});
