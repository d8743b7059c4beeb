/**
 * Fuzz: key material and tokens a caller hands the broker. PKCS#8 DER and
 * Ed25519 seeds to import (lib/crypto/signing.ts `normalizeImport`), public
 * keys and signatures to verify, SPKI PEM (lib/crypto/key_formats.ts),
 * JWT-SVIDs to validate (lib/spiffe/jwt_svid.ts `parsePresented`), JWTs to
 * verify locally (lib/crypto/jwt.ts), NATS JWTs and public NKeys
 * (lib/nats). Each returns a value, `undefined`/`false` where that is the
 * documented refusal, or throws the module's `BasilError`; never a stray
 * exception.
 */

import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import fc from "fast-check";
import { BasilError } from "../../lib/core/errors.ts";
import { SecretBytes } from "../../lib/core/secret.ts";
import { assembleJwt, signingInput, verifyJwtLocal } from "../../lib/crypto/jwt.ts";
import { pemToSpkiDer, rawFromFixedDer, spkiDerToPem } from "../../lib/crypto/key_formats.ts";
import {
  generateSigningKey,
  normalizeImport,
  publicKeyToSpkiDer,
  signMessage,
  verifyMessage,
} from "../../lib/crypto/signing.ts";
import { assembleNatsJwt, decodeNatsJwt, natsSigningInput } from "../../lib/nats/jwt.ts";
import { decodePublicNkey, encodePublicNkey } from "../../lib/nats/nkey.ts";
import { parsePresented } from "../../lib/spiffe/jwt_svid.ts";
import { fuzz, fuzzBytes, fuzzRuns, fuzzText, onlyTyped, onlyTypedAsync } from "../helpers/fuzz.ts";

const pkcs8 = (type: "ed25519" | "ec" | "rsa", o: Record<string, unknown> = {}) =>
  new Uint8Array(
    (generateKeyPairSync(type as "ed25519", o as never) as unknown as { privateKey: KeyObject })
      .privateKey
      .export({ type: "pkcs8", format: "der" }),
  );

const KEYS = {
  ed25519: pkcs8("ed25519"),
  "ecdsa-p256": pkcs8("ec", { namedCurve: "P-256" }),
  "ecdsa-p384": pkcs8("ec", { namedCurve: "P-384" }),
  "rsa-2048": pkcs8("rsa", { modulusLength: 2048 }),
} as const;
type Kt = keyof typeof KEYS;
const TYPES = Object.keys(KEYS) as Kt[];

Deno.test("fuzz: PKCS#8 and seed imports normalize or throw INVALID_REQUEST", async () => {
  const samples = Object.values(KEYS);
  await fuzz(
    "key import",
    fc.property(
      fc.constantFrom(...TYPES),
      fuzzBytes(samples, 1300),
      fc.boolean(),
      (kt, der, seed) => {
        const material = seed
          ? { kind: "ed25519-seed" as const, seed: SecretBytes.copyOf(der.subarray(0, 40)) }
          : { kind: "pkcs8" as const, der: SecretBytes.copyOf(der) };
        const pair = onlyTyped(() => normalizeImport(kt, material), [BasilError]);
        pair?.privateKey.wipe();
      },
    ),
    fuzzRuns(300),
  );
});

Deno.test("fuzz: verify with mutated public keys and signatures returns a boolean", async () => {
  const msg = new TextEncoder().encode("message");
  const pairs = TYPES.map((kt) => {
    const p = generateSigningKey(kt);
    const sig = signMessage(kt, p.privateKey.expose(), msg);
    return { kt, pub: p.publicKey, sig };
  });
  await fuzz(
    "verify",
    fc.property(
      fc.nat(pairs.length - 1).chain((i) =>
        fc.tuple(
          fc.constant(pairs[i]!.kt),
          fuzzBytes([pairs[i]!.pub], 600),
          fuzzBytes([pairs[i]!.sig], 600),
        )
      ),
      ([kt, pub, sig]) => {
        const ok = onlyTyped(() => verifyMessage(kt, pub, msg, sig), [BasilError]);
        assert.ok(ok === undefined || typeof ok === "boolean");
      },
    ),
    fuzzRuns(400),
  );
});

Deno.test("fuzz: SPKI PEM and fixed DER parse to bytes or undefined, never throw", async () => {
  const ed = generateSigningKey("ed25519");
  const der = publicKeyToSpkiDer("ed25519", ed.publicKey);
  const pem = new TextDecoder().decode(spkiDerToPem(der));
  await fuzz(
    "pem",
    fc.property(fuzzText([pem], 400), fuzzBytes([der], 80), (text, bytes) => {
      const out = pemToSpkiDer(new TextEncoder().encode(text));
      assert.ok(out === undefined || out instanceof Uint8Array);
      const raw = rawFromFixedDer("ed25519", "spki", bytes);
      assert.ok(raw === undefined || raw.length === 32);
    }),
    fuzzRuns(500),
  );
});

function jwtSvid(claims: Record<string, unknown>): { token: string; pub: Uint8Array } {
  const k = generateSigningKey("ed25519");
  const input = signingInput({ alg: "EdDSA", typ: "JWT", kid: "k" }, claims);
  return {
    token: assembleJwt(input, signMessage("ed25519", k.privateKey.expose(), input)),
    pub: k.publicKey,
  };
}

Deno.test("fuzz: JWT-SVIDs parse or throw INVALID_ARGUMENT; local verify never throws", async () => {
  const now = Math.floor(Date.now() / 1000);
  const { token, pub } = jwtSvid({
    sub: "spiffe://example.org/app",
    iss: "spiffe://example.org",
    aud: ["a", "b"],
    exp: now + 300,
    iat: now,
    jti: "j1",
  });
  parsePresented(token);
  assert.ok(await verifyJwtLocal(token, "ed25519", pub));
  await fuzz(
    "jwt",
    fc.asyncProperty(fuzzText([token], 600), async (t) => {
      onlyTyped(() => parsePresented(t), [BasilError]);
      await onlyTypedAsync(() => verifyJwtLocal(t, "ed25519", pub), []);
    }),
    fuzzRuns(500),
  );
});

Deno.test("fuzz: NATS JWTs decode or give undefined; public NKeys too", async () => {
  const key = generateSigningKey("ed25519");
  const iss = encodePublicNkey("A", key.publicKey);
  const sub = encodePublicNkey("U", generateSigningKey("ed25519").publicKey);
  const claims = {
    iss,
    sub,
    name: "u",
    iat: 1_700_000_000,
    exp: 1_800_000_000,
    nats: { type: "user", version: 2, pub: { allow: ["a.>"] } },
  };
  const input = natsSigningInput(claims as never);
  const token = assembleNatsJwt(input, signMessage("ed25519", key.privateKey.expose(), input));
  assert.ok(decodeNatsJwt(token));
  await fuzz(
    "nats jwt",
    fc.property(fuzzText([token, iss, sub], 800), (t) => {
      onlyTyped(() => decodeNatsJwt(t), []);
      onlyTyped(() => decodePublicNkey(t), []);
    }),
    fuzzRuns(500),
  );
});
