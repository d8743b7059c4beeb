/**
 * Shared parts of tests/e2e/crash_test.ts: the seeded generator, the
 * catalog and policy of the writers, and the record of what each caller
 * saw acknowledged (so the checks after a restart know what must be there).
 */

import type { BasilResult } from "../helpers/cli.ts";

/** Trust domain of the JWT issuer whose JTIs are revoked. */
export const TD = "crash.example";

/** The revocation store's catalog key. */
export const REVOCATIONS = "spiffe.revocations";

/**
 * A small seeded generator (mulberry32): the same seed replays the same
 * choices (op counts, kill points, values), so a failing run is reproduced
 * with `BASIL_CRASH_SEED=<seed>`.
 */
export class Rng {
  #s: number;
  constructor(readonly seed: number) {
    this.#s = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** `n` bytes. */
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(0, 255));
  }

  /** One of `xs`. */
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
}

/** A positive integer from the environment, or `fallback`. */
export function envInt(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}

/** The seed of this run: `BASIL_CRASH_SEED`, or a fresh one. */
export function runSeed(): number {
  return envInt("BASIL_CRASH_SEED", crypto.getRandomValues(new Uint32Array(1))[0]!);
}

/** The catalog id of the `i`th new-key (`nk`) or import (`im`) target. */
export function slotKey(kind: "nk" | "im", i: number): string {
  return `app.${kind}_${i}`;
}

/**
 * Keys on the keystore backend: `app.set` and `app.cli` (set), `app.rot`
 * (rotated value), `app.sig` (rotated Ed25519 key), `slots` new-key and
 * import targets each, a JWT issuer (so the agent knows {@linkcode TD}) and
 * the revocation store.
 */
export function crashCatalog(slots: number): unknown {
  const key = (o: Record<string, unknown>) => ({
    backend: "db",
    writable: true,
    missing: "warn",
    description: "crash test key",
    ...o,
  });
  const keys: Record<string, unknown> = {
    "app.set": key({ class: "value", path: "app/set" }),
    "app.cli": key({ class: "value", path: "app/cli" }),
    "app.rot": key({
      class: "value",
      path: "app/rot",
      missing: "generate",
      generate: { format: "hex", bytes: 16 },
    }),
    "app.sig": key({
      class: "asymmetric",
      keyType: "ed25519",
      path: "app/sig",
      missing: "generate",
    }),
    "spiffe.jwt_issuer": key({
      class: "asymmetric",
      keyType: "ecdsa-p256",
      path: "spiffe/jwt",
      missing: "generate",
      labels: ["svid_kind=jwt", `trust_domain=${TD}`, `spiffe_id=spiffe://${TD}`],
    }),
    [REVOCATIONS]: key({
      class: "value",
      path: "spiffe/revocations",
      labels: ["revocation_store=jwt-svid"],
    }),
  };
  for (let i = 0; i < slots; i++) {
    for (const kind of ["nk", "im"] as const) {
      keys[slotKey(kind, i)] = key({
        class: "asymmetric",
        keyType: "ed25519",
        path: `app/${kind}/${i}`,
      });
    }
  }
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2"],
        mintKeyTypes: ["ed25519", "ecdsa-p256"],
      },
    },
    keys,
  };
}

/** Everything on `app.*` and `spiffe.*`, and `revoke`, for the test's uid. */
export function crashPolicy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    rules: [
      { id: "keys", subjects: ["app"], action: ["*"], target: ["app.*", "spiffe.*"] },
      { id: "admin", subjects: ["app"], action: ["op:revoke"], target: ["broker.*"] },
    ],
  };
}

/** One acknowledged operation, as the audit must show it. */
export interface Acked {
  readonly op: string;
  readonly target: string;
}

/** What the callers saw acknowledged, across every round. */
export class Ledger {
  /** `app.set` / `app.cli`: version → value, as acknowledged. */
  readonly values = new Map<string, Map<number, string>>();
  /** The write in flight when the agent died, per key (may or may not have landed). */
  readonly inFlight = new Map<string, string>();
  /** `app.rot` versions (value read back after the ack, when that read succeeded too). */
  readonly rotValues = new Map<number, string | undefined>();
  /** `app.sig` versions (public key read back, when that read succeeded too). */
  readonly sigVersions = new Map<number, string | undefined>();
  /** New-key and import targets: id → public key (hex) the caller got. */
  readonly publics = new Map<string, string>();
  /** Import targets whose call was in flight: id → the public key of the seed sent. */
  readonly importsInFlight = new Map<string, string>();
  /** New-key targets whose call was in flight. */
  readonly newKeysInFlight = new Set<string>();
  /** Revoked JTIs. */
  readonly revoked = new Set<string>();
  /** Every acknowledged allowed operation, for the audit check. */
  readonly acked: Acked[] = [];

  /** Records an acknowledged value write. */
  value(key: string, version: number, value: string): void {
    let m = this.values.get(key);
    if (!m) this.values.set(key, m = new Map());
    m.set(version, value);
  }
}

/** Lower-case hex. */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The `version: N` a successful `basil set`/`rotate` printed. */
export function cliVersion(r: BasilResult): number | undefined {
  if (r.code !== 0) return undefined;
  const m = /^version: (\d+)\n$/.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}
