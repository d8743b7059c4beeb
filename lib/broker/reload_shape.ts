/**
 * The routing-shape guard of hot reload (contract §8). A reload may change
 * the whole policy, a key's `writable`, `labels`, `description` and
 * `missing`, and a backend's `mintKeyTypes`; anything else in the catalog is
 * routing shape (which backends exist and how they are reached, which keys
 * exist and where their material lives, how they are used) and changing it
 * needs a restart. Fields the contract lists in neither set (a key's
 * `generate` recipe and `sealingPin`) count as shape: a sealing pin binds
 * existing ciphertexts, so it must not move under a running agent.
 * @module
 */

import type { Catalog } from "../catalog/schema.ts";

/** Key fields a reload may change. */
export const RELOADABLE_KEY_FIELDS: ReadonlySet<string> = new Set([
  "name",
  "writable",
  "labels",
  "labelMap",
  "description",
  "missing",
]);

/** Backend fields a reload may change. */
export const RELOADABLE_BACKEND_FIELDS: ReadonlySet<string> = new Set(["name", "mintKeyTypes"]);

/** Backend list fields compared as sets (their order carries no meaning). */
const SET_FIELDS: ReadonlySet<string> = new Set(["engines", "capabilities", "requires"]);

/** JSON with object keys sorted, so equal values always compare equal. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${
      Object.keys(o).sort().filter((k) => o[k] !== undefined)
        .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(",")
    }}`;
  }
  return v === undefined ? "null" : JSON.stringify(v);
}

/** Fields of `a` and `b` (outside `reloadable`) whose values differ, sorted. */
function changedFields(
  a: object,
  b: object,
  reloadable: ReadonlySet<string>,
  asSets: ReadonlySet<string> = new Set(),
): string[] {
  const ra = a as Record<string, unknown>, rb = b as Record<string, unknown>;
  const fields = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  const value = (r: Record<string, unknown>, f: string) => {
    const v = r[f];
    return asSets.has(f) && Array.isArray(v) ? [...v].map(String).sort() : v;
  };
  return [...fields].filter((f) => !reloadable.has(f))
    .filter((f) => canonical(value(ra, f)) !== canonical(value(rb, f))).sort();
}

/**
 * What a reload from `prev` to `next` would change in the routing shape, one
 * phrase per difference (empty when the shape is the same), e.g.
 * `backend "db" added`, `key "app.token": path changed`.
 */
export function routingShapeChanges(prev: Catalog, next: Catalog): string[] {
  const out: string[] = [];
  const diffSet = <T extends object>(
    what: "backend" | "key",
    a: ReadonlyMap<string, T>,
    b: ReadonlyMap<string, T>,
    reloadable: ReadonlySet<string>,
    asSets?: ReadonlySet<string>,
  ) => {
    for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
      const x = a.get(name), y = b.get(name);
      if (!x) out.push(`${what} ${JSON.stringify(name)} added`);
      else if (!y) out.push(`${what} ${JSON.stringify(name)} removed`);
      else {
        const fields = changedFields(x, y, reloadable, asSets);
        if (fields.length > 0) {
          out.push(`${what} ${JSON.stringify(name)}: ${fields.join(", ")} changed`);
        }
      }
    }
  };
  diffSet("backend", prev.backends, next.backends, RELOADABLE_BACKEND_FIELDS, SET_FIELDS);
  diffSet("key", prev.keys, next.keys, RELOADABLE_KEY_FIELDS);
  return out;
}
