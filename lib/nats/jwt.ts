/**
 * The NATS JWT format (nats-io/jwt v2): header `{"typ":"JWT","alg":"ed25519-nkey"}`,
 * base64url-no-pad segments, a raw 64-byte Ed25519 signature over
 * `header.claims`. The `jti` is base32-no-pad(SHA-512/256) over the JSON of
 * the standard claims as Go's encoder writes them (fields in the order aud,
 * exp, jti, iat, iss, name, nbf, sub; empty ones omitted; jti blank, so
 * omitted; `<`, `>`, `&`, U+2028 and U+2029 escaped as Go does), never over
 * the `nats` object.
 *
 * Encoding here is pure: the signature comes from the backend (the issuer
 * key signs in place), so this module only builds signing inputs, assembles
 * tokens and decodes them.
 * @module
 */

import { sha512_256 } from "@noble/hashes/sha2.js";
import { decodeBase64Url, fromUtf8, toBase64Url, utf8 } from "../core/encoding.ts";
import { base32NoPad } from "./nkey.ts";

/** The only header the broker writes. */
export const NATS_JWT_HEADER = { typ: "JWT", alg: "ed25519-nkey" } as const;

/** JWT kinds; the value is the claims' `nats.type`. */
export const NATS_JWT_TYPES = ["user", "account", "operator", "signer", "server", "curve"] as const;
/** A NATS JWT kind. */
export type NatsJwtType = typeof NATS_JWT_TYPES[number];

/** Claims a NATS JWT carries (the standard ones plus `nats`). */
export type NatsClaims = Record<string, unknown> & {
  readonly nats: Record<string, unknown>;
};

/** A JSON string exactly as Go's encoding/json writes it. */
function goString(s: string): string {
  return JSON.stringify(s).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

const JTI_FIELDS = ["aud", "exp", "iat", "iss", "name", "nbf", "sub"] as const;

/**
 * The NATS `jti` of a claims object: base32-no-pad(SHA-512/256) over Go's
 * JSON of the standard claims with `jti` blank. Only strings and integers
 * count; zero and empty values are omitted as Go's `omitempty` does.
 */
export function natsJti(claims: Readonly<Record<string, unknown>>): string {
  const parts: string[] = [];
  for (const f of JTI_FIELDS) {
    const v = claims[f];
    if (typeof v === "string" && v !== "") parts.push(`"${f}":${goString(v)}`);
    else if (typeof v === "number" && v !== 0) parts.push(`"${f}":${v}`);
  }
  return base32NoPad(sha512_256(utf8(`{${parts.join(",")}}`)));
}

/** The bytes the issuer signs: `b64url(header).b64url(claims)`. */
export function natsSigningInput(claims: NatsClaims): Uint8Array {
  const h = toBase64Url(utf8(JSON.stringify(NATS_JWT_HEADER)));
  const c = toBase64Url(utf8(JSON.stringify(claims)));
  return utf8(`${h}.${c}`);
}

/** The compact token from a signing input and its signature. */
export function assembleNatsJwt(input: Uint8Array, signature: Uint8Array): string {
  return `${fromUtf8(input)}.${toBase64Url(signature)}`;
}

/** A syntactically valid NATS JWT (signature not yet checked). */
export interface DecodedNatsJwt {
  readonly claims: NatsClaims;
  readonly issuer: string;
  readonly subject: string;
  readonly type: string;
  readonly signingInput: Uint8Array;
  readonly signature: Uint8Array;
}

function jsonObject(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64Url(segment);
  if (!bytes) return undefined;
  try {
    const v: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? v as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

const INT_CLAIMS = ["exp", "iat", "nbf"] as const;

/**
 * Decodes a compact NATS JWT, or undefined when it is malformed: not three
 * base64url segments, a header other than typ JWT / alg ed25519-nkey, claims
 * that are not a JSON object with string `iss`/`sub`, integer `exp`/`iat`/
 * `nbf`, a string `aud` and a `nats` object with a string `type`, or a
 * signature that is not 64 bytes.
 */
export function decodeNatsJwt(token: string): DecodedNatsJwt | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const [h, c, s] = parts as [string, string, string];
  const header = jsonObject(h);
  if (!header || typeof header.typ !== "string" || header.typ.toUpperCase() !== "JWT") {
    return undefined;
  }
  if (header.alg !== NATS_JWT_HEADER.alg) return undefined;
  const claims = jsonObject(c);
  if (!claims) return undefined;
  const { iss, sub, aud, nats } = claims;
  if (typeof iss !== "string" || typeof sub !== "string") return undefined;
  if (aud !== undefined && typeof aud !== "string") return undefined;
  for (const f of INT_CLAIMS) {
    const v = claims[f];
    if (v !== undefined && !Number.isSafeInteger(v)) return undefined;
  }
  if (typeof nats !== "object" || nats === null || Array.isArray(nats)) return undefined;
  const type = (nats as Record<string, unknown>).type;
  if (typeof type !== "string") return undefined;
  const signature = decodeBase64Url(s);
  if (!signature || signature.length !== 64) return undefined;
  return {
    claims: claims as NatsClaims,
    issuer: iss,
    subject: sub,
    type,
    signingInput: utf8(`${h}.${c}`),
    signature,
  };
}
