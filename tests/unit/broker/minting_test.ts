/**
 * MintJwt TTL: capped at MAX_JWT_TTL_SECS, checked before the key is
 * authorized or touched; the cap itself mints a token with a valid expiry.
 */

import assert from "node:assert/strict";
import { DEFAULT_JWT_TTL_SECS, MAX_JWT_TTL_SECS, mintJwt } from "../../../lib/broker/minting.ts";
import { newKey } from "../../../lib/broker/signing.ts";
import { rejectsWith, run, withBroker } from "./helpers.ts";

const none = new Uint8Array();

Deno.test("MintJwt: a TTL above the cap (or not positive) is INVALID_ARGUMENT naming ttl, before authorization", async () => {
  await withBroker(async (b) => {
    assert.equal(MAX_JWT_TTL_SECS, 86_400);
    for (const ttl of [MAX_JWT_TTL_SECS + 1, 315_576_000_000, 2 ** 60]) {
      await rejectsWith(
        run(b, (c) => mintJwt(b.deps, c, "app.sig", "bot", ttl, none)),
        "INVALID_REQUEST",
        /^ttl exceeds the 86400-second maximum$/,
      );
    }
    for (const ttl of [0, -5, 1.5, Number.NaN]) {
      await rejectsWith(
        run(b, (c) => mintJwt(b.deps, c, "app.sig", "bot", ttl, none)),
        "INVALID_REQUEST",
        /^ttl /,
      );
    }
    // Even on a key the caller may not use: the request is malformed first.
    await rejectsWith(
      run(b, (c) => mintJwt(b.deps, c, "other.sig", "bot", MAX_JWT_TTL_SECS + 1, none)),
      "INVALID_REQUEST",
    );
    assert.equal(b.sink.records.length, 0);
  });
});

Deno.test("MintJwt: the maximum and the default TTL mint tokens with a valid expiry", async () => {
  await withBroker(async (b) => {
    await run(b, (c) => newKey(b.deps, c, "app.sig", undefined));
    const now = Date.now();
    for (
      const [ttl, want] of [[MAX_JWT_TTL_SECS, MAX_JWT_TTL_SECS], [undefined, DEFAULT_JWT_TTL_SECS]]
    ) {
      const m = await run(b, (c) => mintJwt(b.deps, c, "app.sig", "bot", ttl, none));
      const exp =
        JSON.parse(atob(m.token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))).exp;
      assert.equal(m.expiresAt.getTime(), exp * 1000);
      assert.ok(Math.abs(exp - Math.floor(now / 1000) - want!) <= 5);
    }
  });
});
