/**
 * Test helpers: the upstream fixtures (copied verbatim from
 * ../shared/fixtures/upstream/) and a content sealer with a fixed nonce, so
 * the fixtures' deterministic parts reproduce their bytes.
 * @module
 */

import { createCipheriv } from "node:crypto";
import { fromHex } from "../../../lib/core/encoding.ts";
import type { ContentSealer } from "../../../lib/cose/cose.ts";

const dir = new URL("./fixtures/", import.meta.url);

/** The sealed-invocation fixture file, parsed. */
// deno-lint-ignore no-explicit-any
export const SEALED: any = JSON.parse(
  Deno.readTextFileSync(new URL("cose-sealed-invocation-v1.json", dir)),
);
/** The ES256 COSE_Sign1 fixture file, parsed. */
// deno-lint-ignore no-explicit-any
export const ES256: any = JSON.parse(
  Deno.readTextFileSync(new URL("cose-es256-sign1-v1.json", dir)),
);

/** A fixture key's bytes. */
export function keyHex(name: string, which: "private_hex" | "public_hex"): Uint8Array {
  return fromHex(SEALED.keys[name][which]);
}

/** Seals with the given nonce (fixtures only; production draws a random one). */
export function fixedNonceSealer(nonce: Uint8Array): ContentSealer {
  return (alg, key, plaintext, aad) => {
    const c = alg === "aes-256-gcm"
      ? createCipheriv(alg, key, nonce, { authTagLength: 16 })
      : createCipheriv(alg, key, nonce, { authTagLength: 16 });
    c.setAAD(aad, { plaintextLength: plaintext.length });
    const body = c.update(plaintext);
    const tail = c.final();
    const tag = c.getAuthTag();
    const ciphertext = new Uint8Array(body.length + tail.length + tag.length);
    ciphertext.set(body, 0);
    ciphertext.set(tail, body.length);
    ciphertext.set(tag, body.length + tail.length);
    return { nonce: nonce.slice(), ciphertext };
  };
}
