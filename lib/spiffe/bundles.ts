/**
 * Trust bundles per trust domain: X.509 (DER CA certificates of every x509
 * issuer version inside the grace window, concatenated) and JWT (a JWKS with
 * one JWK per jwt issuer version inside the grace window; `kid` as in MintJwt
 * and the JWKS endpoint). Public data; built from the pinned generation.
 * The Workload API's JWKS omits `use`, as SPIRE's does; the HTTP JWKS
 * endpoint (contract §4.7) carries `use: "sig"`.
 * @module
 */

import { exportJWK, importSPKI } from "jose";
import type { BrokerDeps } from "../broker/deps.ts";
import { graceWindow } from "../broker/keys.ts";
import type { Generation } from "../broker/state.ts";
import { concat, fromUtf8 } from "../core/encoding.ts";
import { jwtAlgFor, jwtKid } from "../crypto/jwt.ts";
import type { Issuer } from "./issuers.ts";
import { issuersOf } from "./issuers.ts";

/** DER CA certificates per trust domain (`spiffe://<td>` keys). */
export async function x509Bundles(
  deps: BrokerDeps,
  gen: Generation,
): Promise<Map<string, Uint8Array>> {
  const parts = new Map<string, Uint8Array[]>();
  for (const issuer of issuersOf(gen.catalog, "x509")) {
    const pki = deps.backends.get(issuer.key.backend)?.pki;
    if (!pki || issuer.key.keyType === undefined) continue;
    const info = await pki.info(issuer.key.path);
    if (!info) continue;
    const w = graceWindow(info, deps.limits.graceVersions);
    const certs = await pki.caCertificates(issuer.key.path, issuer.key.keyType, w.from, w.to);
    const id = `spiffe://${issuer.trustDomain}`;
    parts.set(id, [...(parts.get(id) ?? []), ...certs]);
  }
  return new Map([...parts].map(([td, certs]) => [td, concat(...certs)]));
}

/** One JWK. */
export type Jwk = Record<string, string>;

/**
 * The JWKs of one jwt issuer: one per version inside the grace window,
 * newest first, with `kid` and `alg` (no `use`). Empty when the issuer's key
 * is absent. Also the key set JWT-SVID validation resolves keys from.
 */
export async function issuerJwks(deps: BrokerDeps, issuer: Issuer): Promise<Jwk[]> {
  const kt = issuer.key.keyType;
  const alg = kt === undefined ? undefined : jwtAlgFor(kt);
  const t = deps.backends.get(issuer.key.backend)?.transit;
  if (!t || !alg || kt === undefined) return [];
  const info = await t.info(issuer.key.path);
  if (!info) return [];
  const w = graceWindow(info, deps.limits.graceVersions);
  const keys: Jwk[] = [];
  for (let v = w.to; v >= w.from; v--) {
    const pub = await t.publicKey(issuer.key.path, kt, v).catch(() => undefined);
    if (pub === undefined) continue; // pruned since `info`
    const jwk = await exportJWK(await importSPKI(fromUtf8(pub), alg, { extractable: true }));
    keys.push({ ...(jwk as Jwk), kid: jwtKid(alg, pub), alg });
  }
  return keys;
}

/** JWKs per trust domain (`spiffe://<td>` keys), without `use`. */
async function jwksByTrustDomain(deps: BrokerDeps, gen: Generation): Promise<Map<string, Jwk[]>> {
  const out = new Map<string, Jwk[]>();
  for (const issuer of issuersOf(gen.catalog, "jwt")) {
    const keys = await issuerJwks(deps, issuer);
    if (keys.length === 0) continue;
    const id = `spiffe://${issuer.trustDomain}`;
    out.set(id, [...(out.get(id) ?? []), ...keys]);
  }
  return out;
}

/** JWKs per trust domain for the HTTP JWKS endpoint (contract §4.7: each with `use: "sig"`). */
export async function jwtJwks(deps: BrokerDeps, gen: Generation): Promise<Map<string, Jwk[]>> {
  const jwks = await jwksByTrustDomain(deps, gen);
  return new Map([...jwks].map(([td, keys]) => [td, keys.map((k) => ({ ...k, use: "sig" }))]));
}

/** The Workload API's JWKS documents (`{"keys":[…]}` bytes, no `use`) per trust domain. */
export async function jwtBundles(
  deps: BrokerDeps,
  gen: Generation,
): Promise<Map<string, Uint8Array>> {
  const enc = new TextEncoder();
  const jwks = await jwksByTrustDomain(deps, gen);
  return new Map([...jwks].map(([td, keys]) => [td, enc.encode(JSON.stringify({ keys }))]));
}
