/**
 * The JWT-SVID revocation deny-list (contract §8): entries `(trust_domain,
 * jti, expires_at_unix)` kept in memory and persisted as JSON
 * `{version:1, entries:[…]}` in the catalog value key labelled
 * `revocation_store=jwt-svid`, so a revocation survives a restart. Entries
 * expire at their `expires_at_unix`, which is never earlier than the moment
 * every JWT-SVID minted before the revocation has expired.
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { Catalog, CatalogKey } from "../catalog/schema.ts";
import { BasilError, InputError } from "../core/errors.ts";
import { fromUtf8, utf8 } from "../core/encoding.ts";

/** One deny-list entry. */
export interface RevocationEntry {
  readonly trust_domain: string;
  readonly jti: string;
  readonly expires_at_unix: number;
}

/** The in-memory deny-list. */
export class RevocationList {
  #entries = new Map<string, RevocationEntry>();

  /** Whether (td, jti) is revoked at `nowUnix`. */
  has(td: string, jti: string, nowUnix: number): boolean {
    const e = this.#entries.get(`${td}\u0000${jti}`);
    return e !== undefined && e.expires_at_unix > nowUnix;
  }

  /** Adds or replaces entries. */
  add(...entries: RevocationEntry[]): void {
    for (const e of entries) this.#entries.set(`${e.trust_domain}\u0000${e.jti}`, e);
  }

  /** Live entries at `nowUnix` (expired ones dropped). */
  live(nowUnix: number): RevocationEntry[] {
    for (const [k, e] of this.#entries) if (e.expires_at_unix <= nowUnix) this.#entries.delete(k);
    return [...this.#entries.values()];
  }

  /** The live entries at `nowUnix` as they would be with `entry` added (the list is unchanged). */
  liveWith(entry: RevocationEntry, nowUnix: number): RevocationEntry[] {
    const key = `${entry.trust_domain}\u0000${entry.jti}`;
    const others = this.live(nowUnix).filter((e) => `${e.trust_domain}\u0000${e.jti}` !== key);
    return [...others, entry];
  }
}

/** Latest accepted `expires_at_unix` (9999-12-31T23:59:59Z). */
export const MAX_EXPIRES_AT_UNIX = 253_402_300_799;

/**
 * The expiry a revocation is kept until: the requested one, but never before
 * every JWT-SVID minted up to now has expired (`minLifetimeSecs` from now).
 * Throws INVALID_ARGUMENT for a missing, past or out-of-range value.
 */
export function revocationExpiry(
  requested: number,
  nowUnix: number,
  minLifetimeSecs: number,
): number {
  const bad = (why: string) =>
    new BasilError("INVALID_ARGUMENT", `expires_at_unix ${why}`, { op: "revoke" });
  if (requested > MAX_EXPIRES_AT_UNIX) throw bad("is out of range");
  if (!Number.isSafeInteger(requested) || requested <= 0) throw bad("is required");
  if (requested <= nowUnix) throw bad("is in the past");
  return Math.max(requested, nowUnix + minLifetimeSecs);
}

/** The revocation store key of a catalog, if any. */
export function revocationStoreKey(catalog: Catalog): CatalogKey | undefined {
  return [...catalog.keys.values()].find((k) =>
    k.class === "value" && k.labelMap.get("revocation_store") === "jwt-svid"
  );
}

/**
 * Loads the persisted list at start-up (empty when the store or its value is
 * absent). A store that cannot be read or does not hold the list fails the
 * start with an `InputError` naming the catalog key; the value is never quoted.
 */
export async function loadRevocations(
  key: CatalogKey | undefined,
  backend: Backend | undefined,
  list: RevocationList,
): Promise<void> {
  if (!key || !backend?.kv) return;
  const where = `catalog key "${key.name}" (revocation_store=jwt-svid)`;
  let got: Awaited<ReturnType<typeof backend.kv.read>>;
  try {
    got = await backend.kv.read(key.path);
  } catch (e) {
    const why = e instanceof BasilError ? e.code : e instanceof Error ? e.name : "error";
    throw new InputError(
      "revocation_store_unreadable",
      `${where}: cannot read from backend "${key.backend}" (${why})`,
    );
  }
  if (!got) return;
  try {
    const doc = JSON.parse(fromUtf8(got.value.expose()));
    if (doc?.version !== 1 || !Array.isArray(doc.entries)) throw new Error("shape");
    for (const e of doc.entries) {
      if (
        typeof e?.trust_domain === "string" && typeof e?.jti === "string" &&
        typeof e?.expires_at_unix === "number"
      ) {
        list.add({ trust_domain: e.trust_domain, jti: e.jti, expires_at_unix: e.expires_at_unix });
      }
    }
  } catch {
    throw new InputError(
      "revocation_store_corrupt",
      `${where}: the stored value is not a {"version":1,"entries":[…]} JSON document`,
    );
  } finally {
    got.value.wipe();
  }
}

/** Persists `entries` as a new version of the store value. */
export async function persistRevocations(
  key: CatalogKey,
  backend: Backend,
  entries: readonly RevocationEntry[],
): Promise<void> {
  if (!backend.kv) throw new BasilError("BACKEND_UNAVAILABLE", undefined, { op: "revoke" });
  const doc = { version: 1, entries };
  try {
    await backend.kv.write(key.path, utf8(JSON.stringify(doc)));
  } catch (e) {
    throw new BasilError("BACKEND_UNAVAILABLE", undefined, {
      op: "revoke",
      detail: e instanceof Error ? e.message : "write failed",
    });
  }
}
