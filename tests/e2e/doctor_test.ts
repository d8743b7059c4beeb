/**
 * `basil doctor` through the real CLI: every §8 check in the JSON shape,
 * exit codes (fatal → 1, warn → 0 unless --strict), nothing mutated without
 * --keys (bundle, sidecar and passphrase file byte-identical), --keys
 * unlocking without wiping the passphrase file or advancing the sidecar,
 * and backend reachability / key material against the Vault double.
 */

import assert from "node:assert/strict";
import { Fixture } from "../helpers/fixture.ts";
import { startConfiguredDouble } from "../fakes/vault/server.ts";
import { tokenCred, vaultBackend } from "./vault_helpers.ts";
import { basil } from "../helpers/cli.ts";

const NAMES = [
  "config",
  "catalog_policy",
  "capability",
  "invocation_bindings",
  "feature_compatibility",
  "backend_binary",
  "socket",
  "bundle_readable",
  "bundle_perms",
  "bundle_freshness",
  "backend_reachability",
];

interface Doc {
  schema_version: number;
  checks: { name: string; status: string; detail: string; remediation: string }[];
  summary: { total: number; ok: number; warn: number; fatal: number; blocking: number };
}

async function doctor(f: Fixture, ...extra: string[]) {
  const r = await basil(["doctor", "-c", f.config, "--json", ...extra]);
  assert.equal(r.stderr, "", r.stderr);
  const doc = JSON.parse(r.stdout) as Doc;
  const by = new Map(doc.checks.map((c) => [c.name, c]));
  return { code: r.code, doc, by };
}

function fileState(path: string): string {
  try {
    return Array.from(Deno.readFileSync(path)).join(",") + `|${Deno.statSync(path).mode}`;
  } catch {
    return "absent";
  }
}

Deno.test("doctor: a fresh workdir passes with one warning (no epoch sidecar yet); --strict fails it", async () => {
  const f = await Fixture.create();
  try {
    const { code, doc, by } = await doctor(f);
    assert.equal(doc.schema_version, 2);
    assert.deepEqual(doc.checks.map((c) => c.name), NAMES);
    for (const c of doc.checks) {
      assert.ok(["ok", "warn", "fatal"].includes(c.status));
      assert.equal(typeof c.detail, "string");
      assert.equal(typeof c.remediation, "string");
    }
    assert.equal(by.get("bundle_freshness")!.status, "warn", by.get("bundle_freshness")!.detail);
    assert.equal(doc.summary.fatal, 0, JSON.stringify(doc.checks));
    assert.deepEqual(doc.summary, {
      total: NAMES.length,
      ok: NAMES.length - 1,
      warn: 1,
      fatal: 0,
      blocking: 0,
    });
    assert.equal(code, 0);
    const strict = await doctor(f, "--strict");
    assert.equal(strict.code, 1);
    assert.equal(strict.doc.summary.blocking, 1);

    const human = await basil(["doctor", "-c", f.config]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /^OK {4}config: /m);
    assert.match(human.stdout, /^WARN {2}bundle_freshness: no epoch sidecar/m);
  } finally {
    f.cleanup();
  }
});

Deno.test("doctor: never mutates without --keys; fatal rows exit 1 and name the problem", async () => {
  const f = await Fixture.create({ wipePassphrase: true });
  try {
    Deno.chmodSync(f.bundle, 0o644);
    Deno.writeTextFileSync(`${f.bundle}.epoch`, "7\n", { mode: 0o600 });
    const before = [f.bundle, `${f.bundle}.epoch`, f.passphrase, f.db].map(fileState);
    const { code, by, doc } = await doctor(f);
    assert.equal(code, 1);
    assert.equal(by.get("bundle_perms")!.status, "warn");
    assert.match(by.get("bundle_perms")!.detail, /0644/);
    assert.equal(by.get("bundle_freshness")!.status, "fatal");
    assert.match(by.get("bundle_freshness")!.detail, /epoch 1 .* records 7/);
    assert.notEqual(by.get("bundle_freshness")!.remediation, "");
    assert.equal(doc.summary.fatal, 1);
    assert.deepEqual([f.bundle, `${f.bundle}.epoch`, f.passphrase, f.db].map(fileState), before);

    // A socket path that is a regular file is fatal; the file is left alone.
    Deno.writeTextFileSync(f.socket, "not a socket");
    const s = await doctor(f);
    assert.equal(s.by.get("socket")!.status, "fatal");
    assert.match(s.by.get("socket")!.detail, /not a socket/);
    assert.equal(Deno.readTextFileSync(f.socket), "not a socket");
  } finally {
    f.cleanup();
  }
});

Deno.test("doctor: a world-writable socket mode warns; a live agent is seen, not disturbed", async () => {
  const f = await Fixture.create({ socketMode: "0666" });
  try {
    const w = await doctor(f);
    assert.equal(w.by.get("socket")!.status, "warn");
    assert.match(w.by.get("socket")!.detail, /world-writable/);
    f.writeConfig({});
    const agent = await f.start();
    try {
      const r = await doctor(f);
      assert.equal(r.by.get("socket")!.status, "ok");
      assert.match(r.by.get("socket")!.detail, /an agent is listening there/);
      // The agent created the sidecar at its unlock: freshness is now ok.
      assert.equal(r.by.get("bundle_freshness")!.status, "ok");
      assert.equal(r.code, 0);
      const h = await f.cli(["health"]);
      assert.equal(h.code, 0, h.stderr);
    } finally {
      await agent.stop();
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("doctor: broken inputs are fatal and the dependent checks say not run", async () => {
  const f = await Fixture.create();
  try {
    Deno.writeTextFileSync(
      f.catalog,
      '{"schemaVersion": 1, "backends": {}, "keys": {"Bad Name": {}}}',
    );
    const c = await doctor(f);
    assert.equal(c.code, 1);
    assert.equal(c.by.get("catalog_policy")!.status, "fatal");
    assert.match(c.by.get("capability")!.detail, /^not run: /);

    // A build feature this binary lacks (OTLP logging).
    const otlp = `${f.dir}/otlp.toml`;
    Deno.writeTextFileSync(
      otlp,
      Deno.readTextFileSync(f.config) + "[logging.opentelemetry]\nenable = true\n",
    );
    const k = await basil(["doctor", "-c", otlp, "--json"]);
    assert.equal(k.code, 1);
    const kdoc = JSON.parse(k.stdout) as Doc;
    const kby = new Map(kdoc.checks.map((x) => [x.name, x]));
    assert.equal(kby.get("feature_compatibility")!.status, "fatal");
    assert.match(kby.get("feature_compatibility")!.detail, /otlp/);

    const bad = `${f.dir}/bad.toml`;
    Deno.writeTextFileSync(bad, Deno.readTextFileSync(f.config) + "[invocation]\nenable = true\n");
    const r = await basil(["doctor", "-c", bad, "--json"]);
    assert.equal(r.code, 1);
    const doc = JSON.parse(r.stdout) as Doc;
    const by = new Map(doc.checks.map((x) => [x.name, x]));
    // Sealed invocation is built, but enabling it without its settings is a config error.
    assert.equal(by.get("config")!.status, "fatal");
    assert.match(by.get("config")!.detail, /invocation/);
    assert.equal(by.get("feature_compatibility")!.status, "ok");
    assert.match(by.get("feature_compatibility")!.detail, /sealed-invocation/);
  } finally {
    f.cleanup();
  }
});

Deno.test("doctor --keys: unlocks without wiping the passphrase file or writing the sidecar", async () => {
  const f = await Fixture.create({ wipePassphrase: true });
  try {
    const pass = fileState(f.passphrase);
    const { code, by, doc } = await doctor(f, "--keys");
    assert.equal(fileState(f.passphrase), pass, "the passphrase file was touched");
    assert.equal(fileState(`${f.bundle}.epoch`), "absent", "the sidecar was written");
    assert.equal(by.get("key_material")!.status, "warn", JSON.stringify(doc.checks));
    // Nothing exists yet: generate keys and the warn key are absent but allowed.
    assert.equal(by.get("key_material:app.api_token")!.status, "warn");
    assert.match(by.get("key_material:app.db_password")!.detail, /missing: generate/);
    assert.equal(code, 0);

    const agent = await f.start(); // generates the keys, wipes the passphrase file
    await agent.stop();
    assert.equal(fileState(f.passphrase), "absent");
  } finally {
    f.cleanup();
  }
});

Deno.test("doctor: backend reachability and --keys key material against the Vault double", async () => {
  const d = await startConfiguredDouble();
  const dead = await startConfiguredDouble();
  await dead.stop();
  const keys = {
    "app.present": {
      class: "value",
      backend: "bao",
      path: "secret/data/app/present",
      writable: true,
      missing: "error",
      description: "present",
    },
    "app.required": {
      class: "value",
      backend: "bao",
      path: "secret/data/app/required",
      writable: true,
      missing: "error",
      description: "absent and required",
    },
  };
  const f = await Fixture.create({
    catalog: { schemaVersion: 1, backends: { bao: vaultBackend(d.addr) }, keys },
    backendCreds: new Map([["bao", tokenCred(d.rootToken)]]),
  });
  try {
    const res = await fetch(`${d.addr}/v1/secret/data/app/present`, {
      method: "POST",
      headers: { "X-Vault-Token": d.rootToken },
      body: JSON.stringify({ data: { value: btoa("v") } }),
    });
    assert.ok(res.status < 300, await res.text());
    const ok = await doctor(f, "--keys");
    assert.equal(ok.by.get("backend_reachability")!.status, "ok");
    assert.match(ok.by.get("backend_reachability")!.detail, new RegExp(d.addr));
    assert.equal(ok.by.get("key_material:app.present")!.status, "ok");
    assert.equal(ok.by.get("key_material:app.required")!.status, "fatal");
    assert.equal(ok.by.get("key_material")!.status, "fatal");
    assert.equal(ok.code, 1);

    Deno.writeTextFileSync(
      f.catalog,
      JSON.stringify({ schemaVersion: 1, backends: { bao: vaultBackend(dead.addr) }, keys }),
    );
    const down = await doctor(f);
    assert.equal(down.by.get("backend_reachability")!.status, "fatal");
    assert.match(down.by.get("backend_reachability")!.detail, new RegExp(dead.addr));
    assert.equal(down.code, 1);
  } finally {
    f.cleanup();
    await d.close();
    await dead.close();
  }
});
