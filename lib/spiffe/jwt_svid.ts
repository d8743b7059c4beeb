/**
 * JWT-SVIDs: minted in place by a jwt issuer key (RS256, ES256, ES384) with a
 * fixed 300 s TTL, `sub` = the caller's SPIFFE ID, `aud` = every requested
 * audience, `iss` = the issuer's `spiffe_id` label or key name, and a `jti`.
 *
 * Validation runs in three steps, so nothing about issuers is revealed
 * before the caller is authorized:
 * 1. {@linkcode parsePresented}: the token's shape alone (a compact JWS with
 *    a JSON header and claims; no `crit` header; `exp`, `iss`, `sub` (a
 *    SPIFFE ID), `aud` and `jti` present). A malformed token is
 *    INVALID_ARGUMENT before any decision.
 * 2. {@linkcode findIssuer}: the issuer named by `iss` and the trust domain
 *    of `sub`; the caller decides and authorizes (lib/spiffe/workload.ts).
 * 3. {@linkcode verifyJwtSvid}: jose's `jwtVerify` with a key resolver over
 *    the issuer's versions in the grace window (the same JWKs the bundle
 *    serves: `kid` and `alg` select the version), the issuer key type's one
 *    algorithm, the audience, `exp` and `nbf` with no clock tolerance, then
 *    the revocation deny-list. Every failure is INVALID_ARGUMENT
 *    `invalid JWT-SVID: <why>`.
 * @module
 */

import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from "jose";
import type { JWTPayload, JWTVerifyResult } from "jose";
import type { BrokerDeps } from "../broker/deps.ts";
import type { Generation } from "../broker/state.ts";
import { BasilError, KEY_NOT_FOUND_MESSAGE } from "../core/errors.ts";
import { assembleJwt, jwtAlgFor, jwtKid, signingInput, standardJti } from "../crypto/jwt.ts";
import { issuerJwks } from "./bundles.ts";
import { parseSpiffeId } from "./ids.ts";
import type { SpiffeId } from "./ids.ts";
import type { Issuer } from "./issuers.ts";
import { issuersOf } from "./issuers.ts";
import type { RevocationList } from "./revocation.ts";

/** Fixed JWT-SVID lifetime (contract §9). */
export const JWT_SVID_TTL_SECS = 300;

/** Mints a JWT-SVID. */
export async function mintJwtSvid(
  deps: BrokerDeps,
  issuer: Issuer,
  spiffeId: string,
  audiences: readonly string[],
): Promise<string> {
  const kt = issuer.key.keyType!;
  const alg = jwtAlgFor(kt);
  const t = deps.backends.get(issuer.key.backend)?.transit;
  if (!alg || !t) throw new BasilError("INTERNAL", "issuer cannot sign JWTs", { op: "mint" });
  const info = await t.info(issuer.key.path);
  if (!info) throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { op: "mint" });
  const pub = await t.publicKey(issuer.key.path, kt, info.latest);
  const now = Math.floor(deps.now().getTime() / 1000);
  const standard = {
    aud: audiences.length === 1 ? audiences[0]! : [...audiences],
    exp: now + JWT_SVID_TTL_SECS,
    iat: now,
    iss: issuer.issuerId,
    sub: spiffeId,
  };
  const claims = { ...standard, jti: standardJti(standard) };
  const input = signingInput({ alg, kid: jwtKid(alg, pub), typ: "JWT" }, claims);
  return assembleJwt(input, await t.sign(issuer.key.path, kt, input, info.latest));
}

/** A validated token. */
export interface ValidatedJwt {
  readonly spiffeId: string;
  readonly issuer: Issuer;
  readonly claims: Record<string, unknown>;
}

/** A token whose shape was checked (nothing about its issuer or signature yet). */
export interface PresentedJwt {
  readonly token: string;
  readonly iss: string;
  readonly sub: SpiffeId;
}

const invalid = (why: string) =>
  new BasilError("INVALID_ARGUMENT", `invalid JWT-SVID: ${why}`, { op: "validate" });

/** Checks the token's shape (step 1 of the module doc); throws INVALID_ARGUMENT. */
export function parsePresented(token: string): PresentedJwt {
  let header: Record<string, unknown>, claims: JWTPayload;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
    claims = decodeJwt(token);
  } catch {
    throw invalid("malformed");
  }
  // No JOSE extension is understood, so none may be marked critical (RFC 7515 §4.1.11).
  if ("crit" in header) throw invalid("unsupported critical header");
  for (const c of ["exp", "iss", "sub", "aud"]) if (!(c in claims)) throw invalid(`missing ${c}`);
  if (typeof claims.jti !== "string" || claims.jti === "") throw invalid("missing jti");
  if (typeof claims.iss !== "string") throw invalid("iss is not a string");
  const sub = typeof claims.sub === "string" ? parseSpiffeId(claims.sub) : undefined;
  if (!sub) throw invalid("sub is not a SPIFFE ID");
  return { token, iss: claims.iss, sub };
}

/** The jwt issuer a presented token names (by `iss` and the trust domain of `sub`), if any. */
export function findIssuer(gen: Generation, presented: PresentedJwt): Issuer | undefined {
  return issuersOf(gen.catalog, "jwt").find((i) =>
    i.issuerId === presented.iss && i.trustDomain === presented.sub.trustDomain
  );
}

/** Why jose refused a token, in the words of this module's errors. */
function reasonOf(e: errors.JOSEError): string {
  if (e instanceof errors.JWTExpired) return "expired";
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === "aud") return "audience mismatch";
    if (e.claim === "nbf") return "not yet valid";
    return `${e.claim} check failed`;
  }
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) {
    return "algorithm does not match the issuer";
  }
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return "malformed";
  return "bad signature";
}

/** Verifies a presented token for `audience` against its issuer (step 3 of the module doc). */
export async function verifyJwtSvid(
  deps: BrokerDeps,
  issuer: Issuer,
  presented: PresentedJwt,
  audience: string,
  revoked: RevocationList,
): Promise<ValidatedJwt> {
  const alg = jwtAlgFor(issuer.key.keyType!);
  const keys = await issuerJwks(deps, issuer);
  if (!alg || keys.length === 0) throw invalid("issuer key unavailable");
  const options = {
    algorithms: [alg],
    audience,
    currentDate: deps.now(),
    clockTolerance: 0,
    requiredClaims: ["exp", "iss", "sub", "aud", "jti"],
  };
  let verified: JWTVerifyResult;
  try {
    verified = await verifyWithAnyVersion(presented.token, keys, options);
  } catch (e) {
    if (e instanceof errors.JOSEError) throw invalid(reasonOf(e));
    throw e;
  }
  const claims = verified.payload;
  const now = deps.now().getTime() / 1000;
  if (revoked.has(issuer.trustDomain, claims.jti!, now)) throw invalid("revoked");
  return { spiffeId: presented.sub.text, issuer, claims: claims as Record<string, unknown> };
}

/**
 * jwtVerify with the issuer's JWKs as the key resolver. A token without a
 * `kid` matches every version: each is tried, and only a signature failure
 * moves on to the next (the documented jose pattern).
 */
async function verifyWithAnyVersion(
  token: string,
  keys: Awaited<ReturnType<typeof issuerJwks>>,
  options: Parameters<typeof jwtVerify>[2],
): Promise<JWTVerifyResult> {
  const resolver = createLocalJWKSet({ keys });
  try {
    return await jwtVerify(token, resolver, options);
  } catch (e) {
    if (!(e instanceof errors.JWKSMultipleMatchingKeys)) throw e;
    for await (const key of e as unknown as AsyncIterable<CryptoKey>) {
      try {
        return await jwtVerify(token, key, options);
      } catch (inner) {
        if (inner instanceof errors.JWSSignatureVerificationFailed) continue;
        throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}
