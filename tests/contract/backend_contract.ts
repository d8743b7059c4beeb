/**
 * One backend contract suite: the same tests run against every backend for
 * the capabilities it declares (keystore and vault now; KMS backends later),
 * so backends cannot drift apart. A backend test file calls
 * {@linkcode backendContract} with a factory and its capabilities.
 *
 * Every test opens a fresh backend from the factory and uses fresh, random
 * paths, so the suite also runs against a long-lived real server.
 */

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import type { Backend } from "../../lib/backends/backend.ts";
import { BasilError, isKeyNotFound } from "../../lib/core/errors.ts";
import type { KeyType } from "../../lib/core/ops.ts";
import { SecretBytes } from "../../lib/core/secret.ts";
import { generateSigningKey, verifyMessage } from "../../lib/crypto/signing.ts";

/** What a backend declares it provides. */
export interface ContractCapabilities {
  /** KV paths are built by this (vault: `secret/data/<x>`). */
  readonly kvPath?: (name: string) => string;
  /** Only the latest kv version is readable (older ones read as absent). */
  readonly kvLatestOnly?: boolean;
  /** KV values are UTF-8 text only (a non-UTF-8 write is INVALID_REQUEST). */
  readonly kvTextOnly?: boolean;
  /** Transit signing key types it holds. */
  readonly signing: readonly KeyType[];
  /** Transit AEAD key types it holds. */
  readonly aead: readonly KeyType[];
  /** BYOK import of these key types. */
  readonly importTypes: readonly KeyType[];
  /** A pki issuer path, prepared by `preparePki` when given. */
  readonly pki?: {
    readonly path: (name: string) => string;
    readonly prepare?: (b: Backend, path: string) => Promise<void>;
  };
  /** Whether `prune` is supported. */
  readonly prune: boolean;
}

/** A backend under test, and how to clean it up. */
export interface ContractSubject {
  readonly backend: Backend;
  close(): Promise<void>;
}

/** Registers the suite for one backend. */
export function backendContract(
  name: string,
  caps: ContractCapabilities,
  open: () => Promise<ContractSubject>,
): void {
  const uniq = (p: string) => `c${crypto.randomUUID().slice(0, 8)}-${p}`;
  const test = (what: string, fn: (b: Backend) => Promise<void>, ignore = false) =>
    Deno.test({
      name: `[${name}] ${what}`,
      ignore,
      async fn() {
        const s = await open();
        try {
          await fn(s.backend);
        } finally {
          await s.close();
        }
      },
    });
  const msg = new TextEncoder().encode("contract message");

  test("kv: absent, write, versions, latest", async (b) => {
    const path = caps.kvPath!(uniq("value"));
    assert.equal(await b.kv!.read(path), undefined);
    assert.equal(await b.kv!.latestVersion(path), undefined);
    assert.equal(await b.kv!.write(path, new TextEncoder().encode("one")), 1);
    const second = caps.kvTextOnly
      ? new TextEncoder().encode("two ✓\n")
      : new Uint8Array([0, 255, 10]);
    if (caps.kvTextOnly) {
      await assert.rejects(
        b.kv!.write(path, new Uint8Array([0, 255, 10])),
        (e) => e instanceof BasilError && e.code === "INVALID_REQUEST",
      );
      assert.equal(await b.kv!.latestVersion(path), 1, "a refused write stores nothing");
    }
    assert.equal(await b.kv!.write(path, second), 2);
    const latest = await b.kv!.read(path);
    assert.deepEqual([...latest!.value.expose()], [...second]);
    assert.equal(latest!.version, 2);
    const first = await b.kv!.read(path, 1);
    if (caps.kvLatestOnly) assert.equal(first, undefined, "older versions are not readable");
    else assert.equal(new TextDecoder().decode(first!.value.expose()), "one");
    assert.equal(await b.kv!.read(path, 7), undefined);
    assert.equal(await b.kv!.latestVersion(path), 2);
  }, caps.kvPath === undefined);

  for (const kt of caps.signing) {
    test(`transit ${kt}: create, sign, verify (locally too), rotate with grace`, async (b) => {
      const t = b.transit!;
      const path = uniq(kt);
      assert.equal(await t.info(path), undefined);
      const created = await t.create(path, kt);
      assert.equal(created.version, 1);
      await assert.rejects(
        t.create(path, kt),
        (e) => e instanceof BasilError && e.code === "INVALID_REQUEST",
      );
      assert.deepEqual(await t.publicKey(path, kt, 1), created.publicKey);
      const info = await t.info(path);
      assert.equal(info!.latest, 1);
      const sig1 = await t.sign(path, kt, msg, 1);
      assert.equal(
        verifyMessage(kt, created.publicKey, msg, sig1),
        true,
        "verifies under local crypto",
      );
      assert.equal(await t.verify(path, kt, msg, sig1, 1), true);
      const bad = sig1.slice();
      bad[bad.length - 1]! ^= 1;
      assert.equal(await t.verify(path, kt, msg, bad, 1), false);
      assert.equal(await t.verify(path, kt, new TextEncoder().encode("other"), sig1, 1), false);
      assert.equal(await t.rotate(path, kt), 2);
      const pub2 = await t.publicKey(path, kt, 2);
      assert.notDeepEqual(pub2, created.publicKey);
      const sig2 = await t.sign(path, kt, msg, 2);
      assert.equal(verifyMessage(kt, pub2, msg, sig2), true);
      const sigLatest = await t.sign(path, kt, msg);
      assert.equal(
        verifyMessage(kt, pub2, msg, sigLatest),
        true,
        "no version signs with the latest",
      );
      assert.equal(verifyMessage(kt, created.publicKey, msg, sigLatest), false);
      assert.equal(await t.verify(path, kt, msg, sig1, 1), true, "v1 stays inside grace 1");
      assert.equal(await t.verify(path, kt, msg, sig1, 2), false);
      assert.ok(await b.exists({ engine: "transit", path } as never));
    });
  }

  test("transit: absent key is key-not-found, never 'absent' by accident", async (b) => {
    const kt = caps.signing[0]!;
    const path = uniq("absent");
    await assert.rejects(b.transit!.sign(path, kt, msg, 1), (e) => isKeyNotFound(e));
    await assert.rejects(b.transit!.sign(path, kt, msg), (e) => isKeyNotFound(e));
    await assert.rejects(b.transit!.publicKey(path, kt, 1), (e) => isKeyNotFound(e));
    assert.equal(await b.exists({ engine: "transit", path } as never), false);
  }, caps.signing.length === 0);

  for (const kt of caps.aead) {
    test(`transit ${kt}: encrypt/decrypt with AAD, every failure DECRYPT_FAILED`, async (b) => {
      const t = b.transit!;
      const path = uniq(kt);
      await t.create(path, kt);
      const pt = new TextEncoder().encode("plaintext");
      const aad = new TextEncoder().encode("aad");
      const env = await t.encrypt(path, kt, pt, aad, 1);
      assert.equal(env.version, 1);
      assert.deepEqual(await t.decrypt(path, kt, env, aad), pt);
      const decryptFails = (p: Promise<unknown>) =>
        assert.rejects(p, (e) => e instanceof BasilError && e.code === "DECRYPT_FAILED");
      await decryptFails(t.decrypt(path, kt, env, new TextEncoder().encode("other")));
      const ct = env.ciphertext.slice();
      ct[ct.length - 1]! ^= 1;
      await decryptFails(t.decrypt(path, kt, { ...env, ciphertext: ct }, aad));
      await decryptFails(t.decrypt(path, kt, { ...env, version: 9 }, aad));
      const noAad = await t.encrypt(path, kt, pt, undefined, 1);
      assert.deepEqual(await t.decrypt(path, kt, noAad, undefined), pt);
      assert.equal(await t.rotate(path, kt), 2);
      const env2 = await t.encrypt(path, kt, pt, aad, 2);
      assert.equal(env2.version, 2);
      assert.deepEqual(await t.decrypt(path, kt, env, aad), pt, "v1 decrypts inside grace 1");
    });
  }

  for (const kt of caps.importTypes) {
    test(`transit ${kt}: import`, async (b) => {
      const t = b.transit!;
      const pair = generateSigningKey(kt);
      const path = uniq(`imp-${kt}`);
      const material = kt === "ed25519"
        ? { kind: "ed25519-seed" as const, seed: SecretBytes.copyOf(pair.privateKey.expose()) }
        : { kind: "pkcs8" as const, der: SecretBytes.copyOf(pair.privateKey.expose()) };
      const [got] = await t.importKeys([{ path, keyType: kt, material }]);
      assert.deepEqual(got!.publicKey, pair.publicKey);
      const sig = await t.sign(path, kt, msg, 1);
      assert.equal(verifyMessage(kt, pair.publicKey, msg, sig), true);
      await assert.rejects(
        t.importKeys([{ path, keyType: kt, material }]),
        (e) => e instanceof BasilError && e.code === "INVALID_REQUEST",
      );
      pair.privateKey.wipe();
    });
  }

  test("transit: prune raises the oldest available version", async (b) => {
    const t = b.transit!;
    const kt = caps.signing[0]!;
    const path = uniq("prune");
    await t.create(path, kt);
    await t.rotate(path, kt);
    await t.rotate(path, kt);
    await t.prune(path, 2);
    const info = await t.info(path);
    assert.equal(info!.latest, 3);
    assert.ok(info!.minAvailable >= 2);
    await assert.rejects(t.publicKey(path, kt, 1), (e) => isKeyNotFound(e));
  }, !caps.prune || caps.signing.length === 0);

  test("pki: TLS leaf and X.509-SVID chain to the CA", async (b) => {
    const p = caps.pki!;
    const path = p.path(uniq("ca"));
    await p.prepare?.(b, path);
    const info = await b.pki!.info(path);
    assert.ok(info !== undefined && info.latest >= 1);
    const cas = await b.pki!.caCertificates(path, "ecdsa-p256", info.minAvailable, info.latest);
    assert.ok(cas.length >= 1);
    const ca = new X509Certificate(cas[0]!);
    const tls = await b.pki!.issue(path, "ecdsa-p256", {
      commonName: "svc.example",
      dnsSans: ["svc.example", "alt.example"],
      ipSans: ["127.0.0.1"],
      uriSans: [],
      ttlSecs: 120,
      svid: false,
    });
    const leaf = new X509Certificate(tls.chainDer[0]!);
    assert.ok(leaf.verify(ca.publicKey), "leaf signed by the CA");
    assert.match(leaf.subjectAltName ?? "", /DNS:alt\.example/);
    assert.ok(tls.privateKeyPkcs8.length > 0);
    assert.ok(tls.notAfter.getTime() - tls.notBefore.getTime() <= 200_000);
    tls.privateKeyPkcs8.wipe();
    const svid = await b.pki!.issue(path, "ecdsa-p256", {
      dnsSans: [],
      ipSans: [],
      uriSans: ["spiffe://example.org/workload"],
      ttlSecs: 60,
      svid: true,
    });
    assert.match(
      new X509Certificate(svid.chainDer[0]!).subjectAltName ?? "",
      /URI:spiffe:\/\/example\.org\/workload/,
    );
    svid.privateKeyPkcs8.wipe();
    await assert.rejects(
      b.pki!.issue(path, "ecdsa-p256", {
        dnsSans: [],
        ipSans: [],
        uriSans: [],
        ttlSecs: 0,
        svid: false,
      }),
      (e) => e instanceof BasilError && e.code === "INVALID_REQUEST",
    );
  }, caps.pki === undefined);
}
