/**
 * ValidateNatsJwt: is this NATS JWT signed by one of the allowed signers,
 * of the expected type, and within its validity window now? The answer is
 * a result (`valid` + reason), not an error; only bad requests are errors.
 *
 * Allowed signers are catalog keys (each needs `validate_nats_jwt`; every
 * version in the grace window counts) or public NKeys given inline (no key
 * is touched, so the decision is recorded against the NKey with
 * target_kind `nats_public_key`, allowed for any resolved subject).
 *
 * Reasons, first failing check wins: MALFORMED (not a NATS JWT: see
 * jwt.ts), UNKNOWN_SIGNER (`iss` is no allowed signer), BAD_SIGNATURE,
 * WRONG_TYPE (`nats.type` ≠ `expected_type`), EXPIRED (`now > exp`),
 * NOT_YET_VALID (`now < nbf`), else VALID. The type check follows the
 * signature so an unsigned token learns nothing.
 * @module
 */

import { ed25519 } from "@noble/curves/ed25519.js";
import { recordDecision, requireSubject } from "../broker/authorize.ts";
import type { BrokerCall } from "../broker/call.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import { cap, graceWindow, infoOf, transitOf } from "../broker/keys.ts";
import { invalidRequest } from "../core/errors.ts";
import { authorizeNats } from "./issuer.ts";
import { decodeNatsJwt } from "./jwt.ts";
import type { NatsJwtType } from "./jwt.ts";
import { decodePublicNkey } from "./nkey.ts";

const OP = "validate_nats_jwt";

/** One allowed signer. */
export type AllowedSigner = { readonly keyId: string } | { readonly publicNkey: string };

/** Why a JWT is (in)valid. */
export type ValidationReason =
  | "valid"
  | "malformed"
  | "bad_signature"
  | "unknown_signer"
  | "expired"
  | "not_yet_valid"
  | "wrong_type";

/** ValidateNatsJwt's answer. */
export interface NatsValidation {
  readonly valid: boolean;
  readonly reason: ValidationReason;
  readonly subject?: string;
  readonly issuer?: string;
  readonly matchedSignerKeyId?: string;
  readonly jwtType?: string;
  readonly expiresAt?: number;
  readonly issuedAt?: number;
}

interface Candidate {
  readonly keyId?: string;
  readonly keys: Uint8Array[];
}

async function candidates(
  deps: BrokerDeps,
  call: BrokerCall,
  signers: readonly AllowedSigner[],
): Promise<Candidate[]> {
  if (signers.length === 0) throw invalidRequest("allowed_signers must not be empty", OP);
  const inline = signers.map((s, i) => {
    if (!("publicNkey" in s)) return undefined;
    const k = decodePublicNkey(s.publicNkey);
    if (!k) throw invalidRequest(`allowed_signers[${i}].nats_public_key is not a public NKey`, OP);
    return k;
  });
  const out: Candidate[] = [];
  for (const [i, s] of signers.entries()) {
    const k = inline[i];
    if (k) {
      const caller = requireSubject(deps, call, OP, k.text);
      recordDecision(deps, caller, OP, k.text, true, "inline_public_key", {
        targetKind: "nats_public_key",
      });
      out.push({ keys: [k.key] });
    } else if ("keyId" in s) {
      const a = authorizeNats(deps, call, OP, s.keyId, OP, `allowed_signers[${i}].key_id`);
      if (a.key.keyType !== "ed25519-nkey" || a.key.class !== "asymmetric") {
        throw invalidRequest(`${s.keyId} is not an ed25519-nkey signing key`, OP);
      }
      const t = transitOf(a, OP);
      const info = await infoOf(t, a.key, OP);
      const w = graceWindow(info, deps.limits.graceVersions);
      const keys: Uint8Array[] = [];
      for (let v = w.from; v <= w.to; v++) {
        keys.push(await t.publicKey(a.key.path, "ed25519-nkey", v));
      }
      out.push({ keyId: s.keyId, keys });
    }
  }
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** ValidateNatsJwt. `expectedType` undefined = any kind. */
export async function validateNatsJwt(
  deps: BrokerDeps,
  call: BrokerCall,
  jwt: string,
  signers: readonly AllowedSigner[],
  expectedType: NatsJwtType | undefined,
): Promise<NatsValidation> {
  cap("jwt", new TextEncoder().encode(jwt), deps.limits.maxPayloadSize, OP);
  const allowed = await candidates(deps, call, signers);
  const d = decodeNatsJwt(jwt);
  const iss = d ? decodePublicNkey(d.issuer) : undefined;
  if (!d || !iss) return { valid: false, reason: "malformed" };
  const facts = {
    subject: d.subject,
    issuer: d.issuer,
    jwtType: d.type,
    expiresAt: d.claims.exp as number | undefined,
    issuedAt: d.claims.iat as number | undefined,
  };
  const match = allowed.find((c) => c.keys.some((k) => equal(k, iss.key)));
  if (!match) return { valid: false, reason: "unknown_signer", ...facts };
  const withKey = { ...facts, matchedSignerKeyId: match.keyId };
  let ok = false;
  try {
    ok = ed25519.verify(d.signature, d.signingInput, iss.key);
  } catch {
    ok = false;
  }
  if (!ok) return { valid: false, reason: "bad_signature", ...facts };
  if (expectedType !== undefined && d.type !== expectedType) {
    return { valid: false, reason: "wrong_type", ...withKey };
  }
  const now = Math.floor(deps.now().getTime() / 1000);
  const exp = d.claims.exp as number | undefined;
  const nbf = d.claims.nbf as number | undefined;
  if (exp !== undefined && exp > 0 && now > exp) {
    return { valid: false, reason: "expired", ...withKey };
  }
  if (nbf !== undefined && nbf > 0 && now < nbf) {
    return { valid: false, reason: "not_yet_valid", ...withKey };
  }
  return { valid: true, reason: "valid", ...withKey };
}
