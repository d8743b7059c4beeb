/**
 * Compact JWS/JWT building blocks for MintJwt and JWKS. Signing happens in
 * the broker through the transit engine (the key never leaves it); this
 * module only builds the signing input and assembles the token.
 *
 * Invariants:
 * - Header and claims are serialized as canonical JSON: object keys sorted
 *   by code point (= UTF-8 byte order) at every depth, no whitespace, as
 *   serde_json without `preserve_order` does. Non-finite numbers and values
 *   JSON cannot hold are rejected, never silently turned into `null`.
 * - Segments are base64url without padding.
 * - `kid = base64url-nopad(SHA-256(alg ‖ 0x00 ‖ public-key bytes))` over the
 *   backend's public-key bytes (raw for Ed25519, SPKI PEM for ECDSA/RSA).
 * - The generic `jti` is base64url-nopad(SHA-512/256(canonical JSON of the
 *   standard claims `aud, exp, iat, iss, nbf, sub` that are present)).
 * @module
 */

import { createHash } from "node:crypto";
import { compactVerify } from "jose";
import { concat, decodeBase64Url, fromUtf8, toBase64Url, utf8 } from "../core/encoding.ts";
import type { KeyType } from "../core/ops.ts";
import { requireSigningParams } from "./signing.ts";
import { publicKeyFromPublicForm } from "./signing_keys.ts";

/** JWS algorithms Basil mints with. */
export type JwtAlg = "EdDSA" | "ES256" | "ES384" | "RS256";

/** The standard claims the generic `jti` covers, in canonical order. */
export const JTI_CLAIMS: readonly string[] = ["aud", "exp", "iat", "iss", "nbf", "sub"];

/** The JWS `alg` for a catalog key type; undefined when it cannot mint JWTs. */
export function jwtAlgFor(keyType: KeyType): JwtAlg | undefined {
  switch (keyType) {
    case "ed25519":
      return "EdDSA";
    case "ecdsa-p256":
      return "ES256";
    case "ecdsa-p384":
      return "ES384";
    case "rsa-2048":
      return "RS256";
    default:
      return undefined;
  }
}

/**
 * Canonical JSON: keys sorted by code point at every depth, no whitespace.
 * Throws `TypeError` for non-finite numbers, functions, symbols, `undefined`
 * at the top level or in an array, and cycles. Object properties whose value
 * is `undefined` are omitted (as `JSON.stringify` does); `bigint`s are
 * written as integers.
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

function write(value: unknown, seen: Set<object>): string {
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) {
        throw new TypeError("canonical JSON cannot hold a non-finite number");
      }
      return JSON.stringify(value);
    case "bigint":
      return value.toString();
    case "object": {
      if (value === null) return "null";
      if (seen.has(value)) throw new TypeError("canonical JSON cannot hold a cycle");
      seen.add(value);
      try {
        if (Array.isArray(value)) {
          return `[${value.map((v) => write(v, seen)).join(",")}]`;
        }
        const entries = Object.entries(value as Record<string, unknown>)
          .filter(([, v]) => v !== undefined)
          .sort(([a], [b]) => compareCodePoints(a, b));
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${write(v, seen)}`).join(",")}}`;
      } finally {
        seen.delete(value);
      }
    }
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
}

/** Code-point order (UTF-16 code-unit order differs for astral characters). */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done || cb.done) return ca.done ? (cb.done ? 0 : -1) : 1;
    const d = ca.value.codePointAt(0)! - cb.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/** The JWS signing input `b64url(header) "." b64url(claims)` as bytes. */
export function signingInput(header: object, claims: object): Uint8Array {
  return utf8(
    `${toBase64Url(utf8(canonicalJson(header)))}.${toBase64Url(utf8(canonicalJson(claims)))}`,
  );
}

/** The compact token: signing input `.` base64url(signature). */
export function assembleJwt(input: Uint8Array, signature: Uint8Array): string {
  return `${fromUtf8(input)}.${toBase64Url(signature)}`;
}

/** The JWKS `kid` of a public key (see the module doc). */
export function jwtKid(alg: string, publicKey: Uint8Array): string {
  const digest = createHash("sha256").update(concat(utf8(alg), new Uint8Array([0]), publicKey));
  return toBase64Url(new Uint8Array(digest.digest()));
}

/** The generic `jti` over the standard claims present in `claims`. */
export function standardJti(claims: Readonly<Record<string, unknown>>): string {
  const picked: Record<string, unknown> = {};
  for (const name of JTI_CLAIMS) {
    if (claims[name] !== undefined) picked[name] = claims[name];
  }
  const digest = createHash("sha512-256").update(utf8(canonicalJson(picked))).digest();
  return toBase64Url(new Uint8Array(digest));
}

/** A decoded, signature-checked compact JWT. */
export interface VerifiedJwt {
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
}

/**
 * Whether every segment of a compact JWS is canonical base64url without
 * padding (Basil's one strict decoder). jose's own decoder accepts
 * non-zero trailing bits, so one token would have several accepted
 * spellings; callers check this before handing a token to jose.
 */
export function isCanonicalCompactJws(token: string): boolean {
  const parts = token.split(".");
  return parts.length === 3 && parts.every((p) => p !== "" && decodeBase64Url(p) !== undefined);
}

/**
 * Decodes a compact JWT and checks its signature with a public form (raw
 * Ed25519 or SPKI PEM) through jose's `compactVerify`, whose key resolver
 * accepts only the `alg` that `keyType` mints. Resolves to undefined for
 * anything malformed, non-canonical or unverified; claims such as `exp`
 * are not checked (for tests and local tooling).
 */
export async function verifyJwtLocal(
  token: string,
  keyType: KeyType,
  publicKey: Uint8Array,
): Promise<VerifiedJwt | undefined> {
  const alg = jwtAlgFor(keyType);
  if (alg === undefined || !isCanonicalCompactJws(token)) return undefined;
  const key = publicKeyFromPublicForm(requireSigningParams(keyType), publicKey);
  if (key === undefined) return undefined;
  try {
    const { payload, protectedHeader } = await compactVerify(token, (header) => {
      if (header.alg !== alg) throw new TypeError("unexpected alg");
      return key;
    }, { algorithms: [alg] });
    const claims: unknown = JSON.parse(fromUtf8(payload));
    if (typeof claims !== "object" || claims === null || Array.isArray(claims)) return undefined;
    return { header: { ...protectedHeader }, claims: claims as Record<string, unknown> };
  } catch {
    return undefined;
  }
}
