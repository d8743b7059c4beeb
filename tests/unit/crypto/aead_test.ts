import assert from "node:assert/strict";
import { createCipheriv } from "node:crypto";
import {
  AEAD_ALGORITHMS,
  aeadOpen,
  AeadOpenError,
  aeadSeal,
  isAeadAlgorithm,
  packSealed,
  unpackSealed,
} from "../../../lib/crypto/aead.ts";
import { fromHex, toHex, utf8 } from "../../../lib/core/encoding.ts";

function random(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(out.subarray(o, o + 65536));
  return out;
}

const key = (): Uint8Array => random(32);

function assertOpenFails(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AeadOpenError);
    assert.equal(e.message, "authenticated decryption failed");
    return true;
  });
}

for (const alg of AEAD_ALGORITHMS) {
  Deno.test(`${alg}: round trip with and without AAD, empty and large`, () => {
    const k = key();
    for (const size of [0, 1, 15, 16, 17, 1024, 200_000]) {
      const pt = random(size);
      for (const aad of [undefined, utf8("context")]) {
        const sealed = aeadSeal(alg, k, pt, aad);
        assert.equal(sealed.nonce.length, 12);
        assert.equal(sealed.ciphertext.length, pt.length + 16);
        const out = aeadOpen(alg, k, sealed, aad);
        assert.equal(out.constructor, Uint8Array);
        assert.deepEqual(out, pt);
      }
    }
  });

  Deno.test(`${alg}: fresh nonce per seal`, () => {
    const k = key();
    const a = aeadSeal(alg, k, utf8("same"));
    const b = aeadSeal(alg, k, utf8("same"));
    assert.notDeepEqual(a.nonce, b.nonce);
    assert.notDeepEqual(a.ciphertext, b.ciphertext);
  });

  Deno.test(`${alg}: any tamper fails with the one fixed error`, () => {
    const k = key();
    const aad = utf8("aad");
    const sealed = aeadSeal(alg, k, utf8("attack at dawn"), aad);
    const flip = (b: Uint8Array, i: number): Uint8Array => {
      const c = b.slice();
      c[i]! ^= 0x01;
      return c;
    };
    const ct = sealed.ciphertext;
    assertOpenFails(() => aeadOpen(alg, k, { ...sealed, nonce: flip(sealed.nonce, 0) }, aad));
    assertOpenFails(() => aeadOpen(alg, k, { ...sealed, ciphertext: flip(ct, 0) }, aad));
    assertOpenFails(() =>
      aeadOpen(alg, k, { ...sealed, ciphertext: flip(ct, ct.length - 1) }, aad)
    );
    assertOpenFails(() => aeadOpen(alg, k, sealed, utf8("aae")));
    assertOpenFails(() => aeadOpen(alg, k, sealed));
    assertOpenFails(() => aeadOpen(alg, key(), sealed, aad));
    assertOpenFails(() => aeadOpen(alg, k.subarray(0, 16), sealed, aad));
    assertOpenFails(() =>
      aeadOpen(alg, k, { ...sealed, nonce: sealed.nonce.subarray(0, 11) }, aad)
    );
    assertOpenFails(() => aeadOpen(alg, k, { ...sealed, ciphertext: ct.subarray(0, 15) }, aad));
    assertOpenFails(() => aeadOpen(alg, k, { ...sealed, ciphertext: ct.subarray(1) }, aad));
    const other = alg === "aes-256-gcm" ? "chacha20-poly1305" : "aes-256-gcm";
    assertOpenFails(() => aeadOpen(other, k, sealed, aad));
    // The untouched message still opens.
    assert.deepEqual(aeadOpen(alg, k, sealed, aad), utf8("attack at dawn"));
  });

  Deno.test(`${alg}: seal rejects a key that is not 32 bytes`, () => {
    assert.throws(() => aeadSeal(alg, new Uint8Array(16), utf8("x")), RangeError);
  });

  Deno.test(`${alg}: pack and unpack`, () => {
    const k = key();
    const sealed = aeadSeal(alg, k, utf8("packed"));
    const packed = packSealed(sealed);
    assert.equal(packed.length, 12 + 6 + 16);
    assert.deepEqual(aeadOpen(alg, k, unpackSealed(packed)), utf8("packed"));
    assertOpenFails(() => unpackSealed(packed.subarray(0, 27)));
  });
}

Deno.test("aes-256-gcm: known answer (GCM spec test case 14)", () => {
  const sealed = {
    nonce: new Uint8Array(12),
    ciphertext: fromHex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"),
  };
  assert.deepEqual(aeadOpen("aes-256-gcm", new Uint8Array(32), sealed), new Uint8Array(16));
});

Deno.test("chacha20-poly1305: known answer (RFC 8439 section 2.8.2 tag)", () => {
  const k = fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const nonce = fromHex("070000004041424344454647");
  const aad = fromHex("50515253c0c1c2c3c4c5c6c7");
  const pt = utf8(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for " +
      "the future, sunscreen would be it.",
  );
  const c = createCipheriv("chacha20-poly1305", k, nonce, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: pt.length });
  const body = new Uint8Array([...c.update(pt), ...c.final()]);
  const tag = new Uint8Array(c.getAuthTag());
  assert.equal(toHex(tag), "1ae10b594f09e26a7e902ecbd0600691");
  assert.equal(toHex(body.subarray(0, 8)), "d31a8d34648e60db");
  const out = aeadOpen("chacha20-poly1305", k, {
    nonce,
    ciphertext: new Uint8Array([...body, ...tag]),
  }, aad);
  assert.deepEqual(out, pt);
});

Deno.test("isAeadAlgorithm", () => {
  assert.ok(isAeadAlgorithm("aes-256-gcm"));
  assert.ok(isAeadAlgorithm("chacha20-poly1305"));
  assert.ok(!isAeadAlgorithm("aes-128-gcm"));
});
