import assert from "node:assert/strict";
import * as nc from "node:crypto";
import { fromBase64Url, utf8 } from "../../../lib/core/encoding.ts";
import { ecScalarFromPkcs8 } from "../../../lib/crypto/ec_pkcs8.ts";
import {
  pemToSpkiDer,
  rawFromFixedDer,
  rawPrivateToPkcs8,
  rawPublicToSpki,
  spkiDerToPem,
} from "../../../lib/crypto/key_formats.ts";

Deno.test("key formats: EC PKCS#8 scalar extraction matches node's JWK d, strictly", () => {
  for (const [curve, size] of [["P-256", 32], ["P-384", 48], ["P-521", 66]] as const) {
    for (let i = 0; i < 5; i++) {
      const { privateKey } = nc.generateKeyPairSync("ec", { namedCurve: curve });
      const der = new Uint8Array(privateKey.export({ format: "der", type: "pkcs8" }));
      const d = fromBase64Url(privateKey.export({ format: "jwk" }).d!);
      const scalar = ecScalarFromPkcs8(der, curve);
      assert.equal(scalar?.length, size);
      const padded = new Uint8Array(size);
      padded.set(d, size - d.length);
      assert.deepEqual(scalar, padded);
      const other = curve === "P-256" ? "P-384" : "P-256";
      assert.equal(ecScalarFromPkcs8(der, other), undefined, "wrong curve");
      assert.equal(ecScalarFromPkcs8(der.subarray(0, der.length - 1), curve), undefined);
      assert.equal(ecScalarFromPkcs8(Uint8Array.of(...der, 0), curve), undefined, "trailing");
    }
  }
  const ed = nc.generateKeyPairSync("ed25519").privateKey.export({ format: "der", type: "pkcs8" });
  assert.equal(ecScalarFromPkcs8(new Uint8Array(ed), "P-256"), undefined);
  assert.equal(ecScalarFromPkcs8(new Uint8Array(0), "P-256"), undefined);
  // A long-form length where the short form fits is not DER.
  const { privateKey } = nc.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const der = new Uint8Array(privateKey.export({ format: "der", type: "pkcs8" }));
  assert.equal(der[1], 0x81);
  const nonMinimal = Uint8Array.of(0x30, 0x82, 0x00, der[2]!, ...der.subarray(3));
  assert.equal(ecScalarFromPkcs8(nonMinimal, "P-256"), undefined);
});

Deno.test("key formats: raw Curve25519 wrapping and the copy-out of Buffers", () => {
  const { privateKey, publicKey } = nc.generateKeyPairSync("ed25519");
  const pkcs8 = privateKey.export({ format: "der", type: "pkcs8" });
  const seed = rawFromFixedDer("ed25519", "pkcs8", pkcs8)!;
  pkcs8.fill(0);
  assert.ok(seed.some((b) => b !== 0), "the result is a copy, not a view of the Buffer");
  assert.deepEqual(
    rawPrivateToPkcs8("ed25519", seed),
    new Uint8Array(privateKey.export({ format: "der", type: "pkcs8" })),
  );
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  assert.deepEqual(rawPublicToSpki("ed25519", rawFromFixedDer("ed25519", "spki", spki)!), spki);
  assert.equal(rawFromFixedDer("x25519", "spki", spki), undefined, "an Ed25519 SPKI is not X25519");
  assert.throws(() => rawPrivateToPkcs8("x25519", new Uint8Array(31)), RangeError);
});

Deno.test("key formats: SPKI PEM armour round trip and strict parsing", () => {
  const { publicKey } = nc.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const der = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  const pem = spkiDerToPem(der);
  assert.equal(new TextDecoder().decode(pem), publicKey.export({ format: "pem", type: "spki" }));
  assert.deepEqual(pemToSpkiDer(pem), der);
  assert.deepEqual(pemToSpkiDer(utf8(`\n  ${new TextDecoder().decode(pem)}  \n`)), der);
  for (
    const bad of [
      "",
      "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
      "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
      "-----BEGIN PUBLIC KEY-----\n@@@@\n-----END PUBLIC KEY-----\n",
    ]
  ) {
    assert.equal(pemToSpkiDer(utf8(bad)), undefined, JSON.stringify(bad));
  }
  assert.equal(pemToSpkiDer(Uint8Array.of(0xff, 0xfe)), undefined, "not UTF-8");
});
