/**
 * SignNatsJwt: the caller supplies the claims, the broker signs them with
 * an issuer key the caller holds `sign_nats_jwt` on, after checking them:
 *
 * - `iss` is the key's public NKey (a different `iss` is refused);
 * - `nats.type` is one of the six kinds, equals `expected_type` when one
 *   is given, and the role chain allows the issuer to sign it; `sub` is a
 *   public NKey of the role that kind requires;
 * - `iat` and `exp` come from the request (`issued_at`, default now; `ttl`
 *   xor `expires_at`, neither = no expiry) and may not be in the claims;
 * - `jti`: REQUIRE_VALID checks a supplied `jti` against the computed one
 *   (absent = computed); REWRITE always computes it;
 * - `nats.version` is 2; `nats.bearer_token` is refused (a bearer user JWT
 *   would let whoever holds the token connect without the user's seed), and
 *   `nats.issuer_account` must be another account's NKey on a user JWT.
 * @module
 */

import type { BrokerCall } from "../broker/call.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import { cap } from "../broker/keys.ts";
import { invalidRequest } from "../core/errors.ts";
import { authorizeNats, issuerOf } from "./issuer.ts";
import { checkNatsTtl, MAX_NATS_TTL_SECS, NATS_CLAIMS_VERSION, subjectFor } from "./issue.ts";
import type { IssuedNatsJwt } from "./issue.ts";
import { assembleNatsJwt, NATS_JWT_TYPES, natsJti, natsSigningInput } from "./jwt.ts";
import type { NatsJwtType } from "./jwt.ts";
import { decodePublicNkey } from "./nkey.ts";

const OP = "sign_nats_jwt";

/** How the `jti` is treated. */
export type JtiMode = "require_valid" | "rewrite";

/** SignNatsJwt's request. */
export interface SignNatsJwtRequest {
  readonly keyId: string;
  readonly claimsJson: Uint8Array;
  readonly expectedType: NatsJwtType | undefined;
  readonly ttlSecs: number | undefined;
  /** Unix seconds. */
  readonly expiresAt: number | undefined;
  /** Unix seconds. */
  readonly issuedAt: number | undefined;
  readonly jtiMode: JtiMode;
}

function parseClaims(bytes: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw invalidRequest("claims_json is not valid UTF-8 JSON", OP);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw invalidRequest("claims_json must be a JSON object", OP);
  }
  return v as Record<string, unknown>;
}

function natsObject(claims: Record<string, unknown>): Record<string, unknown> {
  const n = claims.nats;
  if (typeof n !== "object" || n === null || Array.isArray(n)) {
    throw invalidRequest("claims_json.nats must be an object", OP);
  }
  return n as Record<string, unknown>;
}

function kindOf(nats: Record<string, unknown>, expected: NatsJwtType | undefined): NatsJwtType {
  const t = nats.type;
  if (typeof t !== "string" || !(NATS_JWT_TYPES as readonly string[]).includes(t)) {
    throw invalidRequest(`claims_json.nats.type must be one of ${NATS_JWT_TYPES.join(", ")}`, OP);
  }
  if (expected !== undefined && t !== expected) {
    throw invalidRequest(`claims_json.nats.type is ${t}, expected ${expected}`, OP);
  }
  return t as NatsJwtType;
}

function checkStandard(claims: Record<string, unknown>): void {
  for (const f of ["iat", "exp"]) {
    if (f in claims) {
      throw invalidRequest(
        `claims_json.${f} is set by the broker (use issued_at / ttl / expires_at)`,
        OP,
      );
    }
  }
  for (const f of ["name", "aud"]) {
    if (f in claims && typeof claims[f] !== "string") {
      throw invalidRequest(`claims_json.${f} must be a string`, OP);
    }
  }
  if ("nbf" in claims && !Number.isSafeInteger(claims.nbf)) {
    throw invalidRequest("claims_json.nbf must be an integer", OP);
  }
  if (typeof claims.sub !== "string") throw invalidRequest("claims_json.sub is required", OP);
}

function checkNats(nats: Record<string, unknown>, kind: NatsJwtType, iss: string): void {
  if ("version" in nats && nats.version !== NATS_CLAIMS_VERSION) {
    throw invalidRequest(`claims_json.nats.version must be ${NATS_CLAIMS_VERSION}`, OP);
  }
  if ("bearer_token" in nats && nats.bearer_token !== false) {
    throw invalidRequest("claims_json.nats.bearer_token is not allowed", OP);
  }
  if ("issuer_account" in nats) {
    const ia = nats.issuer_account;
    if (kind !== "user" || typeof ia !== "string" || !decodePublicNkey(ia, ["A"]) || ia === iss) {
      throw invalidRequest(
        "claims_json.nats.issuer_account must name another account (user JWTs only)",
        OP,
      );
    }
  }
}

function times(
  req: SignNatsJwtRequest,
  now: number,
): { iat: number; exp: number | undefined } {
  if (req.ttlSecs !== undefined && req.expiresAt !== undefined) {
    throw invalidRequest("ttl and expires_at are mutually exclusive", OP);
  }
  checkNatsTtl(req.ttlSecs, "ttl", OP);
  const iat = req.issuedAt ?? now;
  if (!Number.isSafeInteger(iat) || iat <= 0 || iat > now + MAX_NATS_TTL_SECS) {
    throw invalidRequest("issued_at is out of range", OP);
  }
  let exp: number | undefined;
  if (req.ttlSecs !== undefined) exp = now + req.ttlSecs;
  if (req.expiresAt !== undefined) {
    if (!Number.isSafeInteger(req.expiresAt) || req.expiresAt <= now) {
      throw invalidRequest("expires_at must be in the future", OP);
    }
    if (req.expiresAt > now + MAX_NATS_TTL_SECS) {
      throw invalidRequest(`expires_at is more than ${MAX_NATS_TTL_SECS} seconds away`, OP);
    }
    exp = req.expiresAt;
  }
  if (exp !== undefined && exp <= iat) throw invalidRequest("expiry must follow issued_at", OP);
  return { iat, exp };
}

/** SignNatsJwt. */
export async function signNatsJwt(
  deps: BrokerDeps,
  call: BrokerCall,
  req: SignNatsJwtRequest,
): Promise<IssuedNatsJwt> {
  cap("claims_json", req.claimsJson, deps.limits.maxPayloadSize, OP);
  const now = Math.floor(deps.now().getTime() / 1000);
  const a = authorizeNats(deps, call, "sign_nats_jwt", req.keyId, OP);
  const claims = parseClaims(req.claimsJson);
  const nats = natsObject(claims);
  const kind = kindOf(nats, req.expectedType);
  checkStandard(claims);
  const { iat, exp } = times(req, now);
  const issuer = await issuerOf(a, OP);
  if ("iss" in claims && claims.iss !== issuer.publicNkey) {
    throw invalidRequest("claims_json.iss does not match the signing key", OP);
  }
  subjectFor(issuer, req.keyId, kind, claims.sub as string, "claims_json.sub", OP);
  checkNats(nats, kind, issuer.publicNkey);
  const { jti: given, ...rest } = claims;
  const out: Record<string, unknown> & { nats: Record<string, unknown> } = {
    ...rest,
    iss: issuer.publicNkey,
    iat,
    ...(exp !== undefined ? { exp } : {}),
    nats: { ...nats, version: NATS_CLAIMS_VERSION },
  };
  const jti = natsJti(out);
  if (req.jtiMode === "require_valid" && given !== undefined && given !== jti) {
    throw invalidRequest("claims_json.jti does not match the claims (use jti_mode REWRITE)", OP);
  }
  const input = natsSigningInput({ ...out, jti });
  const signature = await issuer.sign(input);
  return {
    token: assembleNatsJwt(input, signature),
    expiresAt: exp === undefined ? undefined : new Date(exp * 1000),
  };
}
