/**
 * The Cloud KMS double driven by the official `@google-cloud/kms` client
 * (not by Basil's backend): the RPCs Basil uses answer in Cloud KMS's
 * shapes and statuses, signatures verify under node:crypto with the PEM the
 * double publishes, CRC32C fields are checked and confirmed, and RPCs the
 * double does not implement are UNIMPLEMENTED rather than a made-up answer.
 */

import assert from "node:assert/strict";
import { createHash, verify as nodeVerify } from "node:crypto";
import { credentials } from "@grpc/grpc-js";
import { KeyManagementServiceClient } from "@google-cloud/kms";
import { crc32c } from "../../lib/backends/gcp_kms/crc32c.ts";
import { startGcpKmsDouble } from "../fakes/gcp_kms/server.ts";

Deno.env.set("METADATA_SERVER_DETECTION", "none");

const RING = "projects/fid/locations/us-east1/keyRings/ring";
const enc = new TextEncoder();
const codeOf = (e: unknown) => (e as { code?: number }).code;

Deno.test("gcp-kms double: the official client's calls, shapes and statuses", async () => {
  const d = await startGcpKmsDouble([RING]);
  const c = new KeyManagementServiceClient({
    apiEndpoint: "127.0.0.1",
    port: d.port,
    sslCreds: credentials.createInsecure(),
  });
  try {
    // Resource name helpers of the client agree with the double's names.
    const keyName = c.cryptoKeyPath("fid", "us-east1", "ring", "ed");
    const [ed] = await c.createCryptoKey({
      parent: c.keyRingPath("fid", "us-east1", "ring"),
      cryptoKeyId: "ed",
      cryptoKey: { purpose: "ASYMMETRIC_SIGN", versionTemplate: { algorithm: "EC_SIGN_ED25519" } },
    });
    assert.equal(ed.name, keyName);
    assert.equal(ed.purpose, "ASYMMETRIC_SIGN");
    assert.equal(ed.primary ?? null, null, "asymmetric keys have no primary");
    await assert.rejects(
      c.createCryptoKey({ parent: RING, cryptoKeyId: "ed", cryptoKey: ed }),
      (e) => codeOf(e) === 6,
    );
    await assert.rejects(
      c.createCryptoKey({
        parent: "projects/fid/locations/us-east1/keyRings/none",
        cryptoKeyId: "x",
        cryptoKey: { purpose: "ENCRYPT_DECRYPT" },
      }),
      (e) => codeOf(e) === 5,
    );

    const v1 = c.cryptoKeyVersionPath("fid", "us-east1", "ring", "ed", "1");
    const [pk] = await c.getPublicKey({ name: v1 });
    assert.equal(pk.name, v1);
    assert.equal(pk.algorithm, "EC_SIGN_ED25519");
    assert.equal(Number(pk.pemCrc32c!.value), await crc32c(enc.encode(pk.pem!)));
    const data = enc.encode("fidelity");
    const [s] = await c.asymmetricSign({
      name: v1,
      data,
      dataCrc32c: { value: await crc32c(data) },
    });
    assert.equal(s.verifiedDataCrc32c, true);
    assert.equal(s.name, v1);
    const sig = s.signature as Uint8Array;
    assert.equal(Number(s.signatureCrc32c!.value), await crc32c(sig));
    assert.ok(nodeVerify(null, data, pk.pem!, sig));
    const [unchecked] = await c.asymmetricSign({ name: v1, data });
    assert.equal(unchecked.verifiedDataCrc32c, false, "no checksum sent, none confirmed");
    await assert.rejects(
      c.asymmetricSign({ name: v1, data, dataCrc32c: { value: (await crc32c(data)) ^ 1 } }),
      (e) => codeOf(e) === 3,
    );
    await assert.rejects(
      c.asymmetricSign({ name: `${keyName}/cryptoKeyVersions/9`, data }),
      (e) => codeOf(e) === 5,
    );

    for (
      const [alg, hash] of [["EC_SIGN_P256_SHA256", "sha256"], [
        "EC_SIGN_P384_SHA384",
        "sha384",
      ]] as const
    ) {
      const id = `ec-${hash}`;
      await c.createCryptoKey({
        parent: RING,
        cryptoKeyId: id,
        cryptoKey: { purpose: "ASYMMETRIC_SIGN", versionTemplate: { algorithm: alg } },
      });
      const name = `${RING}/cryptoKeys/${id}/cryptoKeyVersions/1`;
      const digest = createHash(hash).update(data).digest();
      const [es] = await c.asymmetricSign({
        name,
        digest: { [hash]: digest },
        digestCrc32c: { value: await crc32c(digest) },
      });
      assert.equal(es.verifiedDigestCrc32c, true);
      const [epk] = await c.getPublicKey({ name });
      assert.ok(
        nodeVerify(hash, data, epk.pem!, es.signature as Uint8Array),
        `${alg} DER signature`,
      );
      await assert.rejects(
        c.asymmetricSign({ name, data }),
        (e) => codeOf(e) === 3,
        "EC needs a digest",
      );
    }

    const [sym] = await c.createCryptoKey({
      parent: RING,
      cryptoKeyId: "sym",
      cryptoKey: { purpose: "ENCRYPT_DECRYPT" },
    });
    assert.equal(sym.primary!.name, `${RING}/cryptoKeys/sym/cryptoKeyVersions/1`);
    assert.equal(sym.primary!.state, "ENABLED");
    const aad = enc.encode("aad");
    const [e1] = await c.encrypt({
      name: sym.name,
      plaintext: data,
      plaintextCrc32c: { value: await crc32c(data) },
      additionalAuthenticatedData: aad,
      additionalAuthenticatedDataCrc32c: { value: await crc32c(aad) },
    });
    assert.equal(e1.name, sym.primary!.name);
    assert.equal(e1.verifiedPlaintextCrc32c, true);
    assert.equal(e1.verifiedAdditionalAuthenticatedDataCrc32c, true);
    const ct = e1.ciphertext as Uint8Array;
    assert.equal(Number(e1.ciphertextCrc32c!.value), await crc32c(ct));
    const [v2] = await c.createCryptoKeyVersion({ parent: sym.name, cryptoKeyVersion: {} });
    assert.equal(v2.name, `${sym.name}/cryptoKeyVersions/2`);
    const [upd] = await c.updateCryptoKeyPrimaryVersion({
      name: sym.name,
      cryptoKeyVersionId: "2",
    });
    assert.equal(upd.primary!.name, v2.name);
    const [dd] = await c.decrypt({
      name: sym.name,
      ciphertext: ct,
      additionalAuthenticatedData: aad,
      ciphertextCrc32c: { value: await crc32c(ct) },
    });
    assert.deepEqual(new Uint8Array(dd.plaintext as Uint8Array), data);
    assert.equal(dd.usedPrimary, false, "version 1 decrypts after rotation");
    assert.equal(Number(dd.plaintextCrc32c!.value), await crc32c(data));
    await assert.rejects(c.decrypt({ name: sym.name, ciphertext: ct }), (e) => codeOf(e) === 3);
    await assert.rejects(
      c.decrypt({
        name: `${RING}/cryptoKeys/ec-sha256`,
        ciphertext: ct,
        additionalAuthenticatedData: aad,
      }),
      (e) => codeOf(e) === 9,
    );
    const [ver] = await c.getCryptoKeyVersion({ name: v2.name });
    assert.equal(ver.state, "ENABLED");

    await assert.rejects(
      c.listKeyRings({ parent: "projects/fid/locations/us-east1" }),
      (e) => codeOf(e) === 12,
    );
    // The official client sends the routing header for every call.
    assert.ok(
      d.routing.every((r) => /^(name|parent)=projects%2Ffid%2F/.test(r)),
      d.routing.join("\n"),
    );
  } finally {
    await c.close();
    await d.close();
  }
});
