// deno-lint-ignore-file no-console
/**
 * The in-process floor of the PQC suite (bench/pqc.ts): the same work as
 * the agent's Sign ML-DSA-65 and WrapEnvelope ML-KEM-768, with the h.ts
 * loop (0.5 s warm-up, then `runMs`), one JSON Summary line per series:
 *
 * - `sign.noble`: `ml_dsa65.sign` (pure, hedged, empty context) with the
 *   expanded secret key in hand: @noble/post-quantum directly;
 * - `sign.lib`: lib/crypto/pqc.ts `mlDsaSign`, what the broker runs: the
 *   key pair expanded from the stored 32-byte seed, then the signature;
 * - `wrap.noble`: `ml_kem768.encapsulate` + HKDF-SHA256 + ChaCha20-Poly1305
 *   over the plaintext, straight from @noble (the envelope's documented
 *   layout);
 * - `wrap.lib`: lib/crypto/pqc.ts `sealMlKem`, what the broker runs.
 *
 *   deno run … bench/pqc_inproc.ts [runMs] [messageBytes] [plaintextBytes]
 * @module
 */

import { ml_dsa65 } from "@noble/post-quantum/ml-dsa.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { concat, utf8 } from "../lib/core/encoding.ts";
import { mlDsaSign, pqcPublicKey, pqcSeed, sealMlKem } from "../lib/crypto/pqc.ts";
import { bench } from "./h.ts";

const runMs = Number(Deno.args[0] ?? 2000);
const message = new Uint8Array(Number(Deno.args[1] ?? 32)).fill(7);
const plaintext = new Uint8Array(Number(Deno.args[2] ?? 32)).fill(9);
const o = { warmMs: 500, runMs };

using dsaSeed = pqcSeed("ml-dsa-65");
const dsa = ml_dsa65.keygen(dsaSeed.expose().slice());
using kemSeed = pqcSeed("ml-kem-768");
const kemPub = pqcPublicKey("ml-kem-768", kemSeed.expose());
const label = concat(utf8("basil-ml-kem-seal-v1"), utf8("ml-kem-768"), new Uint8Array([0]));

const series = [
  await bench("sign.noble", () => ml_dsa65.sign(message, dsa.secretKey), o),
  await bench("sign.lib", () => mlDsaSign("ml-dsa-65", dsaSeed.expose(), message), o),
  await bench("wrap.noble", () => {
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(kemPub);
    const key = hkdf(sha256, sharedSecret, undefined, concat(label, cipherText, kemPub), 32);
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    return chacha20poly1305(key, nonce, new Uint8Array(0)).encrypt(plaintext);
  }, o),
  await bench("wrap.lib", () => sealMlKem("ml-kem-768", kemPub, plaintext), o),
];
dsa.secretKey.fill(0);
for (const s of series) console.log(JSON.stringify(s));
