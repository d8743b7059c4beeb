/**
 * ML-DSA and ML-KEM (lib/crypto/pqc.ts, @noble/post-quantum) cross-checked
 * both ways against two independent implementations: liboqs compiled to WASM
 * (@oqs/liboqs-js) and Deno's own WebCrypto.
 */

import assert from "node:assert/strict";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import * as oqs from "@oqs/liboqs-js";
import { concat, utf8 } from "../../../lib/core/encoding.ts";
import { AeadOpenError } from "../../../lib/crypto/aead.ts";
import {
  ML_DSA_SEED_BYTES,
  ML_KEM_SEED_BYTES,
  mlDsaSign,
  type MlDsaType,
  mlDsaVerify,
  type MlKemType,
  openMlKem,
  pqcPublicKey,
  pqcSeed,
  sealMlKem,
} from "../../../lib/crypto/pqc.ts";

const DSA: readonly MlDsaType[] = ["ml-dsa-44", "ml-dsa-65", "ml-dsa-87"];
const KEM: readonly MlKemType[] = ["ml-kem-512", "ml-kem-768", "ml-kem-1024"];
const OQS_SIG = {
  "ml-dsa-44": oqs.createMLDSA44,
  "ml-dsa-65": oqs.createMLDSA65,
  "ml-dsa-87": oqs.createMLDSA87,
} as const;
const OQS_KEM = {
  "ml-kem-512": oqs.createMLKEM512,
  "ml-kem-768": oqs.createMLKEM768,
  "ml-kem-1024": oqs.createMLKEM1024,
} as const;
const webName = (kt: string) => kt.toUpperCase();
// deno-lint-ignore no-explicit-any
const subtle = crypto.subtle as any;

const message = utf8("release v1.0.0 — post-quantum");

for (const kt of DSA) {
  Deno.test(`${kt}: our signature verifies in liboqs, liboqs's verifies here`, async () => {
    const seed = pqcSeed(kt);
    assert.equal(seed.length, ML_DSA_SEED_BYTES);
    const pub = pqcPublicKey(kt, seed.expose());
    const sig = mlDsaSign(kt, seed.expose(), message);
    seed.wipe();
    const o = await OQS_SIG[kt]();
    try {
      assert.equal(o.verify(message, sig, pub), true);
      assert.equal(o.verify(utf8("other"), sig, pub), false);
      const pair = o.generateKeyPair();
      const theirs = o.sign(message, pair.secretKey);
      assert.equal(mlDsaVerify(kt, pair.publicKey, message, theirs), true);
      const bad = theirs.slice();
      bad[0]! ^= 1;
      assert.equal(mlDsaVerify(kt, pair.publicKey, message, bad), false);
      assert.equal(mlDsaVerify(kt, pair.publicKey, message, theirs.subarray(1)), false);
    } finally {
      o.destroy?.();
    }
  });

  Deno.test(`${kt}: WebCrypto expands the same seed to the same key, and signatures cross`, async () => {
    const seed = pqcSeed(kt);
    const name = webName(kt);
    const priv = await subtle.importKey("raw-seed", seed.expose(), { name }, true, ["sign"]);
    const webPub = await subtle.getPublicKey(priv, ["verify"]);
    const webPubRaw = new Uint8Array(await subtle.exportKey("raw-public", webPub));
    assert.deepEqual(pqcPublicKey(kt, seed.expose()), webPubRaw);
    const ours = mlDsaSign(kt, seed.expose(), message);
    assert.equal(await subtle.verify({ name }, webPub, ours, message), true);
    const theirs = new Uint8Array(await subtle.sign({ name }, priv, message));
    assert.equal(mlDsaVerify(kt, webPubRaw, message, theirs), true);
    seed.wipe();
  });
}

/** Our envelope, built by hand from another implementation's KEM output. */
function sealByHand(kt: MlKemType, ct: Uint8Array, ss: Uint8Array, pub: Uint8Array) {
  const info = concat(utf8("basil-ml-kem-seal-v1"), utf8(kt), new Uint8Array([0]), ct, pub);
  const key = hkdf(sha256, ss, undefined, info, 32);
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const aad = utf8("ctx");
  return {
    sealed: {
      encapsulatedKey: ct,
      nonce,
      ciphertext: chacha20poly1305(key, nonce, aad).encrypt(message),
    },
    aad,
  };
}

for (const kt of KEM) {
  Deno.test(`${kt}: liboqs encapsulates to our key and our envelope opens; shared secrets equal both ways`, async () => {
    const seed = pqcSeed(kt);
    assert.equal(seed.length, ML_KEM_SEED_BYTES);
    const pub = pqcPublicKey(kt, seed.expose());
    const o = await OQS_KEM[kt]();
    try {
      const { ciphertext, sharedSecret } = o.encapsulate(pub);
      const { sealed, aad } = sealByHand(kt, ciphertext, sharedSecret, pub);
      assert.deepEqual(openMlKem(kt, seed.expose(), sealed, aad), message);
      assert.throws(() => openMlKem(kt, seed.expose(), sealed, utf8("other")), AeadOpenError);
      // The other way: liboqs's key pair, our encapsulation (through sealMlKem) decapsulated by liboqs.
      const pair = o.generateKeyPair();
      const box = sealMlKem(kt, pair.publicKey, message, aad);
      const ss = o.decapsulate(box.encapsulatedKey, pair.secretKey);
      const info = concat(
        utf8("basil-ml-kem-seal-v1"),
        utf8(kt),
        new Uint8Array([0]),
        box.encapsulatedKey,
        pair.publicKey,
      );
      const key = hkdf(sha256, ss, undefined, info, 32);
      assert.deepEqual(chacha20poly1305(key, box.nonce, aad).decrypt(box.ciphertext), message);
    } finally {
      o.destroy?.();
      seed.wipe();
    }
  });

  Deno.test(`${kt}: WebCrypto expands the same seed; encapsulation crosses both ways`, async () => {
    const seed = pqcSeed(kt);
    const name = webName(kt);
    const priv = await subtle.importKey("raw-seed", seed.expose(), { name }, true, [
      "decapsulateBits",
    ]);
    const webPub = await subtle.getPublicKey(priv, ["encapsulateBits"]);
    const pub = new Uint8Array(await subtle.exportKey("raw-public", webPub));
    assert.deepEqual(pqcPublicKey(kt, seed.expose()), pub);
    const enc = await subtle.encapsulateBits({ name }, webPub);
    const { sealed, aad } = sealByHand(
      kt,
      new Uint8Array(enc.ciphertext),
      new Uint8Array(enc.sharedKey),
      pub,
    );
    assert.deepEqual(openMlKem(kt, seed.expose(), sealed, aad), message);
    const box = sealMlKem(kt, pub, message);
    const ss = new Uint8Array(await subtle.decapsulateBits({ name }, priv, box.encapsulatedKey));
    const info = concat(
      utf8("basil-ml-kem-seal-v1"),
      utf8(kt),
      new Uint8Array([0]),
      box.encapsulatedKey,
      pub,
    );
    const key = hkdf(sha256, ss, undefined, info, 32);
    assert.deepEqual(chacha20poly1305(key, box.nonce).decrypt(box.ciphertext), message);
    seed.wipe();
  });
}

Deno.test("ml-kem: a tampered envelope, a wrong length or another seed is one AeadOpenError", () => {
  const kt = "ml-kem-768";
  const seed = pqcSeed(kt);
  const other = pqcSeed(kt);
  const box = sealMlKem(kt, pqcPublicKey(kt, seed.expose()), message);
  assert.deepEqual(openMlKem(kt, seed.expose(), box), message);
  const ct = box.encapsulatedKey.slice();
  ct[5]! ^= 1;
  for (
    const [s, b] of [
      [seed, { ...box, encapsulatedKey: ct }],
      [seed, { ...box, encapsulatedKey: ct.subarray(1) }],
      [seed, { ...box, nonce: box.nonce.subarray(1) }],
      [other, box],
    ] as const
  ) {
    assert.throws(() => openMlKem(kt, s.expose(), b), AeadOpenError);
  }
  assert.throws(() => sealMlKem(kt, new Uint8Array(10), message), /not usable/);
});
