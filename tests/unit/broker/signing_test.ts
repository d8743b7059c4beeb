/**
 * NewKey on a sealing key is serialized per key and recovers from a
 * half-made key; Verify answers false (never an error) for a missing key or
 * a version missing inside the grace window.
 */

import assert from "node:assert/strict";
import type { Backend, KvStore, TransitEngine } from "../../../lib/backends/backend.ts";
import { unwrapEnvelope, wrapEnvelope } from "../../../lib/broker/aead.ts";
import { rotateSecret } from "../../../lib/broker/secrets.ts";
import { newKey, sign, verify } from "../../../lib/broker/signing.ts";
import { utf8 } from "../../../lib/core/encoding.ts";
import { BasilError, KEY_NOT_FOUND_MESSAGE } from "../../../lib/core/errors.ts";
import { x25519PublicKey } from "../../../lib/crypto/x25519_seal.ts";
import { PEER, rejectsWith, withBroker } from "./helpers.ts";
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
  const box = await wrapEnvelope(b.deps, PEER, "app.seal", msg, undefined);
  const out = await unwrapEnvelope(b.deps, PEER, "app.seal", { ...box, x25519: true }, undefined);
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
    const calls = Array.from({ length: 8 }, () => newKey(b.deps, PEER, "app.seal", undefined));
    const results = await Promise.allSettled(calls);
    const ok = results.filter((r) => r.status === "fulfilled");
    assert.equal(ok.length, 1, "one NewKey wins");
    for (const r of results) {
      if (r.status === "rejected") {
        assert.ok(r.reason instanceof BasilError);
        assert.equal(r.reason.code, "INVALID_REQUEST");
        assert.match(r.reason.message, /already exists/);
      }
    }
    const pub = await storedPublicMatchesPrivate(b);
    assert.deepEqual(
      (ok[0] as PromiseFulfilledResult<{ publicKey: Uint8Array }>).value.publicKey,
      pub,
    );
    await roundTrip(b);
  });
});

Deno.test("NewKey: a failed public-half write leaves a key the next NewKey completes", async () => {
  await withBroker(async (b) => {
    withKv(b, yieldingKv(b.backend.kv, 1));
    await assert.rejects(newKey(b.deps, PEER, "app.seal", undefined), /disk full/);
    assert.equal(await b.backend.kv.latestVersion("app/seal"), 1);
    assert.equal(await b.backend.kv.latestVersion("app/seal-pub"), undefined);
    const done = await newKey(b.deps, PEER, "app.seal", undefined);
    assert.deepEqual(done.publicKey, await storedPublicMatchesPrivate(b));
    await roundTrip(b);
    await rejectsWith(newKey(b.deps, PEER, "app.seal", undefined), "INVALID_REQUEST", /exists/);
  });
});

Deno.test("NewKey and rotate of a transit key are serialized and stay consistent", async () => {
  await withBroker(async (b) => {
    await newKey(b.deps, PEER, "app.sig", undefined);
    const versions = await Promise.all(
      Array.from({ length: 4 }, () => rotateSecret(b.deps, PEER, "app.sig")),
    );
    assert.deepEqual([...versions].sort(), [2, 3, 4, 5]);
  });
});

Deno.test("Verify: a key with no stored material is false, on the kv and the transit path alike", async () => {
  await withBroker(async (b) => {
    const sig = new Uint8Array(64);
    assert.equal(await verify(b.deps, PEER, "app.sig", utf8("m"), sig), false);
    assert.equal(await verify(b.deps, PEER, "app.kvsig", utf8("m"), sig), false);
  });
});

Deno.test("Verify: a version missing inside the grace window is false, other errors are not hidden", async () => {
  await withBroker(async (b) => {
    await newKey(b.deps, PEER, "app.sig", undefined);
    await rotateSecret(b.deps, PEER, "app.sig");
    const good = await sign(b.deps, PEER, "app.sig", utf8("m"));
    let failure: BasilError = new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE);
    const transit: TransitEngine = {
      ...b.backend.transit,
      verify: (path, kt, message, signature, version) =>
        version === 1
          ? Promise.reject(failure)
          : b.backend.transit.verify(path, kt, message, signature, version),
    };
    b.useBackend({ ...b.backend, transit });
    assert.equal(await verify(b.deps, PEER, "app.sig", utf8("m"), good), true);
    assert.equal(await verify(b.deps, PEER, "app.sig", utf8("other"), good), false);
    failure = new BasilError("BACKEND_UNAVAILABLE");
    await rejectsWith(verify(b.deps, PEER, "app.sig", utf8("other"), good), "BACKEND_UNAVAILABLE");
  });
});
