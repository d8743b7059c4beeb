/**
 * Signing a NATS JWT with an authorized issuer: the broker sets `iss` (the
 * issuer key's public NKey), `iat`, `exp` and `jti`, and the issuer key
 * signs the result in place. Shared by the MintNats* RPCs and SignNatsJwt.
 * @module
 */

import { invalidRequest } from "../core/errors.ts";
import type { NatsJwtType } from "./jwt.ts";
import { assembleNatsJwt, natsJti, natsSigningInput } from "./jwt.ts";
import type { NatsIssuer } from "./issuer.ts";
import { decodePublicNkey } from "./nkey.ts";
import type { NkeyRole, PublicNkey } from "./nkey.ts";
import { subjectRoleFor } from "./roles.ts";

/**
 * Longest TTL (and furthest `expires_at`) accepted: ten years. NATS JWTs
 * may be long-lived (operators, accounts), but a bound keeps every `exp` a
 * plain integer every consumer reads the same way.
 */
export const MAX_NATS_TTL_SECS = 10 * 365 * 24 * 60 * 60;

/** The NATS JWT claims `version` this broker writes. */
export const NATS_CLAIMS_VERSION = 2;

/** A signed JWT and its expiry (undefined: it does not expire). */
export interface IssuedNatsJwt {
  readonly token: string;
  readonly expiresAt: Date | undefined;
}

/** Throws INVALID_REQUEST naming `field` unless `ttl` is absent or in 1..MAX_NATS_TTL_SECS. */
export function checkNatsTtl(ttlSecs: number | undefined, field: string, op: string): void {
  if (ttlSecs === undefined) return;
  if (!Number.isSafeInteger(ttlSecs) || ttlSecs <= 0 || ttlSecs > MAX_NATS_TTL_SECS) {
    throw invalidRequest(`${field} must be 1..${MAX_NATS_TTL_SECS} seconds`, op);
  }
}

/**
 * The subject NKey of a `kind` JWT from `issuer`: the role chain
 * (roles.ts) decides which role it must have. Throws INVALID_REQUEST
 * naming `field` when the issuer may not issue `kind`, or when `text` is
 * not a public NKey of the required role.
 */
export function subjectFor(
  issuer: NatsIssuer,
  issuerKeyId: string,
  kind: NatsJwtType,
  text: string,
  field: string,
  op: string,
): PublicNkey {
  const role: NkeyRole | undefined = subjectRoleFor(kind, issuer.role);
  if (role === undefined) {
    throw invalidRequest(
      `${issuerKeyId} (nats_type=${issuer.role}) may not issue ${kind} JWTs`,
      op,
    );
  }
  const sub = decodePublicNkey(text, [role]);
  if (!sub) throw invalidRequest(`${field} must be a public ${role} NKey`, op);
  return sub;
}

/** The standard claims a JWT gets besides `iss` and `jti`. */
export interface StandardClaims {
  readonly sub: string;
  readonly iat: number;
  readonly exp?: number;
  readonly name?: string;
  readonly nbf?: number;
  readonly aud?: string;
}

/** Signs `nats` under `std` with `issuer`; the jti is computed. */
export async function issueNatsJwt(
  issuer: NatsIssuer,
  std: StandardClaims,
  nats: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<IssuedNatsJwt> {
  const standard: Record<string, unknown> = {
    ...(std.aud !== undefined ? { aud: std.aud } : {}),
    ...(std.exp !== undefined ? { exp: std.exp } : {}),
    iat: std.iat,
    iss: issuer.publicNkey,
    ...(std.name ? { name: std.name } : {}),
    ...(std.nbf !== undefined ? { nbf: std.nbf } : {}),
    sub: std.sub,
  };
  const claims = {
    ...extra,
    ...standard,
    jti: natsJti(standard),
    nats: { ...nats, version: NATS_CLAIMS_VERSION },
  };
  const input = natsSigningInput(claims);
  const signature = await issuer.sign(input);
  return {
    token: assembleNatsJwt(input, signature),
    expiresAt: std.exp === undefined ? undefined : new Date(std.exp * 1000),
  };
}
