/**
 * SVID issuers in the catalog: asymmetric keys labelled `svid_kind=x509`
 * (a pki engine CA) or `svid_kind=jwt` (a transit signing key), each with a
 * `trust_domain` label. Order is by key name, so "the first issuer the caller
 * may mint" is deterministic.
 * @module
 */

import type { Catalog, CatalogKey } from "../catalog/schema.ts";
import { isTrustDomain } from "./ids.ts";

/** An issuer key and its trust domain. */
export interface Issuer {
  readonly key: CatalogKey;
  readonly trustDomain: string;
  /** The JWT `iss`: the `spiffe_id` label, else the catalog key name. */
  readonly issuerId: string;
}

/** Issuers of one kind, sorted by key name. */
export function issuersOf(catalog: Catalog, kind: "x509" | "jwt"): Issuer[] {
  const out: Issuer[] = [];
  for (const key of catalog.keys.values()) {
    if (key.class !== "asymmetric" || key.labelMap.get("svid_kind") !== kind) continue;
    const td = key.labelMap.get("trust_domain");
    if (td === undefined || !isTrustDomain(td)) continue;
    out.push({ key, trustDomain: td, issuerId: key.labelMap.get("spiffe_id") ?? key.name });
  }
  return out.sort((a, b) => a.key.name.localeCompare(b.key.name));
}
