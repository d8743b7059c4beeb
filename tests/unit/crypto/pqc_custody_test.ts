/**
 * The broker's software-custody rules for post-quantum keys (lib/broker/pqc.ts):
 * only a keystore backend holds them (any other kind answers
 * UNSUPPORTED_ALGORITHM after the grants), seeds are versioned, and the
 * verify grace window covers a rotated seed.
 */

import assert from "node:assert/strict";
import { openKeystoreBackend } from "../../../lib/backends/keystore/mod.ts";
import type { Backend } from "../../../lib/backends/backend.ts";
import { unwrapEnvelope, wrapEnvelope } from "../../../lib/broker/aead.ts";
import type { BrokerDeps } from "../../../lib/broker/deps.ts";
import { EventBus } from "../../../lib/broker/events.ts";
import { getPublicKey, newKey, sign, verify } from "../../../lib/broker/signing.ts";
import { GenerationHolder } from "../../../lib/broker/state.ts";
import { loadCatalog } from "../../../lib/catalog/load.ts";
import { utf8 } from "../../../lib/core/encoding.ts";
import { nullLogger } from "../../../lib/core/log.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { pqcSeed } from "../../../lib/crypto/pqc.ts";
import { loadPolicy } from "../../../lib/policy/load.ts";
import { MemorySink, PEER, rejectsWith, run } from "../broker/helpers.ts";

function catalogJson(db: string): unknown {
  const key = (backend: string, extra: Record<string, unknown>) => ({
    backend,
    writable: true,
    missing: "warn",
    description: "pq",
    ...extra,
  });
  const backend = {
    kind: "keystore",
    addr: db,
    engines: ["transit", "kv2"],
    mintKeyTypes: ["ml-dsa-44", "ml-dsa-87"],
  };
  return {
    schemaVersion: 1,
    backends: { db: backend, far: backend, op: backend },
    keys: {
      "pq.dsa44": key("db", { class: "asymmetric", keyType: "ml-dsa-44", path: "pq/dsa44" }),
      "pq.dsa87": key("db", {
        class: "asymmetric",
        keyType: "ml-dsa-87",
        path: "pq/dsa87",
        labels: ["pqc_storage_key=pq/seeds/dsa87"],
      }),
      "pq.dsa65": key("db", { class: "asymmetric", keyType: "ml-dsa-65", path: "pq/dsa65" }),
      "pq.kem512": key("db", {
        class: "sealing",
        keyType: "ml-kem-512",
        path: "pq/kem512",
        publicPath: "pq/kem512-pub",
      }),
      "far.dsa44": key("far", { class: "asymmetric", keyType: "ml-dsa-44", path: "far/dsa" }),
      "op.kem": key("op", {
        class: "sealing",
        keyType: "ml-kem-768",
        path: "op/kem",
        publicPath: "op/kem-pub",
      }),
      "far.kem": key("far", {
        class: "sealing",
        keyType: "ml-kem-1024",
        path: "far/kem",
        publicPath: "far/kem-pub",
      }),
    },
  };
}

const policyJson = {
  schemaVersion: 2,
  subjects: { app: { anyOf: [{ kind: "unix", uid: PEER.uid }] } },
  rules: [
    {
      id: "all",
      subjects: ["app"],
      action: ["*", "op:use_software_custody"],
      target: ["pq.*", "far.*", "op.*"],
    },
  ],
};

async function withPq(
  fn: (b: { deps: BrokerDeps; sink: MemorySink; store: Backend }) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "basil-pqc-" });
  const db = `${dir}/keystore.db`;
  const { catalog } = loadCatalog(JSON.stringify(catalogJson(db)), `${dir}/catalog.json`);
  const policy = loadPolicy(JSON.stringify(policyJson), `${dir}/policy.json`, {});
  const dek = SecretBytes.copyOf(crypto.getRandomValues(new Uint8Array(32)));
  const backend = openKeystoreBackend({ name: "db", dbPath: db, dek });
  dek.wipe();
  // The same store presented as a vault backend: it must refuse PQC keys.
  const far = Object.create(backend, { kind: { value: "vault" }, name: { value: "far" } });
  // ... and as 1Password does: kind keystore, KV only.
  const op = Object.create(backend, { transit: { value: undefined }, name: { value: "op" } });
  const sink = new MemorySink();
  const deps: BrokerDeps = {
    state: new GenerationHolder({ id: 1, catalog, policy }),
    backends: new Map<string, Backend>([["db", backend], ["far", far], ["op", op]]),
    audit: sink,
    events: new EventBus(),
    logger: nullLogger,
    limits: { maxPayloadSize: 65536, maxEncryptSize: 65536, graceVersions: 1 },
    hostUserName: () => undefined,
    now: () => new Date(),
  };
  try {
    await fn({ deps, sink, store: backend });
  } finally {
    backend.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const msg = utf8("m");

Deno.test("pqc custody: a non-keystore backend refuses ML-DSA and ML-KEM as UNSUPPORTED_ALGORITHM", async () => {
  await withPq(async (b) => {
    for (const id of ["far.dsa44", "far.kem", "op.kem"]) {
      await rejectsWith(
        run(b, (c) => newKey(b.deps, c, id, undefined)),
        "UNSUPPORTED_ALGORITHM",
        /cannot hold/,
      );
    }
    await rejectsWith(
      run(b, (c) => sign(b.deps, c, "far.dsa44", msg)),
      "UNSUPPORTED_ALGORITHM",
      /cannot hold/,
    );
    await rejectsWith(
      run(b, (c) => wrapEnvelope(b.deps, c, "far.kem", msg, undefined)),
      "UNSUPPORTED_ALGORITHM",
      /cannot hold/,
    );
  });
});

Deno.test("pqc custody: mintKeyTypes is enforced; pqc_storage_key places the seed", async () => {
  await withPq(async (b) => {
    await rejectsWith(
      run(b, (c) => newKey(b.deps, c, "pq.dsa65", undefined)),
      "UNSUPPORTED",
      /does not mint/,
    );
    const k = await run(b, (c) => newKey(b.deps, c, "pq.dsa87", undefined));
    assert.equal(k.publicKey.length, 2592);
    assert.equal(await b.store.kv!.latestVersion("pq/seeds/dsa87"), 1);
    assert.equal(await b.store.kv!.latestVersion("pq/dsa87"), undefined);
    const sig = await run(b, (c) => sign(b.deps, c, "pq.dsa87", msg));
    assert.equal(await run(b, (c) => verify(b.deps, c, "pq.dsa87", msg, sig)), true);
  });
});

Deno.test("pqc custody: a rotated ML-DSA seed keeps the previous version verifying inside the grace window", async () => {
  await withPq(async (b) => {
    const v1 = await run(b, (c) => newKey(b.deps, c, "pq.dsa44", undefined));
    const old = await run(b, (c) => sign(b.deps, c, "pq.dsa44", msg));
    const kv = b.store.kv!;
    for (const n of [2, 3]) {
      using s = pqcSeed("ml-dsa-44");
      assert.equal(await kv.write("pq/dsa44", s.expose()), n);
      const gp = await run(b, (c) => getPublicKey(b.deps, c, "pq.dsa44", undefined));
      assert.equal(gp.version, n);
      assert.notDeepEqual(gp.publicKey, v1.publicKey);
      // grace 1: v1 verifies while latest is 2, not once latest is 3.
      assert.equal(await run(b, (c) => verify(b.deps, c, "pq.dsa44", msg, old)), n === 2);
    }
    const gp1 = await run(b, (c) => getPublicKey(b.deps, c, "pq.dsa44", 1));
    assert.deepEqual(gp1.publicKey, v1.publicKey);
  });
});

Deno.test("pqc custody: ML-KEM-512 wrap/unwrap, audited with a use_software_custody record each", async () => {
  await withPq(async (b) => {
    const k = await run(b, (c) => newKey(b.deps, c, "pq.kem512", undefined));
    assert.equal(k.publicKey.length, 800);
    const box = await run(
      b,
      (c) => wrapEnvelope(b.deps, c, "pq.kem512", msg, undefined, "ml-kem-512"),
    );
    assert.equal(box.kem, "ml-kem-512");
    const out = await run(
      b,
      (c) => unwrapEnvelope(b.deps, c, "pq.kem512", { ...box, x25519: false }, undefined),
    );
    assert.deepEqual(out, msg);
    await rejectsWith(
      run(
        b,
        (c) =>
          unwrapEnvelope(
            b.deps,
            c,
            "pq.kem512",
            { ...box, kem: undefined, x25519: true },
            undefined,
          ),
      ),
      "DECRYPT_FAILED",
      /^decrypt failed$/,
    );
    const custody = b.sink.records.filter((r) => r.op === "use_software_custody");
    assert.equal(custody.length, 4);
  });
});
