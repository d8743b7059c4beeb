/**
 * The writers of tests/e2e/crash_test.ts: lanes that each write their own
 * keys one call at a time (over the socket with the CLI's client, and one
 * through the CLI itself) until the agent dies, recording in a
 * {@linkcode Ledger} every result a caller saw succeed, and the checks run
 * after the restart.
 */

import assert from "node:assert/strict";
import { ed25519 } from "@noble/curves/ed25519.js";
import { BrokerClient } from "../../lib/cli/client.ts";
import { verifyAuditLog } from "../../lib/audit/verify.ts";
import { fromUtf8 } from "../../lib/core/encoding.ts";
import {
  AdminService,
  SecretService,
  SigningService,
} from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import type { Fixture } from "../helpers/fixture.ts";
import {
  cliVersion,
  hex,
  type Ledger,
  REVOCATIONS,
  type Rng,
  slotKey,
  TD,
} from "./crash_helpers.ts";

const dec = new TextDecoder();

/** Shared state of one round's writers. */
export interface Round {
  readonly f: Fixture;
  readonly client: BrokerClient;
  readonly rng: Rng;
  readonly ledger: Ledger;
  /** Next free new-key / import slot (across rounds). */
  readonly next: { nk: number; im: number; jti: number };
  readonly slots: number;
  /** Set once the agent was killed: lanes stop starting calls. */
  dead: boolean;
  /** Called on every acknowledgement (the kill trigger counts them). */
  onAck(): void;
}

/** The call's result; `undefined` when it failed because the agent was killed under it. */
async function ok<T>(r: Round, p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (!r.dead) throw e; // a failure with the agent alive is a finding
    return undefined;
  }
}

/** `app.set` over the socket: random values, one at a time. */
export async function setLane(r: Round): Promise<void> {
  while (!r.dead) {
    const value = hex(r.rng.bytes(r.rng.int(1, 48)));
    r.ledger.inFlight.set("app.set", value);
    const res = await ok(
      r,
      r.client.unary(SecretService.method.setSecret, {
        secretId: "app.set",
        value: new TextEncoder().encode(value),
      }),
    );
    if (res === undefined) return;
    r.ledger.inFlight.delete("app.set");
    r.ledger.value("app.set", res.version, value);
    r.ledger.acked.push({ op: "set", target: "app.set" });
    r.onAck();
  }
}

/** `app.set`'s twin `app.cli`, through the real CLI (`basil set --value-file -`). */
export async function cliLane(r: Round): Promise<void> {
  while (!r.dead) {
    const value = hex(r.rng.bytes(r.rng.int(1, 48)));
    r.ledger.inFlight.set("app.cli", value);
    const res = await r.f.cli(["set", "--key-id", "app.cli", "--value-file", "-"], {
      stdin: value,
    });
    const version = cliVersion(res);
    if (version === undefined) {
      if (!r.dead) throw new Error(`basil set failed with the agent alive:\n${res.stderr}`);
      return;
    }
    r.ledger.inFlight.delete("app.cli");
    r.ledger.value("app.cli", version, value);
    r.ledger.acked.push({ op: "set", target: "app.cli" });
    r.onAck();
  }
}

/** Rotates the value `app.rot` and the Ed25519 key `app.sig` in turn, reading each result back. */
export async function rotateLane(r: Round): Promise<void> {
  while (!r.dead) {
    const key = r.rng.pick(["app.rot", "app.sig"]);
    const res = await ok(r, r.client.unary(SecretService.method.rotateSecret, { secretId: key }));
    if (res === undefined) return;
    r.ledger.acked.push({ op: "rotate", target: key });
    if (key === "app.rot") r.ledger.rotValues.set(res.version, undefined);
    else r.ledger.sigVersions.set(res.version, undefined);
    r.onAck();
    if (key === "app.rot") {
      const got = await ok(
        r,
        r.client.unary(SecretService.method.getSecret, { secretId: key, version: res.version }),
      );
      if (got === undefined) return;
      r.ledger.rotValues.set(res.version, fromUtf8(got.value));
    } else {
      const got = await ok(
        r,
        r.client.unary(SigningService.method.getPublicKey, { keyId: key, version: res.version }),
      );
      if (got === undefined) return;
      r.ledger.sigVersions.set(res.version, hex(got.publicKey));
    }
  }
}

/** NewKey and Import (an Ed25519 seed) on fresh catalog slots. */
export async function keyLane(r: Round): Promise<void> {
  while (!r.dead) {
    const kind = r.rng.pick(["nk", "im"] as const);
    if (r.next[kind] >= r.slots) return;
    const id = slotKey(kind, r.next[kind]++);
    if (kind === "nk") {
      r.ledger.newKeysInFlight.add(id);
      const res = await ok(r, r.client.unary(SigningService.method.newKey, { keyId: id }));
      if (res === undefined) return;
      r.ledger.newKeysInFlight.delete(id);
      r.ledger.publics.set(id, hex(res.publicKey));
      r.ledger.acked.push({ op: "new_key", target: id });
    } else {
      const seed = r.rng.bytes(32);
      const pub = hex(ed25519.getPublicKey(seed));
      r.ledger.importsInFlight.set(id, pub);
      const res = await ok(
        r,
        r.client.unary(SigningService.method.import, {
          keyId: id,
          material: { material: { case: "ed25519Seed", value: seed } },
        }),
      );
      if (res === undefined) return;
      r.ledger.importsInFlight.delete(id);
      assert.equal(hex(res.publicKey), pub, `Import ${id} answered the seed's public key`);
      r.ledger.publics.set(id, pub);
      r.ledger.acked.push({ op: "import", target: id });
    }
    r.onAck();
  }
}

/** Revokes fresh JTIs of {@linkcode TD}. */
export async function revokeLane(r: Round): Promise<void> {
  while (!r.dead) {
    const jti = `jti-${r.next.jti++}`;
    const res = await ok(
      r,
      r.client.unary(AdminService.method.revoke, {
        trustDomain: TD,
        jti,
        expiresAtUnix: BigInt(Math.floor(Date.now() / 1000) + 86_400),
      }),
    );
    if (res === undefined) return;
    assert.ok(res.persisted, `Revoke ${jti} reports it persisted`);
    r.ledger.revoked.add(jti);
    r.ledger.acked.push({ op: "revoke", target: "" });
    r.onAck();
  }
}

async function latest(c: BrokerClient, key: string) {
  return await c.unary(SecretService.method.getSecret, { secretId: key });
}

/**
 * After a restart: every acknowledged write is there with its value and
 * version; a write that was in flight either landed whole or not at all.
 * `why` prefixes every assertion (seed and round).
 */
export async function checkState(c: BrokerClient, l: Ledger, why: string): Promise<void> {
  for (const [key, versions] of l.values) {
    for (const [v, value] of versions) {
      const got = await c.unary(SecretService.method.getSecret, { secretId: key, version: v });
      assert.equal(dec.decode(got.value), value, `${why}: ${key} v${v} is what was acknowledged`);
    }
    const top = Math.max(...versions.keys());
    const now = await latest(c, key);
    const pending = l.inFlight.get(key);
    if (now.version === top) continue;
    // Only the one write in flight may have landed beyond the last ack, and whole.
    assert.equal(now.version, top + 1, `${why}: ${key} latest v${now.version}, acked v${top}`);
    assert.equal(
      dec.decode(now.value),
      pending,
      `${why}: ${key} v${now.version} is the in-flight value`,
    );
    versions.set(now.version, pending!);
  }
  for (const [key, pending] of l.inFlight) {
    if (l.values.has(key)) continue;
    // Nothing acknowledged yet: absent, or exactly the in-flight value at v1.
    const got = await c.unary(SecretService.method.getSecret, { secretId: key }).catch(() =>
      undefined
    );
    if (got === undefined) continue;
    assert.equal(got.version, 1, `${why}: ${key} first version`);
    assert.equal(dec.decode(got.value), pending, `${why}: ${key} v1 is the in-flight value`);
    l.value(key, 1, pending);
  }
  l.inFlight.clear();
  for (const [v, value] of l.rotValues) {
    const got = await c.unary(SecretService.method.getSecret, { secretId: "app.rot", version: v });
    assert.equal(got.version, v, `${why}: app.rot v${v} exists`);
    if (value !== undefined) assert.equal(dec.decode(got.value), value, `${why}: app.rot v${v}`);
  }
  for (const [v, pub] of l.sigVersions) {
    const got = await c.unary(SigningService.method.getPublicKey, { keyId: "app.sig", version: v });
    assert.equal(got.version, v, `${why}: app.sig v${v} exists`);
    if (pub !== undefined) assert.equal(hex(got.publicKey), pub, `${why}: app.sig v${v}`);
  }
  for (const [id, pub] of l.publics) {
    const got = await c.unary(SigningService.method.getPublicKey, { keyId: id });
    assert.equal(hex(got.publicKey), pub, `${why}: ${id} keeps its acknowledged key`);
  }
  // In flight: no key, or a whole one (an import's is its seed's).
  const pendingKeys: [string, string | undefined][] = [
    ...l.importsInFlight,
    ...[...l.newKeysInFlight].map((id): [string, undefined] => [id, undefined]),
  ];
  for (const [id, pub] of pendingKeys) {
    const got = await c.unary(SigningService.method.getPublicKey, { keyId: id }).catch(() =>
      undefined
    );
    if (got === undefined) continue;
    assert.equal(got.publicKey.length, 32, `${why}: in-flight ${id} is a whole Ed25519 key`);
    if (pub !== undefined) assert.equal(hex(got.publicKey), pub, `${why}: in-flight import ${id}`);
    l.publics.set(id, hex(got.publicKey));
  }
  l.importsInFlight.clear();
  l.newKeysInFlight.clear();
  if (l.revoked.size > 0) {
    const got = await latest(c, REVOCATIONS);
    const doc = JSON.parse(dec.decode(got.value)) as {
      version: number;
      entries: { jti: string }[];
    };
    assert.equal(doc.version, 1, `${why}: revocation store document version`);
    const stored = new Set(doc.entries.map((e) => e.jti));
    for (const jti of l.revoked) assert.ok(stored.has(jti), `${why}: revoked ${jti} persisted`);
  }
}

/**
 * The audit file: its chain verifies (a crash may leave no torn line the
 * verifier refuses), and every acknowledged operation has its `allow`
 * record (as many as were acknowledged per op and target).
 */
export function checkAudit(f: Fixture, l: Ledger, why: string): void {
  const bytes = Deno.readFileSync(f.audit);
  const v = verifyAuditLog(bytes);
  assert.ok(v.ok, `${why}: audit chain: ${v.ok ? "" : `line ${v.line}: ${v.reason}`}`);
  const allowed = new Map<string, number>();
  for (const line of dec.decode(bytes).split("\n")) {
    if (line === "") continue;
    const rec = JSON.parse(line) as Record<string, unknown>;
    if (rec.outcome !== "allow") continue;
    const k = `${rec.op} ${rec.op === "revoke" ? "" : rec.target_id}`;
    allowed.set(k, (allowed.get(k) ?? 0) + 1);
  }
  const want = new Map<string, number>();
  for (const a of l.acked) {
    const k = `${a.op} ${a.target}`;
    want.set(k, (want.get(k) ?? 0) + 1);
  }
  for (const [k, n] of want) {
    assert.ok(
      (allowed.get(k) ?? 0) >= n,
      `${why}: ${n} acknowledged "${k}" but ${allowed.get(k) ?? 0} allow records`,
    );
  }
}
