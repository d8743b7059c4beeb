import assert from "node:assert/strict";
import * as nc from "node:crypto";
import { x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { BasilError } from "../../../lib/core/errors.ts";
import { concat, utf8 } from "../../../lib/core/encoding.ts";
import { AeadOpenError } from "../../../lib/crypto/aead.ts";
import {
  openX25519,
  sealX25519,
  x25519Generate,
  x25519PublicKey,
  type X25519Sealed,
} from "../../../lib/crypto/x25519_seal.ts";
import { hex } from "./helpers.ts";

const INFO = utf8("basil-x25519-seal-v1");

function isFixedOpenError(e: unknown): boolean {
  return e instanceof AeadOpenError && e.message === "authenticated decryption failed";
}

function flipAt(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at] = out[at]! ^ 0x01;
  return out;
}

/** An independent opener: @noble X25519 + @noble HKDF + node:crypto ChaCha20-Poly1305. */
function referenceOpen(
  recipientPriv: Uint8Array,
  recipientPub: Uint8Array,
  box: X25519Sealed,
  aad: Uint8Array,
): Uint8Array {
  const shared = x25519.getSharedSecret(recipientPriv, box.encapsulatedKey);
  const key = hkdf(
    sha256,
    shared,
    undefined,
    concat(INFO, box.encapsulatedKey, recipientPub),
    32,
  );
  const d = nc.createDecipheriv("chacha20-poly1305", key, box.nonce, { authTagLength: 16 });
  const split = box.ciphertext.length - 16;
  d.setAAD(aad, { plaintextLength: split });
  d.setAuthTag(box.ciphertext.subarray(split));
  return new Uint8Array(Buffer.concat([d.update(box.ciphertext.subarray(0, split)), d.final()]));
}

/** An independent sealer: node:crypto diffieHellman + hkdfSync + ChaCha20-Poly1305. */
function referenceSeal(
  recipientPub: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): X25519Sealed {
  const eph = nc.generateKeyPairSync("x25519");
  const ephPub = new Uint8Array(eph.publicKey.export({ format: "der", type: "spki" })).subarray(12);
  const recipient = nc.createPublicKey({
    key: { kty: "OKP", crv: "X25519", x: Buffer.from(recipientPub).toString("base64url") },
    format: "jwk",
  });
  const shared = nc.diffieHellman({ privateKey: eph.privateKey, publicKey: recipient });
  const key = new Uint8Array(
    nc.hkdfSync("sha256", shared, new Uint8Array(0), concat(INFO, ephPub, recipientPub), 32),
  );
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const c = nc.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return { encapsulatedKey: ephPub, nonce, ciphertext: new Uint8Array(body) };
}

Deno.test("x25519 seal: round trip, sizes, fresh ephemeral key and nonce per box", () => {
  const r = x25519Generate();
  assert.equal(r.privateKey.length, 32);
  assert.equal(r.publicKey.length, 32);
  assert.deepEqual(x25519PublicKey(r.privateKey.expose()), r.publicKey);
  assert.deepEqual(x25519.getPublicKey(r.privateKey.expose()), r.publicKey, "noble agrees");
  for (
    const [pt, aad] of [[utf8("hello"), undefined], [new Uint8Array(0), utf8("ctx")], [
      crypto.getRandomValues(new Uint8Array(4096)),
      new Uint8Array(0),
    ]] as const
  ) {
    const box = sealX25519(r.publicKey, pt, aad);
    assert.equal(box.encapsulatedKey.length, 32);
    assert.equal(box.nonce.length, 12);
    assert.equal(box.ciphertext.length, pt.length + 16);
    assert.deepEqual(openX25519(r.privateKey.expose(), r.publicKey, box, aad), pt);
  }
  const a = sealX25519(r.publicKey, utf8("same"));
  const b = sealX25519(r.publicKey, utf8("same"));
  assert.notDeepEqual(a.encapsulatedKey, b.encapsulatedKey);
  assert.notDeepEqual(a.nonce, b.nonce);
  // An absent AAD and an empty AAD are the same AAD.
  assert.deepEqual(
    openX25519(r.privateKey.expose(), r.publicKey, a, new Uint8Array(0)),
    utf8("same"),
  );
});

Deno.test("x25519 seal: tampering with any field or the AAD fails with the one fixed error", () => {
  const r = x25519Generate();
  const aad = utf8("bound context");
  const box = sealX25519(r.publicKey, utf8("attack at dawn"), aad);
  const priv = r.privateKey.expose();
  const attempts: [string, () => unknown][] = [];
  for (const at of [0, 15, 31]) {
    attempts.push([
      `eph ${at}`,
      () =>
        openX25519(
          priv,
          r.publicKey,
          { ...box, encapsulatedKey: flipAt(box.encapsulatedKey, at) },
          aad,
        ),
    ]);
  }
  for (const at of [0, 11]) {
    attempts.push([
      `nonce ${at}`,
      () => openX25519(priv, r.publicKey, { ...box, nonce: flipAt(box.nonce, at) }, aad),
    ]);
  }
  for (const at of [0, 13, box.ciphertext.length - 16, box.ciphertext.length - 1]) {
    attempts.push([
      `ciphertext ${at}`,
      () => openX25519(priv, r.publicKey, { ...box, ciphertext: flipAt(box.ciphertext, at) }, aad),
    ]);
  }
  attempts.push(
    ["aad changed", () => openX25519(priv, r.publicKey, box, flipAt(aad, 0))],
    ["aad dropped", () => openX25519(priv, r.publicKey, box)],
    ["aad extended", () => openX25519(priv, r.publicKey, box, concat(aad, new Uint8Array(1)))],
    ["wrong recipient pub", () => openX25519(priv, x25519Generate().publicKey, box, aad)],
    [
      "wrong recipient priv",
      () => openX25519(x25519Generate().privateKey.expose(), r.publicKey, box, aad),
    ],
    [
      "short eph",
      () =>
        openX25519(
          priv,
          r.publicKey,
          { ...box, encapsulatedKey: box.encapsulatedKey.subarray(1) },
          aad,
        ),
    ],
    [
      "short nonce",
      () => openX25519(priv, r.publicKey, { ...box, nonce: box.nonce.subarray(1) }, aad),
    ],
    ["long nonce", () => openX25519(priv, r.publicKey, { ...box, nonce: new Uint8Array(24) }, aad)],
    [
      "no tag",
      () =>
        openX25519(priv, r.publicKey, { ...box, ciphertext: box.ciphertext.subarray(0, 15) }, aad),
    ],
    [
      "truncated",
      () => openX25519(priv, r.publicKey, { ...box, ciphertext: box.ciphertext.subarray(1) }, aad),
    ],
    [
      "empty ciphertext",
      () => openX25519(priv, r.publicKey, { ...box, ciphertext: new Uint8Array(0) }, aad),
    ],
    ["short priv", () => openX25519(priv.subarray(1), r.publicKey, box, aad)],
  );
  for (const [name, fn] of attempts) assert.throws(fn, isFixedOpenError, name);
  assert.deepEqual(openX25519(priv, r.publicKey, box, aad), utf8("attack at dawn"));
});

Deno.test("x25519 seal: low-order public keys (all-zero shared secret) are refused", () => {
  const r = x25519Generate();
  const lowOrder = [
    new Uint8Array(32),
    hex("0100000000000000000000000000000000000000000000000000000000000000"),
    hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    hex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
  ];
  for (const p of lowOrder) {
    assert.throws(
      () => sealX25519(p, utf8("x")),
      (e: unknown) => e instanceof BasilError && e.code === "INVALID_REQUEST",
    );
    const box = sealX25519(r.publicKey, utf8("x"));
    assert.throws(
      () => openX25519(r.privateKey.expose(), r.publicKey, { ...box, encapsulatedKey: p }),
      isFixedOpenError,
    );
  }
  assert.throws(
    () => sealX25519(new Uint8Array(31), utf8("x")),
    (e: unknown) => e instanceof BasilError && e.code === "INVALID_REQUEST",
  );
});

Deno.test("x25519 seal: the documented layout interoperates with independent implementations", () => {
  const r = x25519Generate();
  const aad = utf8("deposit:42");
  const pt = crypto.getRandomValues(new Uint8Array(333));
  // Ours → reference opener (noble X25519 + noble HKDF + node ChaCha20-Poly1305).
  const ours = sealX25519(r.publicKey, pt, aad);
  assert.deepEqual(referenceOpen(r.privateKey.expose(), r.publicKey, ours, aad), pt);
  const oursNoAad = sealX25519(r.publicKey, pt);
  assert.deepEqual(
    referenceOpen(r.privateKey.expose(), r.publicKey, oursNoAad, new Uint8Array(0)),
    pt,
  );
  // Reference sealer (node diffieHellman + hkdfSync + ChaCha20-Poly1305) → ours.
  const theirs = referenceSeal(r.publicKey, pt, aad);
  assert.deepEqual(openX25519(r.privateKey.expose(), r.publicKey, theirs, aad), pt);
  // Swapping the info order (recipient ‖ eph) would not open: the order is part of the format.
  const shared = x25519.getSharedSecret(r.privateKey.expose(), ours.encapsulatedKey);
  const wrongKey = hkdf(
    sha256,
    shared,
    undefined,
    concat(INFO, r.publicKey, ours.encapsulatedKey),
    32,
  );
  const d = nc.createDecipheriv("chacha20-poly1305", wrongKey, ours.nonce, { authTagLength: 16 });
  d.setAAD(aad, { plaintextLength: pt.length });
  d.setAuthTag(ours.ciphertext.subarray(pt.length));
  d.update(ours.ciphertext.subarray(0, pt.length));
  assert.throws(() => d.final());
});
