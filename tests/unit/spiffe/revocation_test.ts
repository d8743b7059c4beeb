/**
 * Revocation entries: the expiry rule and the list a store write persists.
 * @module
 */

import assert from "node:assert/strict";
import { BasilError } from "../../../lib/core/errors.ts";
import {
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
