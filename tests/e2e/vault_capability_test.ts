/**
 * The capability policy at start (contract §2.5), through the real agent
 * with a `vault` backend: under `strict` a catalog needing an engine, a
 * mint type or a capability the backend does not declare stops the start
 * before anything is unlocked or contacted, with every gap named; under
 * `degraded` only gaps of `missing: error` keys stop it, the rest are
 * logged and the agent serves.
 */

import assert from "node:assert/strict";
import { Fixture, runAgentToExit } from "../helpers/fixture.ts";
import { startBasilDouble, tokenCred, vaultBackend, vaultPolicy } from "./vault_helpers.ts";

/** A backend declaring transit and Ed25519 minting only, and keys that need more. */
function catalog(addr: string, o: { requires: boolean; caMissing: "error" | "warn" }) {
  const key = (k: Record<string, unknown>) => ({
    backend: "bao",
    writable: true,
    description: "capability test key",
    ...k,
  });
  return {
    schemaVersion: 1,
    backends: {
      bao: vaultBackend(addr, {
        engines: ["transit"],
        capabilities: [],
        mintKeyTypes: ["ed25519"],
        ...(o.requires ? { requires: ["pqc-transit"] } : {}),
      }),
    },
    keys: {
      "app.db_password": key({
        class: "value",
        path: "secret/data/app/db-password",
        missing: "generate",
        generate: { format: "hex", bytes: 16 },
      }),
      "sig.ed25519": key({
        class: "asymmetric",
        keyType: "ed25519",
        path: "sig-ed25519",
        missing: "generate",
      }),
      "sig.ecdsa_p256": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        path: "sig-p256",
        missing: "generate",
      }),
      "tls.ca": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        engine: "pki",
        path: "pki/issue/web",
        missing: o.caMissing,
      }),
    },
  };
}

const GAPS = {
  requires: 'backend bao: requires capability "pqc-transit" that it does not provide',
  kv2: 'key app.db_password: backend bao does not provide engine "kv2"',
  mint: 'key sig.ecdsa_p256: backend bao does not provide mintKeyTypes "ecdsa-p256"',
  pki: 'key tls.ca: backend bao does not provide engine "pki"',
};

Deno.test("strict: a vault catalog beyond the backend's declaration fails the start, every gap named", async () => {
  const d = await startBasilDouble();
  const f = await Fixture.create({
    catalog: catalog(d.addr, { requires: true, caMissing: "error" }),
    policy: vaultPolicy,
    backendCreds: new Map([["bao", tokenCred(d.rootToken)]]),
    configExtra: 'capability-policy = "strict"',
  });
  try {
    const before = d.hits.size;
    const r = await runAgentToExit(f);
    assert.equal(r.code, 1, r.stderr);
    const line = r.stderr.split("\n").find((l) => l.startsWith("basil agent: "));
    assert.ok(line, r.stderr);
    assert.match(line, /^basil agent: capability check failed: /);
    for (const gap of Object.values(GAPS)) assert.ok(line.includes(gap), `${gap}\n${line}`);
    assert.ok(!line.includes("sig.ed25519"), "a key the backend serves is not a gap");
    // Checked before the bundle is opened or the backend contacted; nothing bound.
    assert.equal(d.hits.size, before, "the backend was not contacted");
    assert.doesNotMatch(r.stderr, /unlock slot opened/);
    assert.throws(() => Deno.lstatSync(f.socket), Deno.errors.NotFound);
    // The default policy is strict too.
    f.writeConfig({});
    const byDefault = await runAgentToExit(f);
    assert.equal(byDefault.code, 1);
    assert.match(byDefault.stderr, /capability check failed: .*engine "pki"/);
  } finally {
    f.cleanup();
    await d.close();
  }
});

Deno.test("degraded: only missing: error gaps stop the start; otherwise the agent serves and logs the gaps", async () => {
  const d = await startBasilDouble();
  const creds = () => new Map([["bao", tokenCred(d.rootToken)]]);
  const fatal = await Fixture.create({
    catalog: catalog(d.addr, { requires: false, caMissing: "error" }),
    policy: vaultPolicy,
    backendCreds: creds(),
    configExtra: 'capability-policy = "degraded"',
  });
  const ok = await Fixture.create({
    catalog: catalog(d.addr, { requires: false, caMissing: "warn" }),
    policy: vaultPolicy,
    backendCreds: creds(),
    configExtra: 'capability-policy = "degraded"',
  });
  try {
    const r = await runAgentToExit(fatal);
    assert.equal(r.code, 1);
    const line = r.stderr.split("\n").find((l) => l.startsWith("basil agent: ")) ?? "";
    assert.ok(line.includes(GAPS.pki), line);
    assert.ok(!line.includes(GAPS.kv2) && !line.includes(GAPS.mint), line);

    const a = await ok.start();
    try {
      const warned = a.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
        .filter((l) => l.msg === "capability warning").map((l) => l.detail);
      assert.deepEqual(
        warned.sort(),
        [GAPS.kv2, GAPS.mint, GAPS.pki].map((g) => `${g} (degraded)`),
      );
      // The declaration was conservative: the backend really has KV v2 and P-256.
      const got = await ok.cli(["get", "--key-id", "app.db_password", "--format", "raw"]);
      assert.match(got.stdout, /^[0-9a-f]{32}$/, got.stderr);
      const s = await ok.cli(["sign", "--key-id", "sig.ecdsa_p256", "m"]);
      assert.equal(s.code, 0, s.stderr);
    } finally {
      const { code, stderr } = await a.stop();
      assert.equal(code, 0, stderr);
    }
  } finally {
    fatal.cleanup();
    ok.cleanup();
    await d.close();
  }
});
