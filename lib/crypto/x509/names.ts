/**
 * Syntax checks for the names a certificate carries: SPIFFE IDs, DNS names,
 * IP addresses (IPv4 and IPv6, parsed to their 4/16 bytes), common names
 * and URIs. Pure functions; they never throw.
 *
 * Rules:
 * - SPIFFE ID (SPIFFE ID spec): `spiffe://` + trust domain of `[a-z0-9._-]`
 *   + optional path of `/`-separated segments of `[A-Za-z0-9._-]`, no `.`
 *   or `..` segment, no empty segment, no query, fragment, port or userinfo,
 *   at most 2048 bytes (the same rules as lib/spiffe/ids.ts, which sits
 *   above this layer).
 * - DNS name (RFC 5280 §4.2.1.6 preferred name syntax): LDH labels of 1–63
 *   characters, not starting or ending with `-`, at most 253 characters in
 *   all, no trailing dot; a leading `*.` wildcard label is allowed.
 * - IPv4: exactly four decimal octets 0–255, no leading zeros. IPv6: RFC
 *   4291 text forms (hex groups, one `::`, an optional dotted IPv4 tail), no
 *   zone index.
 * - Common name: 1–64 characters without control characters (CA subjects,
 *   X.520's bound); a TLS leaf's, for IssueCertificate, also at most 64
 *   UTF-8 bytes of printable characters (`isTlsCommonName`).
 * @module
 */

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;
const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IPV4_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const IPV6_GROUP = /^[0-9A-Fa-f]{1,4}$/;
/** Printable ASCII without space: what an IA5 URI SAN may hold. */
const URI_CHARS = /^[\x21-\x7e]+$/;

/** Longest SPIFFE ID accepted (SPIFFE ID spec: 2048 bytes). */
const MAX_SPIFFE_ID = 2048;
/** X.520 upper bound of a common name, in characters. */
export const MAX_COMMON_NAME = 64;

/** A parsed SPIFFE ID. */
export interface SpiffeIdParts {
  readonly trustDomain: string;
  /** `""` for a trust domain ID, else `/seg/…`. */
  readonly path: string;
}

/** Parses a SPIFFE ID; undefined when malformed. */
export function parseSpiffeId(text: string): SpiffeIdParts | undefined {
  if (!text.startsWith("spiffe://") || text.length > MAX_SPIFFE_ID) return undefined;
  const rest = text.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash);
  if (trustDomain.length === 0 || trustDomain.length > 255 || !TRUST_DOMAIN.test(trustDomain)) {
    return undefined;
  }
  if (path !== "") {
    const segments = path.slice(1).split("/");
    if (segments.some((s) => !PATH_SEGMENT.test(s) || s === "." || s === "..")) return undefined;
  }
  return { trustDomain, path };
}

/** Whether `name` is a DNS name in preferred name syntax (optionally `*.`-wildcarded). */
export function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  const first = labels[0] === "*" ? 1 : 0;
  if (first === 1 && labels.length < 2) return false;
  for (let i = first; i < labels.length; i++) {
    if (!DNS_LABEL.test(labels[i]!)) return false;
  }
  return true;
}

/** Parses an IPv4 or IPv6 address to its 4 or 16 bytes; undefined when malformed. */
export function parseIpAddress(text: string): Uint8Array | undefined {
  if (text.includes(":")) return parseIpv6(text);
  return parseIpv4(text);
}

/**
 * The text form of 4 or 16 address bytes that @peculiar/asn1-x509's IP
 * converter encodes back to exactly those bytes: dotted quad, or all eight
 * IPv6 groups (its own parser handles neither a dotted IPv4 tail nor
 * leading-zero rules, so it only ever sees this canonical form).
 */
export function ipBytesToText(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const groups: string[] = [];
  for (let i = 0; i < bytes.length; i += 2) {
    groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  }
  return groups.join(":");
}

/** Whether `cn` is a usable common name: 1–64 characters, no control characters. */
export function isCommonName(cn: string): boolean {
  const chars = [...cn].length;
  return chars > 0 && chars <= MAX_COMMON_NAME && !hasControl(cn) && cn.trim() === cn;
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Longest common name IssueCertificate accepts, in UTF-8 bytes. */
export const MAX_TLS_COMMON_NAME_BYTES = 64;

/** Control, format and line/paragraph separator characters: never printable. */
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * Whether `cn` is a common name a TLS leaf may carry (IssueCertificate): 1 to
 * {@linkcode MAX_TLS_COMMON_NAME_BYTES} UTF-8 bytes of printable characters
 * (no control, format or separator characters, no lone surrogate), no
 * leading or trailing space. Stricter than {@linkcode isCommonName}, which
 * counts characters (X.520's bound) and also serves CA subjects.
 */
export function isTlsCommonName(cn: string): boolean {
  if (cn === "" || cn.trim() !== cn || NON_PRINTABLE.test(cn) || !cn.isWellFormed()) return false;
  return new TextEncoder().encode(cn).length <= MAX_TLS_COMMON_NAME_BYTES;
}

/** Whether `uri` is an absolute URI of printable ASCII (what a URI SAN may carry). */
export function isUri(uri: string): boolean {
  if (uri.length > MAX_SPIFFE_ID * 4 || !URI_CHARS.test(uri)) return false;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri)) return false;
  return URL.canParse(uri);
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!IPV4_OCTET.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length > 45) return undefined;
  const gap = text.indexOf("::");
  if (gap >= 0 && text.indexOf("::", gap + 1) >= 0) return undefined;
  const head = gap < 0 ? text : text.slice(0, gap);
  const tail = gap < 0 ? "" : text.slice(gap + 2);
  const headGroups = head === "" ? [] : groupsOf(head.split(":"), gap < 0);
  const tailGroups = tail === "" ? [] : groupsOf(tail.split(":"), true);
  if (headGroups === undefined || tailGroups === undefined) return undefined;
  const count = headGroups.length + tailGroups.length;
  if (gap < 0 ? count !== 8 : count > 7) return undefined;
  const groups = [...headGroups, ...new Array<number>(8 - count).fill(0), ...tailGroups];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** 16-bit groups of `parts`; the last may be a dotted IPv4 (two groups) when `v4Last`. */
function groupsOf(parts: string[], v4Last: boolean): number[] | undefined {
  const out: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (v4Last && i === parts.length - 1 && p.includes(".")) {
      const v4 = parseIpv4(p);
      if (v4 === undefined) return undefined;
      out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      continue;
    }
    if (!IPV6_GROUP.test(p)) return undefined;
    out.push(parseInt(p, 16));
  }
  return out;
}
