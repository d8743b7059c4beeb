import assert from "node:assert/strict";
import * as nc from "node:crypto";
import { compactVerify, decodeProtectedHeader, importSPKI, jwtVerify } from "jose";
import { concat, fromUtf8, toBase64Url, utf8 } from "../../../lib/core/encoding.ts";
import type { KeyType } from "../../../lib/core/ops.ts";
import { spkiDerToPem } from "../../../lib/crypto/key_formats.ts";
import {
  assembleJwt,
  canonicalJson,
  isCanonicalCompactJws,
  jwtAlgFor,
  jwtKid,
  signingInput,
  standardJti,
  verifyJwtLocal,
} from "../../../lib/crypto/jwt.ts";
import {
  generateSigningKey,
  publicKeyToSpkiDer,
  signMessage,
  signMessageAsync,
} from "../../../lib/crypto/signing.ts";

Deno.test("jwt: jwtAlgFor maps exactly the four minting key types", () => {
  const expected: [KeyType, string | undefined][] = [
    ["ed25519", "EdDSA"],
    ["ecdsa-p256", "ES256"],
    ["ecdsa-p384", "ES384"],
    ["rsa-2048", "RS256"],
    ["ecdsa-p521", undefined],
    ["ed25519-nkey", undefined],
    ["aes-256-gcm", undefined],
    ["x25519", undefined],
    ["ml-dsa-65", undefined],
  ];
  for (const [kt, alg] of expected) assert.equal(jwtAlgFor(kt), alg, kt);
});

Deno.test("jwt: canonicalJson sorts keys recursively by code point, keeps arrays", () => {
  assert.equal(
    canonicalJson({
      sub: "a",
      aud: ["z", "y"],
      nested: { b: 1, a: [{ d: true, c: null }] },
      exp: 5,
    }),
    '{"aud":["z","y"],"exp":5,"nested":{"a":[{"c":null,"d":true}],"b":1},"sub":"a"}',
  );
  assert.equal(canonicalJson({ b: undefined, a: 1 }), '{"a":1}');
  assert.equal(canonicalJson([]), "[]");
  assert.equal(canonicalJson({}), "{}");
  assert.equal(canonicalJson('\u001f"\\/é'), '"\\u001f\\"\\\\/é"');
  assert.equal(canonicalJson(12345678901234567890n), "12345678901234567890");
  assert.equal(canonicalJson(1.5), "1.5");
  // UTF-16 order would put the astral key first; code-point (UTF-8 byte) order does not.
  assert.equal(
    canonicalJson({ "\u{1F600}": 1, "\uFFFF": 2, "Z": 3, "a": 4 }),
    '{"Z":3,"a":4,"\uFFFF":2,"\u{1F600}":1}',
  );
  for (const bad of [NaN, Infinity, () => 1, Symbol("s")]) {
    assert.throws(() => canonicalJson({ x: bad }), TypeError);
  }
  assert.throws(() => canonicalJson([undefined]), TypeError);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => canonicalJson(cyclic), TypeError);
  // Shared (non-cyclic) references are fine.
  const shared = { v: 1 };
  assert.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"v":1},"b":{"v":1}}');
});

Deno.test("jwt: signingInput is b64url(canonical header).b64url(canonical claims)", () => {
  const input = fromUtf8(signingInput({ typ: "JWT", alg: "EdDSA" }, { sub: "s", iat: 1 }));
  const [h, c] = input.split(".");
  assert.equal(
    fromUtf8(
      Uint8Array.from(atob(h!.replace(/-/g, "+").replace(/_/g, "/")), (x) => x.charCodeAt(0)),
    ),
    '{"alg":"EdDSA","typ":"JWT"}',
  );
  assert.equal(c, toBase64Url(utf8('{"iat":1,"sub":"s"}')));
  assert.ok(!input.includes("="));
  assert.equal(assembleJwt(utf8("a.b"), new Uint8Array([0xfb, 0xff])), "a.b.-_8");
});

Deno.test("jwt: kid = b64url(SHA-256(alg ‖ 0x00 ‖ public key bytes))", () => {
  const pub = generateSigningKey("ecdsa-p256").publicKey;
  const expected = nc.createHash("sha256").update(concat(utf8("ES256"), new Uint8Array([0]), pub))
    .digest("base64url");
  assert.equal(jwtKid("ES256", pub), expected);
  assert.equal(jwtKid("ES256", pub).length, 43);
  assert.notEqual(jwtKid("ES384", pub), jwtKid("ES256", pub));
});

Deno.test("jwt: standardJti hashes the canonical standard claims with SHA-512/256", () => {
  const claims = { sub: "svc", iss: "app.key", exp: 1700000300, iat: 1700000000, extra: "ignored" };
  const canonical = '{"exp":1700000300,"iat":1700000000,"iss":"app.key","sub":"svc"}';
  const expected = nc.createHash("sha512-256").update(canonical).digest("base64url");
  assert.equal(standardJti(claims), expected);
  assert.equal(
    standardJti({ iat: 1700000000, exp: 1700000300, sub: "svc", iss: "app.key" }),
    expected,
  );
  assert.equal(
    standardJti({ ...claims, jti: "x", name: "n" }),
    expected,
    "only aud exp iat iss nbf sub",
  );
  assert.notEqual(standardJti({ ...claims, aud: "x" }), expected);
  assert.notEqual(standardJti({ ...claims, nbf: 1 }), expected);
  // Known answer: SHA-512/256("{}") for an empty claim set.
  assert.equal(standardJti({}), nc.createHash("sha512-256").update("{}").digest("base64url"));
});

Deno.test("jwt: EdDSA/ES256/ES384/RS256 tokens verify with jose (independent)", async () => {
  const now = Math.floor(Date.now() / 1000);
  for (const keyType of ["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-2048"] as const) {
    const pair = generateSigningKey(keyType);
    const alg = jwtAlgFor(keyType)!;
    const standard = { iss: "app.signer", sub: "workload", iat: now, exp: now + 300 };
    const claims = { zeta: { b: 2, a: 1 }, ...standard, jti: standardJti(standard) };
    const header = { typ: "JWT", kid: jwtKid(alg, pair.publicKey), alg };
    const input = signingInput(header, claims);
    for (
      const sig of [
        signMessage(keyType, pair.privateKey.expose(), input),
        await signMessageAsync(keyType, pair.privateKey.expose(), input),
      ]
    ) {
      const token = assembleJwt(input, sig);
      const pem = fromUtf8(spkiDerToPem(publicKeyToSpkiDer(keyType, pair.publicKey)));
      const key = await importSPKI(pem, alg);
      const verified = await compactVerify(token, key, { algorithms: [alg] });
      assert.equal(fromUtf8(verified.payload), canonicalJson(claims));
      assert.deepEqual(decodeProtectedHeader(token), { alg, kid: header.kid, typ: "JWT" });
      const jwt = await jwtVerify(token, key, { issuer: "app.signer", subject: "workload" });
      assert.equal(jwt.payload.jti, standardJti(standard));
      const local = await verifyJwtLocal(token, keyType, pair.publicKey);
      assert.deepEqual(local?.claims, JSON.parse(canonicalJson(claims)));
      // Tampering: a different payload segment with the same signature.
      const parts = token.split(".");
      const forged = `${parts[0]}.${toBase64Url(utf8('{"sub":"root"}'))}.${parts[2]}`;
      await assert.rejects(compactVerify(forged, key));
      assert.equal(await verifyJwtLocal(forged, keyType, pair.publicKey), undefined);
      // The wrong key type for the header's alg is refused locally.
      assert.equal(
        await verifyJwtLocal(
          token,
          keyType === "ed25519" ? "ecdsa-p256" : "ed25519",
          pair.publicKey,
        ),
        undefined,
      );
      // One token has one spelling: a signature segment with non-zero
      // trailing bits (which jose alone would accept) is refused.
      const noncanonical = withTrailingBit(token);
      if (noncanonical !== undefined) {
        await compactVerify(noncanonical, key);
        assert.equal(await verifyJwtLocal(noncanonical, keyType, pair.publicKey), undefined);
      }
    }
    pair.privateKey.wipe();
  }
  assert.equal(await verifyJwtLocal("not-a-jwt", "ed25519", new Uint8Array(32)), undefined);
  assert.equal(await verifyJwtLocal("a.b.c", "ed25519", new Uint8Array(32)), undefined);
  assert.equal(await verifyJwtLocal("a.b.c", "ecdsa-p521", new Uint8Array(32)), undefined);
});

/** The token with the last signature character's lowest unused bit set, if it has one. */
function withTrailingBit(token: string): string | undefined {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const sig = token.slice(token.lastIndexOf(".") + 1);
  if (sig.length % 4 === 0) return undefined;
  const last = alphabet.indexOf(sig.at(-1)!);
  return token.slice(0, -1) + alphabet[last | 1];
}

Deno.test("jwt: isCanonicalCompactJws wants three non-empty canonical base64url segments", () => {
  assert.equal(isCanonicalCompactJws("eyJh.e30.QUI"), true);
  for (const bad of ["eyJh.e30", "eyJh.e30.QUI.x", "eyJh..QUI", "eyJh.e30.QUJ", "eyJh=.e30.QUI"]) {
    assert.equal(isCanonicalCompactJws(bad), false, bad);
  }
});
