/**
 * SPIFFE IDs. A caller's ID is templated from its kernel uid:
 * `spiffe://<trust_domain>/<policy names.users[uid], else the uid>`.
 * Parsing follows the SPIFFE ID spec: lowercase trust domain of
 * `[a-z0-9.-_]`, path segments of `[A-Za-z0-9.-_]`, no `.`/`..` segments,
 * no query, fragment, port or userinfo.
 * @module
 */

const TD = /^[a-z0-9._-]+$/;
const SEG = /^[A-Za-z0-9._-]+$/;

/** A parsed SPIFFE ID. */
export interface SpiffeId {
  readonly trustDomain: string;
  readonly path: string;
  readonly text: string;
}

/** Parses a SPIFFE ID, or returns undefined when malformed. */
export function parseSpiffeId(text: string): SpiffeId | undefined {
  if (!text.startsWith("spiffe://") || text.length > 2048) return undefined;
  const rest = text.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  const td = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash);
  if (!isTrustDomain(td)) return undefined;
  if (path !== "") {
    const segs = path.slice(1).split("/");
    if (segs.some((s) => !SEG.test(s) || s === "." || s === "..")) return undefined;
  }
  return { trustDomain: td, path, text };
}

/** Whether `td` is a valid trust domain name. */
export function isTrustDomain(td: string): boolean {
  return td.length > 0 && td.length <= 255 && TD.test(td);
}

/** The caller's SPIFFE ID in `td`. */
export function callerSpiffeId(
  td: string,
  uid: number,
  userNames: ReadonlyMap<number, string>,
): string {
  const name = userNames.get(uid);
  const seg = name !== undefined && SEG.test(name) && name !== "." && name !== ".."
    ? name
    : String(uid);
  return `spiffe://${td}/${seg}`;
}
