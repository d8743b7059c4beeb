/**
 * Revocation entries: the expiry rule and the list a store write persists.
 * @module
 */

import assert from "node:assert/strict";
import type { Backend } from "../../../lib/backends/backend.ts";
import type { CatalogKey } from "../../../lib/catalog/schema.ts";
import { BasilError, InputError } from "../../../lib/core/errors.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import {
  loadRevocations,
  MAX_EXPIRES_AT_UNIX,
  revocationExpiry,
  RevocationList,
} from "../../../lib/spiffe/revocation.ts";

const NOW = 1_800_000_000;

Deno.test("revocation expiry: missing, past and out-of-range values are INVALID_ARGUMENT", () => {
  for (
    const [v, why] of [
      [0, /required/],
      [Number.NaN, /required/],
      [NOW - 1, /past/],
      [NOW, /past/],
      [MAX_EXPIRES_AT_UNIX + 1, /out of range/],
      [2 ** 64, /out of range/],
    ] as const
  ) {
    assert.throws(
      () => revocationExpiry(v, NOW, 300),
      (e) => e instanceof BasilError && e.code === "INVALID_ARGUMENT" && why.test(e.message),
      String(v),
    );
  }
});

Deno.test("revocation expiry: kept at least until every token minted so far has expired", () => {
  assert.equal(revocationExpiry(NOW + 10, NOW, 300), NOW + 300);
  assert.equal(revocationExpiry(NOW + 3600, NOW, 300), NOW + 3600);
});

Deno.test("revocation list: liveWith adds or replaces without changing the list", () => {
  const list = new RevocationList();
  list.add(
    { trust_domain: "a.org", jti: "1", expires_at_unix: NOW + 5 },
    { trust_domain: "a.org", jti: "old", expires_at_unix: NOW - 5 },
  );
  const next = list.liveWith({ trust_domain: "a.org", jti: "1", expires_at_unix: NOW + 99 }, NOW);
  assert.deepEqual(next, [{ trust_domain: "a.org", jti: "1", expires_at_unix: NOW + 99 }]);
  assert.equal(list.has("a.org", "1", NOW + 10), false, "the list itself is unchanged");
  assert.equal(list.live(NOW).length, 1, "expired entries are dropped");
});

const STORE = {
  name: "spiffe.revocations",
  backend: "db",
  path: "spiffe/revocations",
} as unknown as CatalogKey;

/** A backend whose kv read returns `text` (or throws `fail`). */
function kvBackend(
  text: string | undefined,
  fail?: Error,
): { backend: Backend; wiped: () => boolean } {
  let raw: Uint8Array | undefined;
  const backend = {
    kv: {
      read: () => {
        if (fail) return Promise.reject(fail);
        if (text === undefined) return Promise.resolve(undefined);
        raw = new TextEncoder().encode(text);
        return Promise.resolve({ value: new SecretBytes(raw), version: 1 });
      },
    },
  } as unknown as Backend;
  return { backend, wiped: () => raw === undefined || raw.every((b) => b === 0) };
}

Deno.test("revocation store: loaded at start; an absent value is an empty list", async () => {
  const list = new RevocationList();
  const entry = { trust_domain: "a.org", jti: "1", expires_at_unix: NOW + 5 };
  const kv = kvBackend(JSON.stringify({ version: 1, entries: [entry] }));
  await loadRevocations(STORE, kv.backend, list);
  assert.equal(list.has("a.org", "1", NOW), true);
  assert.ok(kv.wiped(), "the stored value is wiped after parsing");
  const empty = new RevocationList();
  await loadRevocations(STORE, kvBackend(undefined).backend, empty);
  assert.deepEqual(empty.live(NOW), []);
});

Deno.test("revocation store: a corrupt or unreadable store names the key, never the value", async () => {
  for (const text of ["not json SECRET", '{"version":2,"entries":[]}', '{"version":1}']) {
    const kv = kvBackend(text);
    await assert.rejects(
      loadRevocations(STORE, kv.backend, new RevocationList()),
      (e) =>
        e instanceof InputError && e.token === "revocation_store_corrupt" &&
        /^catalog key "spiffe\.revocations" \(revocation_store=jwt-svid\): /.test(e.message) &&
        !e.message.includes("SECRET"),
      text,
    );
    assert.ok(kv.wiped(), text);
  }
  await assert.rejects(
    loadRevocations(
      STORE,
      kvBackend(undefined, new BasilError("BACKEND_UNAVAILABLE", undefined, { detail: "x" }))
        .backend,
      new RevocationList(),
    ),
    (e) =>
      e instanceof InputError && e.token === "revocation_store_unreadable" &&
      /"spiffe\.revocations".*backend "db" \(BACKEND_UNAVAILABLE\)/.test(e.message),
  );
});
