/**
 * The X.509-SVID source's ordering under races: first issuance shared by
 * concurrent subscribers, a CA rotation landing while an issuance runs, one
 * timer per identity, refresh at half the leaf's real lifetime, identities
 * nobody watches dropped and their keys wiped. A fake PKI settles issuances
 * by hand and the timers are fired by hand, so nothing depends on time.
 * @module
 */

import assert from "node:assert/strict";
import type { BrokerDeps } from "../../../lib/broker/deps.ts";
import type { IssuedCert } from "../../../lib/backends/backend.ts";
import type { CatalogKey } from "../../../lib/catalog/schema.ts";
import type { LogLevel } from "../../../lib/core/log.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import type { Issuer } from "../../../lib/spiffe/issuers.ts";
import {
  MIN_REFRESH_MS,
  RETRY_MS,
  type ServedSvid,
  type SvidTimers,
  X509SvidSource,
} from "../../../lib/spiffe/svid_source.ts";

const NOW = new Date("2026-11-22T12:00:00Z");
const ID = "spiffe://example.org/app";

interface Pending {
  serial: number;
  resolve(lifetimeSecs?: number): void;
  reject(e: Error): void;
}

/** Timers that only fire when the test says so. */
class HandTimers implements SvidTimers {
  readonly armed = new Map<number, { fn: () => void; delayMs: number }>();
  #next = 1;
  set(fn: () => void, delayMs: number): unknown {
    const h = this.#next++;
    this.armed.set(h, { fn, delayMs });
    return h;
  }
  clear(handle: unknown): void {
    this.armed.delete(handle as number);
  }
  /** Fires every armed timer once. */
  fireAll(): void {
    const now = [...this.armed];
    this.armed.clear();
    for (const [, t] of now) t.fn();
  }
  get delays(): number[] {
    return [...this.armed.values()].map((t) => t.delayMs);
  }
}

function harness() {
  const pending: Pending[] = [];
  const keys: Uint8Array[] = [];
  const logs: { level: LogLevel; message: string }[] = [];
  let serial = 0;
  const pki = {
    issue(): Promise<IssuedCert> {
      const n = ++serial;
      return new Promise<IssuedCert>((resolve, reject) => {
        pending.push({
          serial: n,
          resolve: (lifetimeSecs = 300) => {
            const key = new Uint8Array(32).fill(n);
            keys[n] = key;
            resolve({
              chainDer: [new Uint8Array([n])],
              privateKeyPkcs8: new SecretBytes(key.slice()),
              caChainDer: [],
              notBefore: NOW,
              notAfter: new Date(NOW.getTime() + lifetimeSecs * 1000),
            });
          },
          reject,
        });
      });
    },
  };
  const deps = {
    backends: new Map([["local", { name: "local", pki }]]),
    logger: { log: (level: LogLevel, message: string) => logs.push({ level, message }) },
    now: () => NOW,
  } as unknown as BrokerDeps;
  const timers = new HandTimers();
  const source = new X509SvidSource(
    deps,
    300,
    () => Promise.resolve(new Uint8Array([0xca])),
    timers,
  );
  const issuer: Issuer = {
    key: {
      name: "spiffe.x509_ca",
      backend: "local",
      path: "pki/ca",
      keyType: "ecdsa-p256",
    } as unknown as CatalogKey,
    trustDomain: "example.org",
    issuerId: "spiffe.x509_ca",
  };
  return { pending, timers, source, issuer, logs };
}

/** Lets settled promises run their continuations. */
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};
const serialOf = (s: ServedSvid) => s.chainDer[0];

Deno.test("svid source: concurrent first subscribers share one issuance", async () => {
  const h = harness();
  const a = h.source.subscribe(h.issuer, ID, () => {});
  const b = h.source.subscribe(h.issuer, ID, () => {});
  await settle();
  assert.equal(h.pending.length, 1, "one issuance for both");
  h.pending[0]!.resolve();
  const [sa, sb] = await Promise.all([a, b]);
  assert.equal(sa.svid, sb.svid);
  assert.equal(h.timers.armed.size, 1);
  h.source.close();
});

Deno.test("svid source: refresh at half of the leaf's real lifetime, one timer", async () => {
  const h = harness();
  const pushed: number[] = [];
  const sub = h.source.subscribe(h.issuer, ID, (s) => pushed.push(serialOf(s)!));
  await settle();
  h.pending[0]!.resolve(60); // the CA's expiry cut the 300 s TTL to 60 s
  await sub;
  assert.deepEqual(h.timers.delays, [30_000]);
  h.timers.fireAll();
  await settle();
  assert.equal(h.pending.length, 2);
  h.pending[1]!.resolve(1); // nearly expired CA: the floor applies
  await settle();
  assert.deepEqual(pushed, [2]);
  assert.deepEqual(h.timers.delays, [MIN_REFRESH_MS]);
  h.source.close();
});

Deno.test("svid source: a rotation during an issuance supersedes it; only the newest lands", async () => {
  const h = harness();
  const pushed: number[] = [];
  const sub = h.source.subscribe(h.issuer, ID, (s) => pushed.push(serialOf(s)!));
  await settle();
  // The CA rotates while the first issuance runs.
  h.source.reissue("spiffe.x509_ca");
  await settle();
  assert.equal(h.pending.length, 2);
  h.pending[1]!.resolve();
  h.pending[0]!.resolve(); // the old CA's leaf lands last
  const first = await sub;
  await settle();
  assert.equal(serialOf(first.svid), 2, "the subscriber gets the new CA's SVID");
  assert.deepEqual(pushed, []);
  assert.equal(h.timers.armed.size, 1);

  // A refresh in flight, then another rotation: one push, of the newest, and one timer.
  h.timers.fireAll();
  await settle();
  h.source.reissue("spiffe.x509_ca");
  await settle();
  assert.equal(h.pending.length, 4);
  h.pending[3]!.resolve();
  h.pending[2]!.resolve();
  await settle();
  assert.deepEqual(pushed, [4]);
  assert.equal(h.timers.armed.size, 1);
  h.source.close();
});

Deno.test("svid source: superseded and dropped leaf keys are wiped", async () => {
  const h = harness();
  const got: ServedSvid[] = [];
  const sub = h.source.subscribe(h.issuer, ID, (s) => got.push(s));
  await settle();
  h.source.reissue("spiffe.x509_ca");
  await settle();
  h.pending[1]!.resolve();
  const first = (await sub).svid;
  h.pending[0]!.resolve();
  await settle();
  // Two refreshes: the first SVID is then two generations old.
  for (const i of [2, 3]) {
    h.timers.fireAll();
    await settle();
    h.pending[i]!.resolve();
    await settle();
  }
  assert.ok(first.keyPkcs8.every((b) => b === 0), "two generations old: wiped");
  assert.ok(got[0]!.keyPkcs8.some((b) => b !== 0), "previous: kept (may be in a send)");
  // Nobody listens any more: the next timer drops the identity and wipes both keys.
  (await sub).unsubscribe();
  h.timers.fireAll();
  assert.equal(h.source.size, 0);
  assert.equal(h.timers.armed.size, 0);
  for (const s of got) assert.ok(s.keyPkcs8.every((b) => b === 0));
});

Deno.test("svid source: a subscriber registered before the first SVID lands misses no refresh", async () => {
  const h = harness();
  const pushed: number[] = [];
  const sub = h.source.subscribe(h.issuer, ID, (s) => pushed.push(serialOf(s)!));
  await settle();
  h.pending[0]!.resolve();
  await settle();
  // The refresh starts before the subscriber has used its first SVID.
  h.timers.fireAll();
  await sub;
  await settle();
  h.pending[1]!.resolve();
  await settle();
  assert.deepEqual(pushed, [2]);
  assert.equal(h.source.size, 1, "a watched identity is kept");
  h.source.close();
});

Deno.test("svid source: a failed first issuance is not cached; a failed refresh retries", async () => {
  const h = harness();
  const sub = h.source.subscribe(h.issuer, ID, () => {});
  await settle();
  h.pending[0]!.reject(new Error("backend down"));
  await assert.rejects(sub, /backend down/);
  assert.equal(h.source.size, 0);
  assert.equal(h.timers.armed.size, 0);

  const again = h.source.subscribe(h.issuer, ID, () => {});
  await settle();
  h.pending[1]!.resolve();
  await again;
  h.timers.fireAll();
  await settle();
  h.pending[2]!.reject(new Error("backend down"));
  await settle();
  assert.deepEqual(h.timers.delays, [RETRY_MS]);
  assert.ok(h.logs.some((l) => l.level === "error" && /refresh failed/.test(l.message)));
  h.source.close();
  assert.equal(h.timers.armed.size, 0);
});

Deno.test("svid source: a throwing listener neither stops refreshes nor starves the others", async () => {
  const h = harness();
  const pushed: number[] = [];
  const bad = h.source.subscribe(h.issuer, ID, () => {
    throw new Error("stream gone");
  });
  const good = h.source.subscribe(h.issuer, ID, (s) => pushed.push(serialOf(s)!));
  await settle();
  h.pending[0]!.resolve();
  await Promise.all([bad, good]);
  h.timers.fireAll();
  await settle();
  h.pending[1]!.resolve();
  await settle();
  assert.deepEqual(pushed, [2], "the other subscriber still gets the refresh");
  assert.equal(h.timers.armed.size, 1, "the next refresh is still armed");
  assert.ok(h.logs.some((l) => l.level === "error" && /listener failed/.test(l.message)));
  h.source.close();
});

Deno.test("svid source: close rejects a subscriber still waiting for its first SVID", async () => {
  const h = harness();
  const sub = h.source.subscribe(h.issuer, ID, () => {});
  await settle();
  h.source.close();
  await assert.rejects(sub, /closed/);
  h.pending[0]!.resolve(); // the issuance lands after close: dropped
  await settle();
  assert.equal(h.source.size, 0);
  assert.equal(h.timers.armed.size, 0);
});
