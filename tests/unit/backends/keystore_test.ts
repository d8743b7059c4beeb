import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openKeystoreBackend } from "../../../lib/backends/keystore/mod.ts";
import type { KeystoreBackend } from "../../../lib/backends/keystore/mod.ts";
import type { CatalogKey } from "../../../lib/catalog/schema.ts";
import { BasilError, InputError } from "../../../lib/core/errors.ts";
import { fromUtf8, toBase64, toHex, utf8 } from "../../../lib/core/encoding.ts";
import type { LogLevel } from "../../../lib/core/log.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import type { Engine, KeyClass } from "../../../lib/core/ops.ts";
import { type KeystoreFixture, withKeystore as withTempKeystore } from "./helpers.ts";

function withKeystore(fn: (f: KeystoreFixture) => Promise<void> | void): Promise<void> {
  return withTempKeystore("basil-keystore-", fn);
}

async function readText(b: KeystoreBackend, path: string, version?: number): Promise<string> {
  const v = await b.kv.read(path, version);
  assert.ok(v, `expected ${path} v${version ?? "latest"}`);
  try {
    return fromUtf8(v.value.expose());
  } finally {
    v.value.wipe();
  }
}

async function assertAuthFails(p: Promise<unknown>, detail: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BasilError);
    assert.equal(e.code, "INTERNAL");
    assert.equal(e.message, "internal error");
    assert.equal(e.detail, `keystore row failed authentication: ${detail}`);
    return true;
  });
}

function catalogKey(
  cls: KeyClass,
  engine: Engine,
  path: string,
  publicPath?: string,
): CatalogKey {
  return {
    name: "test.key",
    class: cls,
    keyType: undefined,
    backend: "ks",
    engine,
    path,
    publicPath,
    writable: true,
    missing: "error",
    generate: undefined,
    sealingPin: undefined,
    labels: [],
    labelMap: new Map(),
    description: "test",
  };
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function modeOf(path: string): number {
  return (Deno.statSync(path).mode ?? 0) & 0o777;
}

Deno.test("keystore: value round trip and backend identity", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    assert.equal(b.name, "ks");
    assert.equal(b.kind, "keystore");
    assert.equal(b.statusName, "keystore");
    assert.equal(await b.kv.write("secret/data/app/db", utf8("hunter2")), 1);
    assert.equal(await readText(b, "secret/data/app/db"), "hunter2");
    assert.equal(await b.kv.write("secret/data/empty", new Uint8Array(0)), 1);
    const empty = await b.kv.read("secret/data/empty");
    assert.equal(empty?.value.length, 0);
  });
});

Deno.test("keystore: versions 1, 2, 3 are kept and readable, also after reopen", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    for (const v of [1, 2, 3]) assert.equal(await b.kv.write("p", utf8(`value-${v}`)), v);
    assert.equal(await b.kv.latestVersion("p"), 3);
    for (const v of [1, 2, 3]) assert.equal(await readText(b, "p", v), `value-${v}`);
    const latest = await b.kv.read("p");
    assert.equal(latest?.version, 3);
    latest?.value.wipe();
    b.close();
    const again = f.open();
    assert.equal(await readText(again, "p", 2), "value-2");
    assert.equal(await again.kv.write("p", utf8("value-4")), 4);
  });
});

Deno.test("keystore: absent paths and versions read as undefined", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    assert.equal(await b.kv.read("nope"), undefined);
    assert.equal(await b.kv.latestVersion("nope"), undefined);
    await b.kv.write("p", utf8("x"));
    for (const v of [0, -1, 2, 1.5, 99]) assert.equal(await b.kv.read("p", v), undefined);
    // Key versions are a separate namespace from kv values.
    b.store.append("key", "transit-key", utf8("seed"));
    assert.equal(await b.kv.read("transit-key"), undefined);
  });
});

Deno.test("keystore: exists follows the key's engine and publicPath", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    const value = catalogKey("value", "kv2", "secret/data/v");
    const pub = catalogKey("public", "kv2", "secret/data/pub");
    const transit = catalogKey("symmetric", "transit", "sym");
    const sealing = catalogKey("sealing", "kv2", "secret/data/seal", "secret/data/seal-pub");
    for (const k of [value, pub, transit, sealing]) assert.equal(await b.exists(k), false);

    await b.kv.write("secret/data/v", utf8("v"));
    await b.kv.write("secret/data/pub", utf8("p"));
    await b.kv.write("sym", utf8("a kv value, not a key"));
    assert.equal(await b.exists(value), true);
    assert.equal(await b.exists(pub), true);
    assert.equal(await b.exists(transit), false);
    b.store.append("key", "sym", crypto.getRandomValues(new Uint8Array(32)), {
      keyType: "aes-256-gcm",
    });
    assert.equal(await b.exists(transit), true);

    await b.kv.write("secret/data/seal", utf8("private"));
    assert.equal(await b.exists(sealing), false, "public half still missing");
    await b.kv.write("secret/data/seal-pub", utf8("public"));
    assert.equal(await b.exists(sealing), true);

    // pki CAs are `key` entries (keystore_pki_test.ts covers a real CA).
    assert.equal(await b.exists(catalogKey("asymmetric", "pki", "pki/issue/role")), false);
  });
});

Deno.test("keystore: key entries keep key type and public key", async () => {
  await withKeystore((f) => {
    const b = f.open();
    const publicKey = crypto.getRandomValues(new Uint8Array(32));
    assert.equal(b.store.append("key", "k", utf8("seed-1"), { keyType: "ed25519", publicKey }), 1);
    assert.equal(b.store.append("key", "k", utf8("seed-2"), { keyType: "ed25519" }), 2);
    const v1 = b.store.read("key", "k", 1);
    assert.ok(v1);
    assert.equal(fromUtf8(v1.secret.expose()), "seed-1");
    assert.equal(v1.keyType, "ed25519");
    assert.deepEqual(v1.publicKey, publicKey);
    assert.ok(Math.abs(v1.createdUnix - Date.now() / 1000) < 60);
    const v2 = b.store.read("key", "k");
    assert.equal(v2?.version, 2);
    assert.equal(v2?.publicKey, undefined);
    assert.equal(b.store.latestVersion("key", "k"), 2);
  });
});

Deno.test("keystore: peekLatest reads latest version, key type and oldest version per kind", async () => {
  await withKeystore((f) => {
    const b = f.open();
    assert.equal(b.store.peekLatest("key", "k"), undefined);
    for (let i = 0; i < 3; i++) b.store.append("value", "k", utf8(`v-${i}`));
    for (let i = 0; i < 3; i++) b.store.append("key", "k", utf8(`s-${i}`), { keyType: "ed25519" });
    b.store.prune("key", "k", 3);
    assert.deepEqual(b.store.peekLatest("key", "k"), {
      version: 3,
      keyType: "ed25519",
      minVersion: 3,
    });
    assert.deepEqual(b.store.peekLatest("value", "k"), {
      version: 3,
      keyType: null,
      minVersion: 1,
    });
    assert.equal(b.store.peekLatest("key", "other"), undefined);
  });
});

Deno.test("keystore: readPublic authenticates a row once and prune evicts it", async () => {
  await withKeystore((f) => {
    const b = f.open();
    const publicKey = crypto.getRandomValues(new Uint8Array(32));
    for (let i = 0; i < 3; i++) {
      b.store.append("key", "k", utf8(`seed-${i}`), { keyType: "ed25519", publicKey });
    }
    let opens = 0;
    const read = b.store.read.bind(b.store);
    b.store.read = (...args) => (opens++, read(...args));
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(b.store.readPublic("key", "k", 1)?.publicKey, publicKey);
    }
    assert.equal(opens, 1, "one decrypt for five reads of the public part");
    assert.equal(b.store.readPublic("key", "k", 9), undefined);
    b.store.prune("key", "k", 2);
    assert.equal(b.store.readPublic("key", "k", 1), undefined, "pruned: no longer served");
    assert.equal(b.store.readPublic("value", "k", 2), undefined, "kinds are separate");
    assert.equal(b.store.readPublic("key", "k", 2)?.keyType, "ed25519");
  });
});

Deno.test("keystore: db, wal and shm are 0600, and a wider mode is tightened", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    await b.kv.write("p", utf8("x"));
    for (const suffix of ["", "-wal", "-shm"]) {
      assert.equal(modeOf(f.dbPath + suffix), 0o600, `mode of keystore.db${suffix}`);
    }
    b.close();

    Deno.chmodSync(f.dbPath, 0o644);
    const lines: [LogLevel, string][] = [];
    const b2 = f.open(undefined, { log: (level, msg) => lines.push([level, msg]) });
    await b2.kv.write("p", utf8("y"));
    for (const suffix of ["", "-wal", "-shm"]) {
      assert.equal(modeOf(f.dbPath + suffix), 0o600, `mode of keystore.db${suffix}`);
    }
    assert.deepEqual(lines, [["warn", "keystore file mode tightened"]]);
  });
});

Deno.test("keystore: no secret value or DEK bytes in the db, wal or shm files", async () => {
  await withKeystore(async (f) => {
    const canary = utf8(`CANARY-${toHex(crypto.getRandomValues(new Uint8Array(16)))}-SECRET`);
    const needles = [
      canary,
      f.dek,
      utf8(toHex(f.dek)),
      utf8(toBase64(f.dek)),
    ];
    const scan = (when: string): void => {
      for (const suffix of ["", "-wal", "-shm"]) {
        let raw: Uint8Array;
        try {
          raw = Deno.readFileSync(f.dbPath + suffix);
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) continue;
          throw e;
        }
        for (const [i, n] of needles.entries()) {
          assert.ok(!contains(raw, n), `needle ${i} found in keystore.db${suffix} (${when})`);
        }
      }
    };
    const b = f.open();
    for (let i = 0; i < 3; i++) await b.kv.write("secret/data/canary", canary);
    b.store.append("key", "canary-key", canary, { keyType: "aes-256-gcm" });
    scan("open");
    b.close();
    scan("closed");
    // The sealed value is still there.
    assert.equal(await readText(f.open(), "secret/data/canary"), fromUtf8(canary));
  });
});

Deno.test("keystore: swapping sealed blobs between rows fails to open", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    await b.kv.write("a", utf8("value-a"));
    await b.kv.write("b", utf8("value-b"));
    await b.kv.write("a", utf8("value-a2"));
    const db = f.rawDb();
    const blob = (path: string, version: number): Uint8Array =>
      db.prepare("SELECT sealed FROM entries WHERE path = ? AND version = ?").get(path, version)
        ?.sealed as Uint8Array;
    const set = db.prepare("UPDATE entries SET sealed = ? WHERE path = ? AND version = ?");
    const [a1, b1, a2] = [blob("a", 1), blob("b", 1), blob("a", 2)];
    set.run(b1, "a", 1);
    set.run(a1, "b", 1);
    await assertAuthFails(b.kv.read("a", 1), "a v1");
    await assertAuthFails(b.kv.read("b"), "b v1");
    // Across versions of one path too.
    set.run(a1, "a", 2);
    set.run(a2, "a", 1);
    await assertAuthFails(b.kv.read("a"), "a v2");
    await assertAuthFails(b.kv.read("a", 1), "a v1");
    // Restoring the blobs restores the reads.
    set.run(a1, "a", 1);
    set.run(a2, "a", 2);
    set.run(b1, "b", 1);
    db.close();
    assert.equal(await readText(b, "a", 1), "value-a");
    assert.equal(await readText(b, "a"), "value-a2");
    assert.equal(await readText(b, "b"), "value-b");
  });
});

Deno.test("keystore: a flipped byte anywhere in a sealed blob fails to open", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    await b.kv.write("p", utf8("some value"));
    const db = f.rawDb();
    const orig = db.prepare("SELECT sealed FROM entries").get()?.sealed as Uint8Array;
    const set = db.prepare("UPDATE entries SET sealed = ?");
    for (const i of [0, 11, 12, 20, orig.length - 16, orig.length - 1]) {
      const bad = orig.slice();
      bad[i]! ^= 0x80;
      set.run(bad);
      await assertAuthFails(b.kv.read("p"), "p v1");
    }
    set.run(orig.subarray(0, 20));
    await assertAuthFails(b.kv.read("p"), "p v1");
    set.run(orig);
    db.close();
    assert.equal(await readText(b, "p"), "some value");
  });
});

Deno.test("keystore: editing a row's version, path, kind or public key fails to open", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    await b.kv.write("a", utf8("v1"));
    await b.kv.write("a", utf8("v2"));
    await b.kv.write("c", utf8("c1"));
    b.store.append("key", "k", utf8("seed"), { keyType: "ed25519", publicKey: utf8("PUB") });
    b.store.append("key", "k2", utf8("seed2"), { keyType: "ed25519" });
    const db = f.rawDb();
    db.exec("UPDATE entries SET version = 7 WHERE path = 'a' AND version = 2");
    await assertAuthFails(b.kv.read("a"), "a v7");
    await assertAuthFails(b.kv.read("a", 7), "a v7");
    db.exec("UPDATE entries SET path = 'moved' WHERE path = 'c'");
    await assertAuthFails(b.kv.read("moved"), "moved v1");
    db.exec("UPDATE entries SET kind = 'value' WHERE path = 'k2'");
    await assertAuthFails(b.kv.read("k2"), "k2 v1");
    db.exec("UPDATE entries SET public = X'505542FF' WHERE path = 'k'");
    assert.throws(() => b.store.read("key", "k"), (e: unknown) => {
      return e instanceof BasilError && e.code === "INTERNAL" &&
        e.detail === "keystore row failed authentication: k v1";
    });
    db.exec(
      "UPDATE entries SET public = CAST('PUB' AS BLOB), key_type = 'x25519' WHERE path = 'k'",
    );
    assert.throws(() => b.store.read("key", "k"), BasilError);
    db.exec("UPDATE entries SET key_type = 'ed25519' WHERE path = 'k'");
    db.close();
    assert.equal(fromUtf8(b.store.read("key", "k")!.secret.expose()), "seed");
  });
});

Deno.test("keystore: reopening with the wrong DEK fails with a clear startup error", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    await b.kv.write("p", utf8("x"));
    b.close();
    const wrong = crypto.getRandomValues(new Uint8Array(32));
    assert.throws(() => f.open(wrong), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.equal(e.token, "keystore_dek_mismatch");
      assert.ok(e.message.includes(f.dbPath), e.message);
      for (const d of [f.dek, wrong]) {
        assert.ok(!e.message.includes(toHex(d)));
        assert.ok(!e.message.includes(toBase64(d)));
      }
      return true;
    });
    // The right DEK still opens it.
    assert.equal(await readText(f.open(), "p"), "x");
  });
});

Deno.test("keystore: startup errors for a bad DEK length or a foreign file", async () => {
  await withKeystore((f) => {
    assert.throws(
      () => f.open(new Uint8Array(16)),
      (e: unknown) => e instanceof InputError && e.token === "keystore_dek_invalid",
    );
    const foreign = new DatabaseSync(f.dbPath);
    foreign.exec("CREATE TABLE other (x)");
    foreign.close();
    assert.throws(
      () => f.open(),
      (e: unknown) => e instanceof InputError && e.token === "keystore_schema_unsupported",
    );
    Deno.writeFileSync(f.dbPath, utf8("this is not a sqlite database, just some text".repeat(20)));
    assert.throws(
      () => f.open(),
      (e: unknown) => e instanceof InputError && e.token === "keystore_open_failed",
    );
  });
});

Deno.test("keystore: the DEK is copied; close is idempotent and later calls reject", async () => {
  await withKeystore(async (f) => {
    const dek = SecretBytes.copyOf(f.dek);
    const b = openKeystoreBackend({ name: "ks", dbPath: f.dbPath, dek });
    dek.wipe();
    await b.kv.write("p", utf8("still works"));
    assert.equal(await readText(b, "p"), "still works");
    b.close();
    b.close();
    const unavailable = (e: unknown): boolean =>
      e instanceof BasilError && e.code === "BACKEND_UNAVAILABLE";
    await assert.rejects(b.kv.read("p"), unavailable);
    await assert.rejects(b.kv.write("p", utf8("x")), unavailable);
    await assert.rejects(b.kv.latestVersion("p"), unavailable);
    await assert.rejects(b.exists(catalogKey("value", "kv2", "p")), unavailable);
  });
});

Deno.test("keystore: two connections to one file append distinct versions", async () => {
  await withKeystore(async (f) => {
    const one = f.open();
    const two = f.open();
    const versions: number[] = [];
    for (let i = 0; i < 5; i++) {
      versions.push(await one.kv.write("shared", utf8(`one-${i}`)));
      versions.push(await two.kv.write("shared", utf8(`two-${i}`)));
    }
    assert.deepEqual(versions, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(await readText(one, "shared", 10), "two-4");
    assert.equal(await readText(two, "shared", 9), "one-4");
  });
});
