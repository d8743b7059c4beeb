import assert from "node:assert/strict";
import { fromHex, toHex } from "../../../lib/core/encoding.ts";
import { decodeCbor, encodeCbor } from "../../../lib/cose/cbor.ts";
import {
  CoseError,
  localSigner,
  openEncrypt,
  parseSign1,
  verifySign1,
} from "../../../lib/cose/cose.ts";
import {
  checkClaims,
  type InvocationHeader,
  parseInvocation,
  type Role,
  sealInvocation,
} from "../../../lib/cose/invocation.ts";
import {
  decodeSignRequest,
  decodeSignResponse,
  encodeSignRequest,
  encodeSignResponse,
} from "../../../lib/cose/bodies.ts";
import { ES256, fixedNonceSealer, keyHex, SEALED } from "./helpers.ts";

const hexOrUndef = (h: string | null) => (h === null ? undefined : fromHex(h));
const validation = {
  nowUnix: SEALED.validation.now_unix,
  audiences: SEALED.validation.allowed_audiences,
  clockSkewSecs: SEALED.validation.max_clock_skew_secs,
  maxTtlSecs: SEALED.validation.max_ttl_secs,
  defaultTtlSecs: SEALED.validation.default_ttl_secs,
};

// deno-lint-ignore no-explicit-any
function headerOf(v: any): InvocationHeader {
  const c = v.claims;
  const opt = <T>(
    k: string,
    x: T | null | undefined,
  ) => (x === null || x === undefined ? {} : { [k]: x });
  return {
    contentAlg: v.content_algorithm === 3 ? "A256GCM" : "ChaCha20Poly1305",
    contentType: v.content_type,
    claims: {
      ...opt("issuer", c.issuer),
      ...opt("audience", c.audience),
      issuedAt: c.issued_at_unix,
      ...opt("expiresAt", c.expires_at_unix),
      cti: fromHex(c.message_id_hex),
    },
    senderKeyId: c.sender_key_id,
    ...opt("inReplyTo", hexOrUndef(c.in_reply_to_hex)),
    ...opt("requestHash", hexOrUndef(c.request_hash_sha3_256_hex)),
    ...opt("responseKeyId", c.response_key_id),
    ...opt("responseSubject", c.response_subject),
  };
}

for (const v of SEALED.vectors) {
  Deno.test(`fixture ${v.name}: reproduced byte for byte`, async () => {
    const bytes = await sealInvocation({
      signer: localSigner("EdDSA", keyHex(v.signer, "private_hex")),
      header: headerOf(v),
      body: fromHex(v.body.plaintext_cbor_hex),
      recipientPublicKey: keyHex(v.recipient, "public_hex"),
      recipientKeyId: SEALED.keys[v.recipient].key_id,
      parties: {
        ...(v.kdf.party_u_hex ? { partyU: fromHex(v.kdf.party_u_hex) } : {}),
        ...(v.kdf.party_v_hex ? { partyV: fromHex(v.kdf.party_v_hex) } : {}),
      },
      ephemeralPrivateKey: fromHex(v.parts.ephemeral_private_hex),
      seal: fixedNonceSealer(fromHex(v.parts.nonce_hex)),
    });
    assert.equal(toHex(bytes), v.cose_sign1_hex);
  });

  Deno.test(`fixture ${v.name}: verifies, opens and decodes`, () => {
    const bytes = fromHex(v.cose_sign1_hex);
    const p = parseInvocation(bytes, v.role as Role);
    p.verifySignature(keyHex(v.signer, "public_hex"));
    checkClaims(p.header, v.role, validation);
    assert.equal(p.recipientKeyId, SEALED.keys[v.recipient].key_id);
    const plain = openEncrypt(p.encrypt, keyHex(v.recipient, "private_hex"));
    assert.equal(toHex(plain), v.body.plaintext_cbor_hex);
    assert.deepEqual(encodeCbor(decodeCbor(plain)), plain);
  });
}

Deno.test("fixture bodies: sign-request and sign-response encoders match", () => {
  const [req, res] = SEALED.vectors;
  const f = req.body.fields;
  const body = { keyId: f.key_id, message: fromHex(f.message_hex), algorithm: f.algorithm };
  assert.equal(toHex(encodeSignRequest(body)), req.body.plaintext_cbor_hex);
  assert.deepEqual(decodeSignRequest(fromHex(req.body.plaintext_cbor_hex)), body);
  const g = res.body.fields;
  const rbody = {
    status: { code: g.status.code, reason: g.status.reason, retryable: g.status.retryable },
    policyGeneration: g.policy_generation,
    signature: fromHex(g.signature_hex),
  };
  assert.equal(toHex(encodeSignResponse(rbody)), res.body.plaintext_cbor_hex);
  assert.deepEqual(decodeSignResponse(fromHex(res.body.plaintext_cbor_hex)), rbody);
});

Deno.test("fixture response: request_hash is SHA3-256 of the request bytes", async () => {
  const { sha3_256 } = await import("@noble/hashes/sha3.js");
  const [req, res] = SEALED.vectors;
  assert.equal(toHex(sha3_256(fromHex(req.cose_sign1_hex))), res.claims.request_hash_sha3_256_hex);
});

const REASONS: Record<string, string> = {
  "claims-expired": "claims-expired",
  "signature-invalid": "signature-invalid",
  "decode-wrong-tag": "decode-wrong-tag",
  "decode-malformed": "decode-malformed",
  "open-failed": "open-failed",
  "claims-role-shape": "claims-role-shape",
};

for (const r of SEALED.rejects) {
  Deno.test(`fixture reject ${r.name}: ${r.reason}`, () => {
    const bytes = fromHex(r.cose_sign1_hex);
    assert.throws(() => {
      const p = parseInvocation(bytes, r.role as Role);
      p.verifySignature(keyHex(r.verifier, "public_hex"));
      checkClaims(p.header, r.role, validation);
      if (r.stage === "open") {
        openEncrypt(p.encrypt, keyHex(r.recipient, "private_hex"), fromHex(r.open_aad_hex ?? ""));
      }
    }, (e: unknown) => {
      assert.ok(e instanceof CoseError, String(e));
      assert.equal(e.reason, REASONS[r.reason]);
      return true;
    });
  });
}

Deno.test("fixture ES256 COSE_Sign1: reproduced byte for byte and verified", async () => {
  const { encodeSign1 } = await import("../../../lib/cose/cose.ts");
  const protectedMap = new Map<number, import("../../../lib/cose/cbor.ts").CborValue>([
    [1, -7],
    [2, [3]],
    [3, ES256.content_type],
    [4, new TextEncoder().encode(ES256.key.key_id)],
  ]);
  const bytes = await encodeSign1(
    localSigner("ES256", fromHex(ES256.key.private_scalar_hex)),
    protectedMap,
    fromHex(ES256.payload_hex),
  );
  assert.equal(toHex(bytes), ES256.cose_sign1_hex);
  const s = parseSign1(fromHex(ES256.cose_sign1_hex));
  verifySign1(s, "ES256", fromHex(ES256.key.public_sec1_hex));
  const bad = fromHex(ES256.cose_sign1_hex);
  bad[bad.length - 1]! ^= 1;
  assert.throws(() => verifySign1(parseSign1(bad), "ES256", fromHex(ES256.key.public_sec1_hex)));
});
