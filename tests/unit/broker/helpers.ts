/**
 * An in-process broker for unit tests: real catalog and policy loaders, a
 * keystore file in a temp dir, and an audit sink that keeps records in
 * memory (or fails on demand).
 */

import assert from "node:assert/strict";
import type { AuditSink } from "../../../lib/audit/sink.ts";
import { openKeystoreBackend } from "../../../lib/backends/keystore/mod.ts";
import type { KeystoreBackend } from "../../../lib/backends/keystore/mod.ts";
import type { Backend } from "../../../lib/backends/backend.ts";
import { runCall } from "../../../lib/broker/call.ts";
import type { BrokerCall } from "../../../lib/broker/call.ts";
import type { BrokerDeps } from "../../../lib/broker/deps.ts";
import { EventBus } from "../../../lib/broker/events.ts";
import { GenerationHolder } from "../../../lib/broker/state.ts";
import { loadCatalog } from "../../../lib/catalog/load.ts";
import { BasilError } from "../../../lib/core/errors.ts";
import { nullLogger } from "../../../lib/core/log.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { loadPolicy } from "../../../lib/policy/load.ts";
import type { PeerIdentity } from "../../../lib/policy/pdp.ts";

/** The caller every test uses (uid 4242 → subject `app`). */
export const PEER: PeerIdentity = { uid: 4242, gid: 4242, pid: 1 };

/** The trust domain of the test issuers. */
export const TD = "example.org";

/**
 * Keys: `app.*` are granted to `app`, `other.*` exist but are not. Issuers:
 * `app.jwt_issuer` (JWT-SVIDs of example.org), `app.x509_ca` (X.509-SVIDs),
 * `app.odd_issuer` (an `svid_kind` this build does not serve),
 * `other.jwt_issuer` (other.org, not granted); `app.tls_ca` is a plain pki CA.
 */
export function catalogJson(db: string): unknown {
  const key = (extra: Record<string, unknown>) => ({
    backend: "db",
    writable: true,
    missing: "warn",
    description: "test key",
    ...extra,
  });
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: db,
        engines: ["transit", "kv2", "pki"],
        mintKeyTypes: ["ed25519", "ecdsa-p256"],
      },
    },
    keys: {
      "app.value": key({ class: "value", path: "app/value" }),
      "app.seal": key({
        class: "sealing",
        keyType: "x25519",
        path: "app/seal",
        publicPath: "app/seal-pub",
      }),
      "app.sig": key({ class: "asymmetric", keyType: "ed25519", path: "app/sig" }),
      "app.sig_b": key({ class: "asymmetric", keyType: "ed25519", path: "app/sig-b" }),
      "app.kvsig": key({
        class: "asymmetric",
        keyType: "ed25519",
        engine: "kv2",
        path: "app/kvsig",
        publicPath: "app/kvsig-pub",
      }),
      "other.sig": key({ class: "asymmetric", keyType: "ed25519", path: "other/sig" }),
      "app.jwt_issuer": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        path: "app/jwt-issuer",
        labels: ["svid_kind=jwt", `trust_domain=${TD}`, `spiffe_id=spiffe://${TD}`],
      }),
      "app.x509_ca": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        engine: "pki",
        path: "pki/issue/spiffe",
        labels: ["svid_kind=x509", `trust_domain=${TD}`],
      }),
      "app.odd_issuer": key({
        class: "asymmetric",
        keyType: "ed25519",
        path: "app/odd-issuer",
        labels: ["svid_kind=other", `trust_domain=${TD}`],
      }),
      "app.tls_ca": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        engine: "pki",
        path: "pki/issue/tls",
      }),
      "other.jwt_issuer": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        path: "other/jwt-issuer",
        labels: ["svid_kind=jwt", "trust_domain=other.org"],
      }),
    },
  };
}

function policyJson(): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid: PEER.uid }] } },
    rules: [
      { id: "app-all", subjects: ["app"], action: ["*"], target: ["app.*"] },
      { id: "app-admin", subjects: ["app"], action: ["op:watch"], target: ["broker.watch"] },
    ],
    config: { names: { users: { [String(PEER.uid)]: "app" } } },
  };
}

/** An audit sink that records in memory; `failing` makes every write fail. */
export class MemorySink implements AuditSink {
  readonly records: Record<string, unknown>[] = [];
  failing = false;
  #failures = 0;

  get failures(): number {
    return this.#failures;
  }

  write(record: object): boolean {
    if (this.failing) {
      this.#failures++;
      return false;
    }
    this.records.push(JSON.parse(JSON.stringify(record)));
    return true;
  }

  reopen(): void {}
  close(): void {}
}

/**
 * Runs `fn` as one audited request of `peer` (PEER by default), exactly as
 * the service layer does: its decisions are written when it settles.
 */
export function run<T>(
  b: { readonly deps: BrokerDeps },
  fn: (call: BrokerCall) => Promise<T> | T,
  peer: PeerIdentity | undefined = PEER,
  signal: AbortSignal = new AbortController().signal,
): Promise<T> {
  return runCall(b.deps, peer, signal, async (call) => await fn(call));
}

/** A broker over a fresh keystore. */
export interface TestBroker {
  readonly deps: BrokerDeps;
  readonly backend: KeystoreBackend;
  readonly sink: MemorySink;
  /** Replaces the backend the broker sees (e.g. a wrapper that fails or yields). */
  useBackend(b: Backend): void;
}

/** Runs `fn` with a fresh broker, removing its files afterwards. */
export async function withBroker(
  fn: (b: TestBroker) => Promise<void>,
  audit?: (dir: string) => AuditSink,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "basil-broker-" });
  const db = `${dir}/keystore.db`;
  const { catalog } = loadCatalog(JSON.stringify(catalogJson(db)), `${dir}/catalog.json`);
  const policy = loadPolicy(JSON.stringify(policyJson()), `${dir}/policy.json`, {});
  const dek = SecretBytes.copyOf(crypto.getRandomValues(new Uint8Array(32)));
  const backend = openKeystoreBackend({ name: "db", dbPath: db, dek });
  dek.wipe();
  const sink = new MemorySink();
  const backends = new Map<string, Backend>([["db", backend]]);
  const auditSink = audit ? audit(dir) : sink;
  const deps: BrokerDeps = {
    state: new GenerationHolder({ id: 1, catalog, policy }),
    backends,
    audit: auditSink,
    events: new EventBus(),
    logger: nullLogger,
    limits: { maxPayloadSize: 65536, maxEncryptSize: 65536, graceVersions: 1 },
    hostUserName: () => undefined,
    now: () => new Date(),
  };
  try {
    await fn({ deps, backend, sink, useBackend: (b) => backends.set("db", b) });
  } finally {
    auditSink.close();
    backend.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts that `p` rejects with a BasilError of `code`; returns it. */
export async function rejectsWith(
  p: Promise<unknown> | (() => unknown),
  code: string,
  message?: RegExp,
): Promise<BasilError> {
  let caught: unknown;
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof BasilError, `expected a BasilError, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}
