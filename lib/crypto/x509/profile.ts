/**
 * Checks what a certificate request asks for and turns it into a profile the
 * TBS builders take. Every rejection is `BasilError` INVALID_REQUEST whose
 * message names the request field (wire names: `common_name`, `dns_sans`,
 * `ip_sans`, `uri_sans`, `ttl`) and, for a list, the index — never the
 * rejected value.
 *
 * Profiles:
 * - X509-SVID (SPIFFE X509-SVID spec): exactly one URI SAN, a SPIFFE ID with
 *   a non-empty path; DNS and IP SANs optional; common name optional.
 * - TLS leaf: common name required; DNS, IP and URI SANs optional. A common
 *   name that is a DNS name is also added as a DNS SAN (as Vault's PKI does:
 *   clients ignore the CN), unless already listed.
 * - Both: `ttl` a positive whole number of seconds; at most
 *   {@linkcode MAX_SANS_PER_KIND} entries per SAN list; exact duplicates
 *   are dropped.
 * @module
 */

import { BasilError } from "../../core/errors.ts";
import {
  isCommonName,
  isDnsName,
  isUri,
  MAX_COMMON_NAME,
  parseIpAddress,
  parseSpiffeId,
  type SpiffeIdParts,
} from "./names.ts";

/** Most entries accepted in one SAN list. */
export const MAX_SANS_PER_KIND = 100;

/** What a certificate should say (the backend contract's `CertRequest`). */
export interface LeafRequest {
  /** Subject CN (TLS leaves); SVIDs usually have none. */
  readonly commonName?: string;
  readonly dnsSans: readonly string[];
  readonly ipSans: readonly string[];
  /** URI SANs; an X.509-SVID carries exactly one `spiffe://` URI. */
  readonly uriSans: readonly string[];
  readonly ttlSecs: number;
  /** The X.509-SVID profile (contract §4.5, SPIFFE X509-SVID spec) rather than a TLS leaf. */
  readonly svid: boolean;
}

/** A checked leaf request. */
export interface LeafProfile {
  readonly svid: boolean;
  readonly commonName: string | undefined;
  readonly dnsSans: readonly string[];
  /** 4- or 16-byte addresses. */
  readonly ipSans: readonly Uint8Array[];
  readonly uriSans: readonly string[];
  readonly ttlSecs: number;
  /** The SPIFFE ID of an X509-SVID (its only URI SAN). */
  readonly spiffeId: SpiffeIdParts | undefined;
}

/** What a CA certificate names. */
export interface CaSubjectRequest {
  readonly commonName: string;
  /** A URI SAN; for a SPIFFE CA the trust domain ID `spiffe://<td>`. */
  readonly uri?: string;
}

/** A checked CA subject. */
export interface CaSubject {
  readonly commonName: string;
  readonly uri: string | undefined;
  /** The trust domain when `uri` is a SPIFFE ID. */
  readonly trustDomain: string | undefined;
}

/** Checks a leaf request (rules in the module doc). */
export function checkLeafRequest(req: LeafRequest): LeafProfile {
  const ttl = req.ttlSecs;
  if (typeof ttl !== "number" || !Number.isSafeInteger(ttl) || ttl <= 0) {
    throw invalid("ttl: must be a positive whole number of seconds");
  }
  const cn = req.commonName === undefined || req.commonName === "" ? undefined : req.commonName;
  if (cn !== undefined && !isCommonName(cn)) {
    throw invalid(
      `common_name: must be 1-${MAX_COMMON_NAME} characters, no control characters or edge spaces`,
    );
  }
  if (!req.svid && cn === undefined) throw invalid("common_name: required for a TLS certificate");

  const dnsSans = checkList("dns_sans", req.dnsSans, (n) => isDnsName(n), "not a valid DNS name");
  const ipSans: Uint8Array[] = [];
  const seenIps = new Set<string>();
  checkCount("ip_sans", req.ipSans);
  req.ipSans.forEach((text, i) => {
    const bytes = typeof text === "string" ? parseIpAddress(text) : undefined;
    if (bytes === undefined) throw invalid(`ip_sans[${i}]: not a valid IP address`);
    const key = bytes.join(",");
    if (!seenIps.has(key)) {
      seenIps.add(key);
      ipSans.push(bytes);
    }
  });

  let spiffeId: SpiffeIdParts | undefined;
  let uriSans: string[];
  if (req.svid) {
    if (req.uriSans.length !== 1) {
      throw invalid(
        `uri_sans: an X509-SVID needs exactly one URI SAN (its SPIFFE ID), got ${req.uriSans.length}`,
      );
    }
    const id = req.uriSans[0]!;
    spiffeId = typeof id === "string" ? parseSpiffeId(id) : undefined;
    if (spiffeId === undefined) throw invalid("uri_sans[0]: not a valid SPIFFE ID");
    if (spiffeId.path === "") {
      throw invalid("uri_sans[0]: an X509-SVID's SPIFFE ID needs a path");
    }
    uriSans = [id];
  } else {
    // Only the SVID profile may carry a SPIFFE ID (in any letter case).
    uriSans = checkList(
      "uri_sans",
      req.uriSans,
      (u) => isUri(u) && !isSpiffeScheme(u),
      "not a valid absolute URI, or a SPIFFE ID outside the X509-SVID profile",
    );
  }

  if (!req.svid && cn !== undefined && isDnsName(cn)) {
    const lower = cn.toLowerCase();
    if (!dnsSans.some((d) => d.toLowerCase() === lower)) dnsSans.unshift(cn);
  }
  return { svid: req.svid, commonName: cn, dnsSans, ipSans, uriSans, ttlSecs: ttl, spiffeId };
}

/** Checks a CA subject: a common name, and an optional URI (a SPIFFE ID must parse). */
export function checkCaSubject(subject: CaSubjectRequest): CaSubject {
  const cn = subject.commonName;
  if (typeof cn !== "string" || !isCommonName(cn)) {
    throw invalid(
      `common_name: must be 1-${MAX_COMMON_NAME} characters, no control characters or edge spaces`,
    );
  }
  const uri = subject.uri === undefined || subject.uri === "" ? undefined : subject.uri;
  let trustDomain: string | undefined;
  if (uri !== undefined) {
    if (typeof uri !== "string" || !isUri(uri)) throw invalid("uri: not a valid absolute URI");
    if (isSpiffeScheme(uri)) {
      const id = parseSpiffeId(uri);
      if (id === undefined) throw invalid("uri: not a valid SPIFFE ID");
      trustDomain = id.trustDomain;
    }
  }
  return { commonName: cn, uri, trustDomain };
}

/** Whether a URI's scheme is `spiffe` (schemes are case-insensitive, RFC 3986 §3.1). */
function isSpiffeScheme(uri: string): boolean {
  return uri.slice(0, 7).toLowerCase() === "spiffe:";
}

function checkList(
  field: string,
  items: readonly string[],
  ok: (item: string) => boolean,
  problem: string,
): string[] {
  checkCount(field, items);
  const out: string[] = [];
  items.forEach((item, i) => {
    if (typeof item !== "string" || !ok(item)) throw invalid(`${field}[${i}]: ${problem}`);
    if (!out.includes(item)) out.push(item);
  });
  return out;
}

function checkCount(field: string, items: readonly unknown[]): void {
  if (!Array.isArray(items)) throw invalid(`${field}: must be a list`);
  if (items.length > MAX_SANS_PER_KIND) {
    throw invalid(`${field}: at most ${MAX_SANS_PER_KIND} entries`);
  }
}

function invalid(message: string): BasilError {
  return new BasilError("INVALID_REQUEST", message);
}
