/**
 * The checks an IssueCertificate request passes before a CA signs anything.
 * Every rejection is INVALID_ARGUMENT naming the request field (and, for a
 * list, the index), never quoting the rejected value:
 * - `ttl`: required, at most the configured `max-cert-ttl-secs`;
 * - `common_name`: 1–64 UTF-8 bytes of printable characters
 *   (`isTlsCommonName`);
 * - `dns_sans[i]`: an RFC 1123 host name (LDH labels of 1–63 characters,
 *   at most 253 in all), a wildcard only as the whole leftmost label `*.`;
 * - `ip_sans[i]`: an IPv4 dotted quad or an IPv6 address;
 * - at most MAX_SANS_PER_KIND entries per list.
 * The leaf never carries a URI SAN: a SPIFFE ID comes only from the
 * Workload API, for the caller's own attested identity.
 * @module
 */

import { invalidRequest } from "../core/errors.ts";
import {
  isDnsName,
  isTlsCommonName,
  MAX_SANS_PER_KIND,
  MAX_TLS_COMMON_NAME_BYTES,
  parseIpAddress,
} from "../crypto/x509/mod.ts";
import type { LeafRequest } from "../crypto/x509/mod.ts";

const OP = "issue_certificate";

/** The parts of an IssueCertificate request a leaf is made of. */
export interface IssueRequest {
  readonly commonName: string;
  readonly dnsSans: readonly string[];
  readonly ipSans: readonly string[];
  /** Whole seconds; undefined when the request gave none. */
  readonly ttlSecs: number | undefined;
}

/** Checks `req` (rules in the module doc) and returns the TLS-leaf request for the backend. */
export function checkLeafRequest(req: IssueRequest, maxTtlSecs: number): LeafRequest {
  const ttl = req.ttlSecs;
  if (ttl === undefined || ttl <= 0) throw invalidRequest("ttl is required", OP);
  if (ttl > maxTtlSecs) {
    throw invalidRequest(`ttl exceeds the ${maxTtlSecs}-second maximum (max-cert-ttl-secs)`, OP);
  }
  if (req.commonName === "") throw invalidRequest("common_name is required", OP);
  if (!isTlsCommonName(req.commonName)) {
    throw invalidRequest(
      `common_name must be at most ${MAX_TLS_COMMON_NAME_BYTES} bytes of printable characters, ` +
        "without leading or trailing spaces",
      OP,
    );
  }
  checkList("dns_sans", req.dnsSans, isDnsName, "is not a valid DNS name");
  checkList(
    "ip_sans",
    req.ipSans,
    (ip) => parseIpAddress(ip) !== undefined,
    "is not an IP address",
  );
  return {
    commonName: req.commonName,
    dnsSans: [...req.dnsSans],
    ipSans: [...req.ipSans],
    uriSans: [],
    ttlSecs: ttl,
    svid: false,
  };
}

function checkList(
  field: string,
  items: readonly string[],
  ok: (item: string) => boolean,
  problem: string,
): void {
  if (items.length > MAX_SANS_PER_KIND) {
    throw invalidRequest(`${field} has more than ${MAX_SANS_PER_KIND} entries`, OP);
  }
  items.forEach((item, i) => {
    if (!ok(item)) throw invalidRequest(`${field}[${i}] ${problem}`, OP);
  });
}
