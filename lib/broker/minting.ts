/**
 * MintingService: MintJwt, a compact JWT signed in place by a catalog key
 * (EdDSA, ES256, ES384 or RS256 by keyType), and IssueCertificate, a TLS
 * leaf from a pki CA key. The broker owns `iss` (the catalog key id), `sub`,
 * `iat`, `exp`, `nbf` and `jti`; extra claims may not set them. Every minted
 * token expires: without a TTL the default applies.
 *
 * Neither works on a protocol issuer (an SVID or NATS operator/account key):
 * they are denied (`issuer_protocol_only`, see authorize.ts), so a workload
 * granted `mint` for its own SVID cannot mint one for another identity, nor
 * a TLS leaf from the SVID CA.
 * @module
 */

import { DEFAULT_MAX_CERT_TTL_SECS } from "../config/schema.ts";
import { BasilError, invalidRequest } from "../core/errors.ts";
import type { SecretBytes } from "../core/secret.ts";
import { fromUtf8 } from "../core/encoding.ts";
import { assembleJwt, jwtAlgFor, jwtKid, signingInput, standardJti } from "../crypto/jwt.ts";
import { authorizeKey } from "./authorize.ts";
import type { BrokerCall } from "./call.ts";
import type { BrokerDeps } from "./deps.ts";
import { cap, infoOf, keyTypeOf, requireClass, transitOf } from "./keys.ts";
import { checkLeafRequest } from "./leaf_request.ts";

/** TTL used when a request gives none. */
export const DEFAULT_JWT_TTL_SECS = 300;

/**
 * Longest TTL a MintJwt caller may ask for: 24 hours. The contract sets no
 * maximum, but a broker-minted bearer token should be short-lived and
 * re-minted, not a standing credential; the cap also keeps `exp` (and the
 * response's `expires_at`) far inside the range a Date and a JWT consumer can
 * represent, where an unbounded TTL would fail only after signing.
 */
export const MAX_JWT_TTL_SECS = 24 * 60 * 60;

/** Claims the broker sets and callers may not. */
export const RESERVED_CLAIMS: readonly string[] = ["iss", "sub", "iat", "exp", "nbf", "jti"];

/** A minted token. */
export interface MintedJwt {
  readonly token: string;
  readonly expiresAt: Date;
}

function parseExtraClaims(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(bytes));
  } catch {
    throw invalidRequest("extra_claims_json is not valid UTF-8 JSON", "mint");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw invalidRequest("extra_claims_json must be a JSON object", "mint");
  }
  for (const k of Object.keys(v)) {
    if (RESERVED_CLAIMS.includes(k)) {
      throw invalidRequest(`claim "${k}" is reserved and set by the broker`, "mint");
    }
  }
  return v as Record<string, unknown>;
}

/** Throws INVALID_REQUEST naming `ttl` unless it is absent or in 1..MAX_JWT_TTL_SECS. */
function checkJwtTtl(ttlSecs: number | undefined): void {
  if (ttlSecs === undefined) return;
  if (ttlSecs > MAX_JWT_TTL_SECS) {
    throw invalidRequest(`ttl exceeds the ${MAX_JWT_TTL_SECS}-second maximum`, "mint");
  }
  if (!Number.isSafeInteger(ttlSecs) || ttlSecs <= 0) {
    throw invalidRequest("ttl must be a positive whole number of seconds", "mint");
  }
}

/** MintJwt. `ttlSecs` undefined → the default TTL; more than 24 h is refused. */
export async function mintJwt(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  subject: string | undefined,
  ttlSecs: number | undefined,
  extraClaimsJson: Uint8Array,
): Promise<MintedJwt> {
  cap("extra_claims_json", extraClaimsJson, deps.limits.maxPayloadSize, "mint");
  checkJwtTtl(ttlSecs);
  const a = authorizeKey(deps, call, "mint", keyId);
  requireClass(a.key, ["asymmetric"], "mint");
  if (subject === undefined || subject === "") throw invalidRequest("subject is required", "mint");
  const extra = parseExtraClaims(extraClaimsJson);
  const kt = keyTypeOf(a.key, "mint");
  const alg = jwtAlgFor(kt);
  if (!alg) {
    throw new BasilError("UNSUPPORTED_ALGORITHM", `no JWT algorithm for ${kt} keys`, {
      op: "mint",
    });
  }
  const t = transitOf(a, "mint");
  const info = await infoOf(t, a.key, "mint");
  const pub = await t.publicKey(a.key.path, kt, info.latest);
  const now = Math.floor(deps.now().getTime() / 1000);
  const exp = now + (ttlSecs ?? DEFAULT_JWT_TTL_SECS);
  const standard = { iss: keyId, sub: subject, iat: now, exp };
  const claims = { ...extra, ...standard, jti: standardJti(standard) };
  const header = { alg, kid: jwtKid(alg, pub), typ: "JWT" };
  const input = signingInput(header, claims);
  const sig = await t.sign(a.key.path, kt, input, info.latest);
  return { token: assembleJwt(input, sig), expiresAt: new Date(exp * 1000) };
}

/** An issued TLS leaf, as IssueCertificate returns it. */
export interface IssuedLeaf {
  readonly chainDer: readonly Uint8Array[];
  readonly privateKeyDer: SecretBytes;
  readonly caChainDer: readonly Uint8Array[];
}

/**
 * IssueCertificate: a DNS/IP-SAN leaf from a pki issuer key. The CA key signs
 * in place; the freshly minted leaf key is released to the caller (the one
 * RPC that returns private key material, by design). The request is checked
 * after the key is authorized (see leaf_request.ts: TTL at most
 * `max-cert-ttl-secs`, DNS/IP SAN and common-name syntax, never a URI SAN).
 */
export async function issueCertificate(
  deps: BrokerDeps,
  call: BrokerCall,
  issuerKeyId: string,
  commonName: string,
  dnsSans: readonly string[],
  ipSans: readonly string[],
  ttlSecs: number | undefined,
): Promise<IssuedLeaf> {
  const a = authorizeKey(deps, call, "mint", issuerKeyId, "issuer_key_id");
  requireClass(a.key, ["asymmetric"], "issue_certificate");
  if (a.key.engine !== "pki" || !a.backend.pki) {
    throw invalidRequest(`${issuerKeyId} is not a pki issuer`, "issue_certificate");
  }
  const req = checkLeafRequest(
    { commonName, dnsSans, ipSans, ttlSecs },
    deps.limits.maxCertTtlSecs ?? DEFAULT_MAX_CERT_TTL_SECS,
  );
  const cert = await a.backend.pki.issue(a.key.path, keyTypeOf(a.key, "issue_certificate"), req);
  return {
    chainDer: cert.chainDer,
    privateKeyDer: cert.privateKeyPkcs8,
    caChainDer: cert.caChainDer,
  };
}
