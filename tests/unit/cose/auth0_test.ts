/**
 * The independent peer: npm `@auth0/cose` 1.0.2 verifies the outer
 * COSE_Sign1 of every fixture message, of a request built by
 * lib/cose/mod.ts, and of the ES256 fixture, and rejects tampered ones.
 */

import assert from "node:assert/strict";
import { Sign1 } from "@auth0/cose";
import { importJWK } from "jose";
import { ed25519 } from "@noble/curves/ed25519.js";
import { fromHex, toBase64Url } from "../../../lib/core/encoding.ts";
import { buildSignRequest, localSigner } from "../../../lib/cose/mod.ts";
import { ES256, keyHex, SEALED } from "./helpers.ts";

const edKey = (pub: Uint8Array) =>
  importJWK({ kty: "OKP", crv: "Ed25519", x: toBase64Url(pub) }, "EdDSA");

async function verifies(
  bytes: Uint8Array,
  key: Awaited<ReturnType<typeof edKey>>,
): Promise<boolean> {
  try {
    await Sign1.decode(bytes).verify(key);
    return true;
  } catch {
    return false;
  }
}

Deno.test("@auth0/cose verifies every fixture's outer COSE_Sign1", async () => {
  for (const v of SEALED.vectors) {
    const key = await edKey(keyHex(v.signer, "public_hex"));
    const bytes = fromHex(v.cose_sign1_hex);
    assert.ok(await verifies(bytes, key), v.name);
    bytes[bytes.length - 1]! ^= 1;
    assert.ok(!(await verifies(bytes, key)), `${v.name} tampered`);
  }
});

Deno.test("@auth0/cose verifies a request built by lib/cose", async () => {
  const seed = new Uint8Array(32).fill(7);
  const req = await buildSignRequest({
    signer: localSigner("EdDSA", seed),
    senderKeyId: "client.signing.test",
    recipientPublicKey: keyHex("broker-encryption", "public_hex"),
    recipientKeyId: "broker.invocation-encryption.test",
    audience: "basil://broker.test",
    responseKeyId: "client.response.test",
    body: { keyId: "app.sign", message: new Uint8Array([1, 2, 3]), algorithm: 1 },
  });
  assert.ok(await verifies(req.bytes, await edKey(ed25519.getPublicKey(seed))));
  const other = await edKey(ed25519.getPublicKey(new Uint8Array(32).fill(8)));
  assert.ok(!(await verifies(req.bytes, other)));
});

Deno.test("@auth0/cose verifies the ES256 fixture", async () => {
  const pub = fromHex(ES256.key.public_sec1_hex);
  const key = await importJWK({
    kty: "EC",
    crv: "P-256",
    x: toBase64Url(pub.subarray(1, 33)),
    y: toBase64Url(pub.subarray(33)),
  }, "ES256");
  const bytes = fromHex(ES256.cose_sign1_hex);
  await Sign1.decode(bytes).verify(key);
  bytes[bytes.length - 1]! ^= 1;
  await assert.rejects(() => Sign1.decode(bytes).verify(key));
});
