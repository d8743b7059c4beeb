/**
 * NewKey on a sealing key is serialized per key and recovers from a
 * half-made key; on a key that exists it answers OK with the latest public
 * key and creates nothing (as upstream 0.7.1 does); Verify answers false
 * (never an error) for a missing key or a version missing inside the grace
 * window.
 */

import assert from "node:assert/strict";
import type { Backend, KvStore, TransitEngine } from "../../../lib/backends/backend.ts";
import { unwrapEnvelope, wrapEnvelope } from "../../../lib/broker/aead.ts";
import { rotateSecret } from "../../../lib/broker/secrets.ts";
import { newKey, sign, verify } from "../../../lib/broker/signing.ts";
import { utf8 } from "../../../lib/core/encoding.ts";
import { BasilError, KEY_NOT_FOUND_MESSAGE } from "../../../lib/core/errors.ts";
import { x25519PublicKey } from "../../../lib/crypto/x25519_seal.ts";
import { rejectsWith, run, withBroker } from "./helpers.ts";
import type { TestBroker } from "./helpers.ts";

/** Lets other tasks run between (and inside) every kv call, so unserialized callers interleave. */
function yieldingKv(kv: KvStore, failPublicWrites = 0): KvStore {
  const tick = () => new Promise((r) => setTimeout(r, 0));
  let failures = failPublicWrites;
  return {
    async read(path, version) {
      await tick();
      return await kv.read(path, version);
    },
    async write(path, value) {
      await tick();
      if (path.endsWith("-pub") && failures > 0) {
        failures--;
        throw new Error("disk full");
      }
      const v = await kv.write(path, value);
      await tick();
      return v;
    },
    async latestVersion(path) {
      await tick();
      return await kv.latestVersion(path);
    },
  };
}

function withKv(b: TestBroker, kv: KvStore): void {
  const wrapped: Backend = { ...b.backend, kv };
  b.useBackend(wrapped);
}

async function roundTrip(b: TestBroker): Promise<void> {
  const msg = utf8("attack at dawn");
  const box = await run(b, (c) => wrapEnvelope(b.deps, c, "app.seal", msg, undefined));
  const out = await run(
    b,
    (c) => unwrapEnvelope(b.deps, c, "app.seal", { ...box, x25519: true }, undefined),
  );
  assert.deepEqual(out, msg);
}

async function storedPublicMatchesPrivate(b: TestBroker): Promise<Uint8Array> {
  const kv = b.backend.kv;
  assert.equal(await kv.latestVersion("app/seal"), 1);
  assert.equal(await kv.latestVersion("app/seal-pub"), 1);
  const priv = (await kv.read("app/seal"))!;
  const pub = (await kv.read("app/seal-pub"))!;
  try {
    assert.deepEqual(x25519PublicKey(priv.value.expose()), pub.value.expose());
    return pub.value.expose().slice();
  } finally {
    priv.value.wipe();
    pub.value.wipe();
  }
}

Deno.test("NewKey: concurrent calls on one sealing key make exactly one matching pair", async () => {
  await withBroker(async (b) => {
    withKv(b, yieldingKv(b.backend.kv));
    const calls = Array.from(
      { length: 8 },
      () => run(b, (c) => newKey(b.deps, c, "app.seal", undefined)),
    );
    const results = await Promise.all(calls);
    const pub = await storedPublicMatchesPrivate(b);
    for (const r of results) assert.deepEqual(r.publicKey, pub, "every caller gets the one key");
    await roundTrip(b);
  });
});

Deno.test("NewKey: a failed public-half write leaves a key the next NewKey completes", async () => {
  await withBroker(async (b) => {
    withKv(b, yieldingKv(b.backend.kv, 1));
    await assert.rejects(run(b, (c) => newKey(b.deps, c, "app.seal", undefined)), /disk full/);
    assert.equal(await b.backend.kv.latestVersion("app/seal"), 1);
    assert.equal(await b.backend.kv.latestVersion("app/seal-pub"), undefined);
    const done = await run(b, (c) => newKey(b.deps, c, "app.seal", undefined));
    assert.deepEqual(done.publicKey, await storedPublicMatchesPrivate(b));
    await roundTrip(b);
    const again = await run(b, (c) => newKey(b.deps, c, "app.seal", undefined));
    assert.deepEqual(again.publicKey, done.publicKey);
    assert.equal(await b.backend.kv.latestVersion("app/seal"), 1, "no new version");
  });
});

Deno.test("NewKey on an existing key: OK with the latest public key, no new version (upstream 0.7.1)", async () => {
  await withBroker(async (b) => {
    const first = await run(b, (c) => newKey(b.deps, c, "app.sig", undefined));
    const again = await run(b, (c) => newKey(b.deps, c, "app.sig", undefined));
    assert.deepEqual(again, first);
    assert.equal((await b.backend.transit.info("app/sig"))?.latest, 1);
    const v2 = await run(b, (c) => rotateSecret(b.deps, c, "app.sig"));
    const latest = await run(b, (c) => newKey(b.deps, c, "app.sig", undefined));
    assert.deepEqual(latest.publicKey, await b.backend.transit.publicKey("app/sig", "ed25519", v2));
    assert.notDeepEqual(latest.publicKey, first.publicKey);
    assert.equal((await b.backend.transit.info("app/sig"))?.latest, 2, "still no version added");
    // A requested type that is not the catalog's is still refused.
    await rejectsWith(
      run(b, (c) => newKey(b.deps, c, "app.sig", "ecdsa-p256")),
      "INVALID_REQUEST",
      /key_type/,
    );
    assert.deepEqual(
      b.sink.records.map((r) => r.outcome),
      ["allow", "allow", "allow", "allow", "invalid_request"],
    );
  });
});

Deno.test("NewKey and rotate of a transit key are serialized and stay consistent", async () => {
  await withBroker(async (b) => {
    await run(b, (c) => newKey(b.deps, c, "app.sig", undefined));
    const versions = await Promise.all(
      Array.from({ length: 4 }, () => run(b, (c) => rotateSecret(b.deps, c, "app.sig"))),
    );
    assert.deepEqual([...versions].sort(), [2, 3, 4, 5]);
  });
});

Deno.test("Verify: a key with no stored material is false, on the kv and the transit path alike", async () => {
  await withBroker(async (b) => {
    const sig = new Uint8Array(64);
    assert.equal(await run(b, (c) => verify(b.deps, c, "app.sig", utf8("m"), sig)), false);
    assert.equal(await run(b, (c) => verify(b.deps, c, "app.kvsig", utf8("m"), sig)), false);
  });
});

Deno.test("Verify: a version missing inside the grace window is false, other errors are not hidden", async () => {
  await withBroker(async (b) => {
    await run(b, (c) => newKey(b.deps, c, "app.sig", undefined));
    await run(b, (c) => rotateSecret(b.deps, c, "app.sig"));
    const good = await run(b, (c) => sign(b.deps, c, "app.sig", utf8("m")));
    let failure: BasilError = new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE);
    const transit: TransitEngine = {
      ...b.backend.transit,
      verify: (path, kt, message, signature, version) =>
        version === 1
          ? Promise.reject(failure)
          : b.backend.transit.verify(path, kt, message, signature, version),
    };
    b.useBackend({ ...b.backend, transit });
    assert.equal(await run(b, (c) => verify(b.deps, c, "app.sig", utf8("m"), good)), true);
    assert.equal(await run(b, (c) => verify(b.deps, c, "app.sig", utf8("other"), good)), false);
    failure = new BasilError("BACKEND_UNAVAILABLE");
    await rejectsWith(
      run(b, (c) => verify(b.deps, c, "app.sig", utf8("other"), good)),
      "BACKEND_UNAVAILABLE",
    );
  });
});
