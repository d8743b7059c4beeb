/**
 * JWT-SVIDs: minted in place by a jwt issuer key (RS256, ES256, ES384) with a
 * fixed 300 s TTL, `sub` = the caller's SPIFFE ID, `aud` = every requested
 * audience, `iss` = the issuer's `spiffe_id` label or key name, and a `jti`.
 * Validation checks the signature against the issuer versions in the grace
 * window, `exp`, the audience, and the revocation deny-list; a token without
 * `jti` is rejected.
 * @module
 */

import type { BrokerDeps } from "../broker/deps.ts";
import { graceWindow } from "../broker/keys.ts";
import type { Generation } from "../broker/state.ts";
import { BasilError, KEY_NOT_FOUND_MESSAGE } from "../core/errors.ts";
import { fromBase64Url, fromUtf8 } from "../core/encoding.ts";
import { assembleJwt, jwtAlgFor, jwtKid, signingInput, standardJti } from "../crypto/jwt.ts";
import { verifyMessage } from "../crypto/signing.ts";
import { parseSpiffeId } from "./ids.ts";
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

const invalid = (why: string) =>
  new BasilError("INVALID_ARGUMENT", `invalid JWT-SVID: ${why}`, { op: "validate" });

function decodeSegment(seg: string): Record<string, unknown> {
  const v = JSON.parse(fromUtf8(fromBase64Url(seg)));
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
  return v as Record<string, unknown>;
}

/** Parses the token and finds its issuer (no signature check yet). */
export function locateIssuer(
  gen: Generation,
  token: string,
): {
  issuer: Issuer;
  claims: Record<string, unknown>;
  header: Record<string, unknown>;
  input: Uint8Array;
  sig: Uint8Array;
} {
  const parts = token.split(".");
  if (parts.length !== 3) throw invalid("not a compact JWS");
  let header: Record<string, unknown>, claims: Record<string, unknown>, sig: Uint8Array;
  try {
    header = decodeSegment(parts[0]!);
    claims = decodeSegment(parts[1]!);
    sig = fromBase64Url(parts[2]!);
  } catch {
    throw invalid("malformed");
  }
  // No JOSE extension is understood, so none may be marked critical (RFC 7515 §4.1.11).
  if ("crit" in header) throw invalid("unsupported critical header");
  for (const c of ["exp", "iss", "sub", "aud"]) if (!(c in claims)) throw invalid(`missing ${c}`);
  if (typeof claims.jti !== "string" || claims.jti === "") throw invalid("missing jti");
  const sub = typeof claims.sub === "string" ? parseSpiffeId(claims.sub) : undefined;
  if (!sub) throw invalid("sub is not a SPIFFE ID");
  const issuer = issuersOf(gen.catalog, "jwt").find((i) =>
    i.issuerId === claims.iss && i.trustDomain === sub.trustDomain
  );
  if (!issuer) throw invalid("unknown issuer");
  return {
    issuer,
    claims,
    header,
    input: new TextEncoder().encode(`${parts[0]}.${parts[1]}`),
    sig,
  };
}

/** Verifies a located token for `audience`. */
export async function verifyJwtSvid(
  deps: BrokerDeps,
  located: ReturnType<typeof locateIssuer>,
  audience: string,
  revoked: RevocationList,
): Promise<ValidatedJwt> {
  const { issuer, claims, header, input, sig } = located;
  const kt = issuer.key.keyType!;
  const alg = jwtAlgFor(kt);
  if (header.alg !== alg) throw invalid("algorithm does not match the issuer");
  const t = deps.backends.get(issuer.key.backend)?.transit;
  const info = await t?.info(issuer.key.path);
  if (!t || !info) throw invalid("issuer key unavailable");
  const w = graceWindow(info, deps.limits.graceVersions);
  let ok = false;
  for (let v = w.to; v >= w.from && !ok; v--) {
    // A version pruned since `info` is simply not a match.
    const pub = await t.publicKey(issuer.key.path, kt, v).catch(() => undefined);
    ok = pub !== undefined && verifyMessage(kt, pub, input, sig);
  }
  if (!ok) throw invalid("bad signature");
  const now = deps.now().getTime() / 1000;
  if (typeof claims.exp !== "number" || claims.exp <= now) throw invalid("expired");
  if (typeof claims.nbf === "number" && claims.nbf > now + 30) throw invalid("not yet valid");
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(audience)) throw invalid("audience mismatch");
  if (revoked.has(issuer.trustDomain, claims.jti as string, now)) throw invalid("revoked");
  return { spiffeId: claims.sub as string, issuer, claims };
}
