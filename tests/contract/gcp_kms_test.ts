/**
 * The backend contract suite against the gcp-kms backend, over the official
 * `@google-cloud/kms` client, against the Cloud KMS double
 * (tests/fakes/gcp_kms). The suite's AEAD tests run as they are; its
 * signing tests rotate unpinned paths, which Cloud KMS signing keys cannot
 * (contract §10: an asymmetric path pins `…/cryptoKeyVersions/N`), so the
 * same assertions for pinned signing keys follow here, plus the CRC32C
 * integrity checks in both directions.
 */

import assert from "node:assert/strict";
import { GCP_SDK_ENV, gcpAccess } from "../../lib/backends/gcp_kms/access.ts";
import { readServiceAccount } from "../../lib/backends/gcp_kms/client.ts";
import { parseEndpoint } from "../../lib/backends/gcp_kms/endpoint.ts";
import { catalogKeyProblem, openGcpKmsBackend } from "../../lib/backends/gcp_kms/mod.ts";
import type { Backend } from "../../lib/backends/backend.ts";
import { BasilError, InputError, isKeyNotFound } from "../../lib/core/errors.ts";
import type { KeyType } from "../../lib/core/ops.ts";
import { nullLogger } from "../../lib/core/log.ts";
import { SecretBytes } from "../../lib/core/secret.ts";
import { verifyMessage } from "../../lib/crypto/signing.ts";
import { type GcpKmsDouble, startGcpKmsDouble } from "../fakes/gcp_kms/server.ts";
import { backendContract } from "./backend_contract.ts";

// Nothing may probe the GCE metadata server.
Deno.env.set("METADATA_SERVER_DETECTION", "none");

const RING = { project: "basil-test", location: "global", key_ring: "contract" };
const RING_NAME = `projects/${RING.project}/locations/${RING.location}/keyRings/${RING.key_ring}`;

async function open(): Promise<{ d: GcpKmsDouble; backend: Backend; close(): Promise<void> }> {
  const d = await startGcpKmsDouble([RING_NAME]);
  const backend = openGcpKmsBackend({
    name: "gcp",
    addr: d.addr,
    cred: { type: "GcpKms", ...RING },
    timeoutMs: 5_000,
    logger: nullLogger,
  });
  return {
    d,
    backend,
    close: async () => {
      backend.close();
      await d.close();
    },
  };
}

backendContract("gcp-kms (double)", {
  signing: [],
  aead: ["aes-256-gcm"],
  importTypes: [],
  prune: false,
}, open);

const uniq = (p: string) => `c${crypto.randomUUID().slice(0, 8)}-${p}`;
const msg = new TextEncoder().encode("contract message");
const code = (c: string) => (e: unknown) => e instanceof BasilError && e.code === c;

function gcpTest(name: string, fn: (s: Awaited<ReturnType<typeof open>>) => Promise<void>): void {
  Deno.test(`[gcp-kms (double)] ${name}`, async () => {
    const s = await open();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  });
}

for (const kt of ["ed25519", "ecdsa-p256", "ecdsa-p384"] as const) {
  gcpTest(`transit ${kt}: create pinned v1, sign, verify (locally too)`, async ({ backend }) => {
    const t = backend.transit!;
    const path = `${uniq(kt)}/cryptoKeyVersions/1`;
    assert.equal(await t.info(path), undefined);
    assert.equal(await backend.exists({ engine: "transit", path } as never), false);
    const created = await t.create(path, kt);
    assert.equal(created.version, 1);
    await assert.rejects(t.create(path, kt), code("INVALID_REQUEST"));
    assert.deepEqual(await t.publicKey(path, kt, 1), created.publicKey);
    assert.deepEqual(await t.info(path), { keyType: kt, latest: 1, minAvailable: 1 });
    const sig = await t.sign(path, kt, msg, 1);
    assert.equal(verifyMessage(kt, created.publicKey, msg, sig), true, "verifies locally");
    assert.equal(await t.verify(path, kt, msg, sig, 1), true);
    const bad = sig.slice();
    bad[bad.length - 1]! ^= 1;
    assert.equal(await t.verify(path, kt, msg, bad, 1), false);
    assert.equal(await t.verify(path, kt, new TextEncoder().encode("other"), sig, 1), false);
    await assert.rejects(t.sign(path, kt, msg, 2), (e) => isKeyNotFound(e));
    await assert.rejects(t.rotate(path, kt), code("UNSUPPORTED"));
    assert.ok(await backend.exists({ engine: "transit", path } as never));
  });
}

gcpTest("signing: a full resource name pins too; the catalog type must match", async (s) => {
  const t = s.backend.transit!;
  const id = uniq("full");
  const path = `${RING_NAME}/cryptoKeys/${id}/cryptoKeyVersions/1`;
  await t.create(path, "ecdsa-p256");
  assert.equal(
    (await t.sign(`cryptoKeys/${id}/cryptoKeyVersions/1`, "ecdsa-p256", msg, 1)).length,
    64,
  );
  await assert.rejects(t.sign(path, "ecdsa-p384", msg, 1), code("BACKEND_ERROR"));
  await assert.rejects(t.sign(`${id}`, "ecdsa-p256", msg, 1), code("BACKEND_ERROR"));
  await assert.rejects(t.info(id), code("BACKEND_ERROR"), "unpinned signing key");
});

gcpTest("the type map refuses what Cloud KMS is not asked to hold", async ({ backend }) => {
  const t = backend.transit!;
  for (const kt of ["ecdsa-p521", "rsa-2048", "ed25519-nkey", "chacha20-poly1305"] as KeyType[]) {
    await assert.rejects(
      t.create(`${uniq("x")}/cryptoKeyVersions/1`, kt),
      code("UNSUPPORTED_ALGORITHM"),
    );
  }
});

gcpTest("absent keys are absent, never by accident", async ({ backend }) => {
  const t = backend.transit!;
  const path = `${uniq("absent")}/cryptoKeyVersions/1`;
  await assert.rejects(t.sign(path, "ed25519", msg, 1), (e) => isKeyNotFound(e));
  await assert.rejects(t.publicKey(path, "ed25519", 1), (e) => isKeyNotFound(e));
  assert.equal(await t.info(uniq("absent-sym")), undefined);
});

gcpTest("a new version pending generation is waited for", async ({ d, backend }) => {
  d.faults.pendingReads = 2;
  const path = `${uniq("pending")}/cryptoKeyVersions/1`;
  const created = await backend.transit!.create(path, "ed25519");
  assert.equal(created.publicKey.length, 32);
  assert.equal(d.calls.filter((c) => c.startsWith("GetCryptoKeyVersion")).length, 3);
});

gcpTest("a disabled version is an error, not absent", async ({ d, backend }) => {
  const id = uniq("disabled");
  await backend.transit!.create(`${id}/cryptoKeyVersions/1`, "ed25519");
  d.setState(`${RING_NAME}/cryptoKeys/${id}/cryptoKeyVersions/1`, "DISABLED");
  await assert.rejects(backend.transit!.info(`${id}/cryptoKeyVersions/1`), code("BACKEND_ERROR"));
});

gcpTest("CRC32C: corrupted answers are BACKEND_ERROR, never a wrong answer", async (s) => {
  const t = s.backend.transit!;
  const sym = uniq("crc-sym");
  await t.create(sym, "aes-256-gcm");
  const env = await t.encrypt(sym, "aes-256-gcm", msg, msg, 1);
  const signer = `${uniq("crc-sig")}/cryptoKeyVersions/1`;
  await t.create(signer, "ecdsa-p256");
  for (const fault of ["badResponseCrc", "dropVerified", "wrongName"] as const) {
    s.d.faults[fault] = true;
    await assert.rejects(t.encrypt(sym, "aes-256-gcm", msg, msg, 1), code("BACKEND_ERROR"), fault);
    await assert.rejects(t.sign(signer, "ecdsa-p256", msg, 1), code("BACKEND_ERROR"), fault);
    if (fault === "badResponseCrc") {
      await assert.rejects(t.decrypt(sym, "aes-256-gcm", env, msg), code("BACKEND_ERROR"));
      const fresh = `${uniq("crc-pk")}/cryptoKeyVersions/1`;
      await assert.rejects(t.create(fresh, "ed25519"), code("BACKEND_ERROR"), "public key pem");
    }
    s.d.faults[fault] = false;
  }
  assert.deepEqual(await t.decrypt(sym, "aes-256-gcm", env, msg), msg);
});

gcpTest("CRC32C: every request carries its checksums", async (s) => {
  // The double refuses a checksum that does not match and confirms the
  // ones it got; the backend refuses an answer that confirms none, so a
  // successful round trip means each field was sent and matched.
  const t = s.backend.transit!;
  const sym = uniq("crc-req");
  await t.create(sym, "aes-256-gcm");
  const env = await t.encrypt(sym, "aes-256-gcm", msg, msg, 1);
  assert.deepEqual(await t.decrypt(sym, "aes-256-gcm", env, msg), msg);
  for (const kt of ["ed25519", "ecdsa-p384"] as const) {
    const p = `${uniq(kt)}/cryptoKeyVersions/1`;
    await t.create(p, kt);
    await t.sign(p, kt, msg, 1);
  }
});

gcpTest("decrypt: nonce, version and AAD failures are DECRYPT_FAILED", async ({ backend }) => {
  const t = backend.transit!;
  const sym = uniq("dec");
  await t.create(sym, "aes-256-gcm");
  const env = await t.encrypt(sym, "aes-256-gcm", msg, undefined, 1);
  assert.equal(env.nonce.length, 0);
  await assert.rejects(
    t.decrypt(sym, "aes-256-gcm", { ...env, nonce: new Uint8Array(12) }, undefined),
    code("DECRYPT_FAILED"),
  );
  await assert.rejects(
    t.decrypt(sym, "aes-256-gcm", { ...env, version: 0 }, undefined),
    code("DECRYPT_FAILED"),
  );
  await assert.rejects(t.decrypt(sym, "aes-256-gcm", env, msg), code("DECRYPT_FAILED"));
  await assert.rejects(
    t.decrypt(uniq("nokey"), "aes-256-gcm", env, undefined),
    code("DECRYPT_FAILED"),
  );
  await assert.rejects(
    t.encrypt(sym, "aes-256-gcm", new Uint8Array(65_537), undefined, 1),
    code("PAYLOAD_TOO_LARGE"),
  );
});

gcpTest("the official client sends each resource name as routing metadata", async (s) => {
  const id = uniq("route");
  await s.backend.transit!.create(`${id}/cryptoKeyVersions/1`, "ed25519");
  await s.backend.transit!.sign(`${id}/cryptoKeyVersions/1`, "ed25519", msg, 1);
  const i = s.d.calls.findIndex((c) => c.startsWith("AsymmetricSign"));
  assert.equal(
    decodeURIComponent(s.d.routing[i]!),
    `name=${RING_NAME}/cryptoKeys/${id}/cryptoKeyVersions/1`,
  );
});

Deno.test("[gcp-kms] an unreachable endpoint is BACKEND_UNAVAILABLE", async () => {
  const d = await startGcpKmsDouble([RING_NAME]);
  const addr = d.addr;
  await d.close();
  const backend = openGcpKmsBackend({
    name: "gcp",
    addr,
    cred: { type: "GcpKms", ...RING },
    timeoutMs: 2_000,
    logger: nullLogger,
  });
  try {
    await assert.rejects(
      backend.transit!.info(`${uniq("x")}/cryptoKeyVersions/1`),
      code("BACKEND_UNAVAILABLE"),
    );
  } finally {
    backend.close();
  }
});

Deno.test("[gcp-kms] catalog checks: type map, pinned signing paths, the ring", () => {
  const ring = { project: "p", location: "global", keyRing: "r" };
  const k = (keyType: KeyType, path: string, cls = "asymmetric") =>
    catalogKeyProblem(ring, { keyType, class: cls, engine: "transit", path });
  assert.equal(k("ed25519", "a/cryptoKeyVersions/3"), undefined);
  assert.equal(
    k("ecdsa-p256", "projects/p/locations/global/keyRings/r/cryptoKeys/a/cryptoKeyVersions/1"),
    undefined,
  );
  assert.equal(k("aes-256-gcm", "cryptoKeys/a", "symmetric"), undefined);
  assert.match(k("ed25519", "a")!, /must pin a version/);
  assert.match(k("aes-256-gcm", "a/cryptoKeyVersions/1", "symmetric")!, /name the key/);
  assert.match(k("ecdsa-p521", "a/cryptoKeyVersions/1")!, /not supported/);
  assert.match(
    k("ed25519", "projects/q/locations/global/keyRings/r/cryptoKeys/a/cryptoKeyVersions/1")!,
    /key ring/,
  );
  assert.match(k("ed25519", "a/cryptoKeyVersions/0")!, /cryptoKeyVersions\/N/);
  assert.match(k("ed25519", "a b/cryptoKeyVersions/1")!, /must name a key/);
});

Deno.test("[gcp-kms] endpoints: default TLS, https, plaintext only on loopback", () => {
  assert.deepEqual(parseEndpoint(""), { host: undefined, port: 443, insecure: false });
  assert.deepEqual(parseEndpoint("https://kms.internal:8443"), {
    host: "kms.internal",
    port: 8443,
    insecure: false,
  });
  assert.deepEqual(parseEndpoint("http://127.0.0.1:9"), {
    host: "127.0.0.1",
    port: 9,
    insecure: true,
  });
  assert.throws(() => parseEndpoint("http://kms.internal:80"), /loopback/);
  assert.throws(() => parseEndpoint("https://u:p@kms.internal"), /user info/);
  assert.throws(() => parseEndpoint("https://kms.internal/v1"), /only scheme/);
});

Deno.test("[gcp-kms] sandbox grants: endpoint, token host and ADC only when authenticated", () => {
  const cat = (addr: string) =>
    ({
      backends: new Map([["g", { name: "g", kind: "gcp-kms", addr }]]),
      keys: new Map(),
    }) as never;
  const env = (n: string) =>
    n === "GOOGLE_APPLICATION_CREDENTIALS" ? "/etc/gcp/sa.json" : undefined;
  assert.deepEqual(gcpAccess(cat(""), env), {
    read: ["/etc/gcp/sa.json"],
    net: ["cloudkms.googleapis.com:443", "oauth2.googleapis.com:443"],
    env: [...GCP_SDK_ENV, "GOOGLE_APPLICATION_CREDENTIALS", "METADATA_SERVER_DETECTION"],
  });
  assert.deepEqual(gcpAccess(cat("http://127.0.0.1:7"), env), {
    read: [],
    net: ["127.0.0.1:7"],
    env: [...GCP_SDK_ENV],
  });
  const none = { backends: new Map(), keys: new Map() } as never;
  assert.deepEqual(gcpAccess(none, env), { read: [], net: [], env: [] });
});

Deno.test("[gcp-kms] a sealed key must be a service-account key; no value is quoted", () => {
  const sa = (o: unknown) => SecretBytes.copyOf(new TextEncoder().encode(JSON.stringify(o)));
  const ok = readServiceAccount(
    "g",
    sa({
      type: "service_account",
      client_email: "x@p.iam.gserviceaccount.com",
      private_key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
      project_id: "p",
    }),
  );
  assert.equal(ok.project_id, "p");
  for (
    const bad of [
      { type: "external_account", credential_source: { executable: { command: "/bin/sh" } } },
      { type: "service_account", client_email: "x@y", private_key: "secret-value" },
      { type: "service_account", private_key: "-----BEGIN PRIVATE KEY-----" },
    ]
  ) {
    assert.throws(
      () => readServiceAccount("g", sa(bad)),
      (e) =>
        e instanceof InputError && /backend g/.test(e.message) &&
        !/secret-value|sh/.test(e.message),
    );
  }
  assert.throws(
    () => readServiceAccount("g", SecretBytes.copyOf(new Uint8Array([0xff]))),
    /not valid JSON/,
  );
});
