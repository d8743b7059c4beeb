/**
 * `import --check` / `import-set --check`, local half: the material's key
 * type must be the expected one (--key-type, the catalog keyType, or an
 * import-set entry's key_type), with an error naming that field. And
 * `import-set` wipes every key-material buffer it read, on every path.
 */

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import {
  checkMaterialType,
  runImportSet,
  wipeMaterial,
} from "../../../lib/cli/commands/key_import.ts";
import type { ImportSetEntry, Material } from "../../../lib/cli/commands/key_import.ts";
import { CliError } from "../../../lib/cli/io.ts";
import { create } from "@bufbuild/protobuf";
import { ImportSetResponseSchema } from "../../../lib/wire/basil/broker/v1/broker_pb.ts";
import { testContext } from "./helpers.ts";

function seed(): Material {
  return { material: { case: "ed25519Seed", value: crypto.getRandomValues(new Uint8Array(32)) } };
}

function pkcs8(kind: "p256" | "p384" | "ed25519" | "rsa"): Material {
  const { privateKey } = kind === "ed25519"
    ? generateKeyPairSync("ed25519")
    : kind === "rsa"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : generateKeyPairSync("ec", { namedCurve: kind === "p256" ? "P-256" : "P-384" });
  const der = new Uint8Array(privateKey.export({ format: "der", type: "pkcs8" }));
  return { material: { case: "pkcs8Der", value: der } };
}

function rejects(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CliError, String(e));
    assert.match(e.message, re);
    return true;
  });
}

Deno.test("matching material passes and yields its public key", () => {
  for (
    const [m, kt] of [
      [seed(), "ed25519"],
      [seed(), "ed25519-nkey"],
      [pkcs8("ed25519"), "ed25519"],
      [pkcs8("p256"), "ecdsa-p256"],
      [pkcs8("p384"), "ecdsa-p384"],
    ] as const
  ) {
    const r = checkMaterialType(m, { keyType: kt, field: "--key-type" });
    assert.equal(r.keyType, kt);
    assert.ok(r.spki.length > 32);
  }
});

Deno.test("an Ed25519 seed for an ECDSA key names the field", () => {
  rejects(
    () => checkMaterialType(seed(), { keyType: "ecdsa-p256", field: "--key-type" }),
    /^check failed: the key material is an Ed25519 seed, but --key-type is ecdsa-p256$/,
  );
});

Deno.test("a PKCS#8 key of another type or curve names the catalog keyType", () => {
  rejects(
    () =>
      checkMaterialType(pkcs8("p256"), {
        keyType: "ed25519",
        field: "the catalog keyType of sig.x",
      }),
    /the key material is an ECDSA P-256 key, but the catalog keyType of sig\.x is ed25519/,
  );
  rejects(
    () => checkMaterialType(pkcs8("p256"), { keyType: "ecdsa-p384", field: "--key-type" }),
    /an ECDSA P-256 key, but --key-type is ecdsa-p384/,
  );
  rejects(
    () => checkMaterialType(pkcs8("ed25519"), { keyType: "rsa-2048", field: "entry 1 key_type" }),
    /an Ed25519 key, but entry 1 key_type is rsa-2048/,
  );
});

Deno.test("non-signing expected types and garbage material are refused", () => {
  rejects(
    () => checkMaterialType(seed(), { keyType: "aes-256-gcm", field: "the catalog keyType of k" }),
    /the catalog keyType of k is aes-256-gcm, which is not a signing key type/,
  );
  rejects(
    () =>
      checkMaterialType(
        { material: { case: "pkcs8Der", value: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]) } },
        { keyType: "ecdsa-p256", field: "--key-type" },
      ),
    /not a valid PKCS#8 private key/,
  );
});

// --- import-set wiping -------------------------------------------------------

async function withSetFile(entries: unknown, fn: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "basil-importset-" });
  try {
    Deno.writeTextFileSync(`${dir}/set.json`, JSON.stringify(entries), { mode: 0o600 });
    await fn(`${dir}/set.json`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** A material reader that hands out fresh seeds and remembers every buffer. */
function recordingReader() {
  const handed: Uint8Array[] = [];
  return {
    handed,
    read: () => {
      const m = seed();
      handed.push(m.material!.value as Uint8Array);
      return m;
    },
  };
}

const allZero = (bs: Uint8Array[]) => bs.every((b) => b.every((x) => x === 0));

Deno.test("import-set: a bad later entry wipes the material already read", async () => {
  await withSetFile(
    [
      { key_id: "sig.a", seed_file: "/unused" },
      { key_id: "sig.b", seed_file: "/unused" },
      { key_id: "sig.c", key_type: "aes-256-gcm", seed_file: "/unused" },
    ],
    async (file) => {
      const rec = recordingReader();
      await assert.rejects(
        () => runImportSet(testContext(), file, false, { readMaterial: rec.read }),
        /not a signing key type/,
      );
      assert.equal(rec.handed.length, 2, "the bad entry is refused before its material is read");
      assert.ok(allZero(rec.handed), "entries 0 and 1 wiped");
    },
  );
});

Deno.test("import-set: a failing local check and a failing agent call both wipe", async () => {
  await withSetFile(
    [
      { key_id: "sig.a", seed_file: "/unused" },
      { key_id: "sig.b", key_type: "ecdsa-p256", seed_file: "/unused" },
    ],
    async (file) => {
      const rec = recordingReader();
      await assert.rejects(
        () => runImportSet(testContext(), file, true, { readMaterial: rec.read }),
        /Ed25519 seed, but entry 1 key_type is ecdsa-p256/,
      );
      assert.equal(rec.handed.length, 2);
      assert.ok(allZero(rec.handed));
    },
  );
  await withSetFile([{ key_id: "sig.a", seed_file: "/unused" }], async (file) => {
    const rec = recordingReader();
    let sent: readonly ImportSetEntry[] = [];
    await assert.rejects(
      () =>
        runImportSet(testContext(), file, false, {
          readMaterial: rec.read,
          send: (entries) => {
            sent = entries;
            assert.ok(!allZero(rec.handed), "material is intact while it is sent");
            return Promise.reject(new CliError("agent status [Unavailable]: down"));
          },
        }),
      /Unavailable/,
    );
    assert.equal(sent.length, 1);
    assert.ok(allZero(rec.handed));
  });
});

Deno.test("import-set: success wipes too, and --check runs per key", async () => {
  await withSetFile(
    [{ key_id: "sig.a", seed_file: "/unused" }, { key_id: "sig.b", seed_file: "/unused" }],
    async (file) => {
      const rec = recordingReader();
      const checked: string[] = [];
      const ctx = testContext();
      await runImportSet(ctx, file, true, {
        readMaterial: rec.read,
        send: (entries) =>
          Promise.resolve(create(ImportSetResponseSchema, {
            keys: entries.map((e) => ({ keyId: e.keyId, publicKey: new Uint8Array([1, 2]) })),
          })),
        check: (keyId) => {
          checked.push(keyId);
          return Promise.resolve();
        },
      });
      assert.deepEqual(checked, ["sig.a", "sig.b"]);
      assert.equal(ctx.stdout().match(/check: ok/g)?.length, 2);
      assert.ok(allZero(rec.handed));
    },
  );
});

Deno.test("import-set writes no file", async () => {
  await withSetFile([{ key_id: "sig.a", seed_file: "/unused" }], async (file) => {
    const dir = file.slice(0, file.lastIndexOf("/"));
    const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    const rec = recordingReader();
    await assert.rejects(() =>
      runImportSet(testContext(), file, false, {
        readMaterial: rec.read,
        send: () => Promise.reject(new CliError("down")),
      })
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), before);
  });
});

Deno.test("wipeMaterial zeroes seed and PKCS#8 buffers", () => {
  for (const m of [seed(), pkcs8("p256")]) {
    wipeMaterial(m);
    assert.ok((m.material!.value as Uint8Array).every((x) => x === 0));
  }
});
