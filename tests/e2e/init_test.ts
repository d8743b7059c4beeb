/**
 * `basil init` through the real CLI: every backend and unlock method writes
 * files the agent's own loaders accept (checked by `basil doctor` on them),
 * existing files are never clobbered without --force, the files are 0600,
 * --from-sops turns a sops-nix file's secret names into value stubs and a
 * rule without copying any value, and a keystore init followed by the
 * printed `bundle create` starts an agent that signs as the printed example.
 */

import assert from "node:assert/strict";
import { basil } from "../helpers/cli.ts";

interface Doc {
  checks: { name: string; status: string; detail: string }[];
}

async function doctorOn(config: string): Promise<Map<string, { status: string; detail: string }>> {
  const r = await basil(["doctor", "-c", config, "--json"]);
  const doc = JSON.parse(r.stdout) as Doc;
  return new Map(doc.checks.map((c) => [c.name, c]));
}

const SOPS_YAML = `db_password: ENC[AES256_GCM,data:c2VjcmV0LXZhbHVlLTE=,iv:aXY=,tag:dGFn,type:str]
myservice:
    api-key: ENC[AES256_GCM,data:c2VjcmV0LXZhbHVlLTI=,iv:aXY=,tag:dGFn,type:str]
    nested:
        token: ENC[AES256_GCM,data:c2VjcmV0LXZhbHVlLTM=,iv:aXY=,tag:dGFn,type:str]
sops:
    kms: []
    age:
        - recipient: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            YWdlLWVuY3J5cHRpb24=
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2026-01-01T00:00:00Z"
    mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]
    version: 3.9.0
`;

Deno.test("init: every backend and unlock method writes inputs the loaders accept", async () => {
  const root = await Deno.makeTempDir({ prefix: "basil-init-" });
  try {
    for (const backend of ["openbao", "vault", "keystore"]) {
      for (const unlock of ["bip39", "passphrase", "tpm", "age-yubikey"]) {
        const dir = `${root}/${backend}-${unlock}`;
        const r = await basil(["init", "--backend", backend, "--unlock", unlock, "--dir", dir]);
        assert.equal(r.code, 0, r.stderr);
        for (const f of ["catalog.json", "policy.json", "basil-agent.toml"]) {
          assert.equal(Deno.statSync(`${dir}/${f}`).mode! & 0o777, 0o600, f);
        }
        assert.ok(!exists(`${dir}/bundle.sealed`), "init must not write a bundle");
        const by = await doctorOn(`${dir}/basil-agent.toml`);
        for (const name of ["config", "catalog_policy", "capability", "feature_compatibility"]) {
          assert.equal(
            by.get(name)?.status,
            "ok",
            `${backend}/${unlock} ${name}: ${by.get(name)?.detail}`,
          );
        }
        // The bundle is the operator's next step.
        assert.equal(by.get("bundle_readable")?.status, "fatal");
        const toml = Deno.readTextFileSync(`${dir}/basil-agent.toml`);
        assert.match(toml, new RegExp(`socket = "${dir}/basil.sock"`));
        assert.match(toml, /\[invocation\]\nenable = false/);
        assert.match(toml, /# \[broker-identity\]/);
        if (backend === "keystore") assert.match(toml, /db-keystore-cipher = "aegis256"/);
        else assert.match(toml, /vault-addr = "http:\/\/127\.0\.0\.1:8200"/);
        const catalog = JSON.parse(Deno.readTextFileSync(`${dir}/catalog.json`));
        assert.equal(catalog.backends.primary.kind, backend === "keystore" ? "keystore" : "vault");
        assert.equal(
          catalog.keys["example.signing_key"].path,
          backend === "keystore" ? "example/signing-key" : "example-signing-key",
        );
        // The printed next steps name the exact bundle command for this pair.
        const type = backend === "keystore" ? "db-keystore" : backend;
        assert.match(
          r.stdout,
          new RegExp(
            `basil bundle create ${dir}/bundle\\.sealed --slot \\S+ --backend id=primary,type=${type},`,
          ),
        );
        assert.match(r.stdout, new RegExp(`basil doctor --keys -c ${dir}/basil-agent\\.toml`));
        assert.match(r.stdout, new RegExp(`basil agent -c ${dir}/basil-agent\\.toml`));
        assert.match(r.stdout, /sign --key-id example\.signing_key/);
        if (backend !== "keystore") {
          assert.match(
            r.stdout,
            new RegExp(`${backend === "openbao" ? "bao" : "vault"} secrets enable`),
          );
        }
      }
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("init: refuses to overwrite (naming every file) unless --force; --socket wins", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-init-" });
  try {
    Deno.writeTextFileSync(`${dir}/policy.json`, "mine");
    const r = await basil(["init", "--dir", dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refusing to overwrite .*policy\.json.*--force/);
    assert.equal(Deno.readTextFileSync(`${dir}/policy.json`), "mine");
    assert.ok(!exists(`${dir}/catalog.json`));
    const sock = `${dir}/elsewhere.sock`;
    const f = await basil(["--socket", sock, "init", "--dir", dir, "--force"]);
    assert.equal(f.code, 0, f.stderr);
    assert.notEqual(Deno.readTextFileSync(`${dir}/policy.json`), "mine");
    assert.match(
      Deno.readTextFileSync(`${dir}/basil-agent.toml`),
      new RegExp(`socket = "${sock}"`),
    );
    const bad = await basil(["init", "--dir", `${dir}/x`, "--passphrase-file", "/p"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--passphrase-file goes with --unlock passphrase/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("init --from-sops: secret names become value stubs and one rule; no value is copied", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-init-" });
  try {
    Deno.writeTextFileSync(`${dir}/secrets.yaml`, SOPS_YAML);
    const r = await basil([
      "init",
      "--dir",
      `${dir}/out`,
      "--from-sops",
      `${dir}/secrets.yaml`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const catalog = JSON.parse(Deno.readTextFileSync(`${dir}/out/catalog.json`));
    const stubs = Object.keys(catalog.keys).filter((k) => k.startsWith("sops.")).sort();
    assert.deepEqual(stubs, [
      "sops.db_password",
      "sops.myservice.api_key",
      "sops.myservice.nested.token",
    ]);
    const stub = catalog.keys["sops.myservice.api_key"];
    assert.equal(stub.class, "value");
    assert.equal(stub.missing, "warn");
    assert.equal(stub.path, "secret/data/sops/myservice/api_key");
    assert.deepEqual(catalog.backends.primary.engines, ["transit", "kv2"]);
    const policy = JSON.parse(Deno.readTextFileSync(`${dir}/out/policy.json`));
    const rule = policy.rules.find((x: { id: string }) => x.id === "sops-migrator");
    assert.deepEqual(rule.target, ["sops.*"]);
    for (const f of ["catalog.json", "policy.json", "basil-agent.toml"]) {
      const text = Deno.readTextFileSync(`${dir}/out/${f}`);
      assert.ok(!/ENC\[|c2VjcmV0|AGE ENCRYPTED|bWFj/.test(text), `${f} holds sops material`);
    }
    assert.ok(!/ENC\[|c2VjcmV0/.test(r.stdout));
    assert.match(r.stdout, /sops -d --extract '\["db_password"\]'/);
    const by = await doctorOn(`${dir}/out/basil-agent.toml`);
    assert.equal(by.get("catalog_policy")?.status, "ok", String(by.get("catalog_policy")?.detail));
    assert.equal(by.get("capability")?.status, "ok", String(by.get("capability")?.detail));

    // JSON sops files too; a file without the sops block is refused.
    Deno.writeTextFileSync(
      `${dir}/s.json`,
      JSON.stringify({ token: "ENC[x]", sops: { version: "3.9.0" } }),
    );
    const j = await basil([
      "init",
      "--backend",
      "keystore",
      "--dir",
      `${dir}/j`,
      "--from-sops",
      `${dir}/s.json`,
    ]);
    assert.equal(j.code, 0, j.stderr);
    const jc = JSON.parse(Deno.readTextFileSync(`${dir}/j/catalog.json`));
    assert.equal(jc.keys["sops.token"].path, "sops/token");
    Deno.writeTextFileSync(`${dir}/plain.yaml`, "a: b\n");
    const n = await basil(["init", "--dir", `${dir}/n`, "--from-sops", `${dir}/plain.yaml`]);
    assert.equal(n.code, 1);
    assert.match(n.stderr, /not a sops file/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("init → bundle create (as printed) → doctor --keys → agent → sign", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-init-" });
  try {
    Deno.chmodSync(dir, 0o700);
    const pass = `${dir}/pass.txt`;
    Deno.writeTextFileSync(pass, crypto.randomUUID(), { mode: 0o600 });
    const dek = `${dir}/dek.bin`;
    const key = crypto.getRandomValues(new Uint8Array(32));
    if (key[31] === 0x0a || key[31] === 0x0d) key[31] = 0;
    Deno.writeFileSync(dek, key, { mode: 0o600 });
    const w = `${dir}/w`;
    const r = await basil([
      "init",
      "--backend",
      "keystore",
      "--unlock",
      "passphrase",
      "--passphrase-file",
      pass,
      "--dir",
      w,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const create = /basil (bundle create \S+ --slot \S+ --backend \S+)/.exec(r.stdout)![1]!
      .replace("REPLACE_WITH_DEK_FILE", dek);
    const b = await basil(create.split(" "));
    assert.equal(b.code, 0, b.stderr);
    // Keep the passphrase file for the agent's restart in this test.
    Deno.writeTextFileSync(
      `${w}/basil-agent.toml`,
      Deno.readTextFileSync(`${w}/basil-agent.toml`).replace(
        "[unlock]\n",
        "[unlock]\nunlock-passphrase-no-wipe = true\n",
      ),
    );
    const d = await basil(["doctor", "--keys", "-c", `${w}/basil-agent.toml`, "--json"]);
    const doc = JSON.parse(d.stdout) as Doc;
    assert.ok(
      doc.checks.every((c) => c.status !== "fatal"),
      JSON.stringify(doc.checks.filter((c) => c.status !== "ok")),
    );
    assert.equal(d.code, 0);
    const sign = /basil (--socket \S+ sign --key-id example\.signing_key) '([^']+)'/.exec(
      r.stdout,
    )!;
    const agent = new Deno.Command("deno", {
      args: ["task", "-q", "basil", "agent", "-c", `${w}/basil-agent.toml`],
      cwd: new URL("../../", import.meta.url).pathname,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const reader = agent.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let drain: Promise<void> = Promise.resolve();
    try {
      let log = "";
      while (!log.includes('"agent listening"')) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`agent exited: ${log}`);
        log += value;
      }
      drain = (async () => {
        while (!(await reader.read()).done) { /* keep the pipe drained */ }
      })();
      const s = await basil([...sign[1]!.split(" "), sign[2]!]);
      assert.equal(s.code, 0, s.stderr);
      assert.match(s.stdout, /^[0-9a-f]{128}\n$/);
    } finally {
      agent.kill("SIGTERM");
      await agent.status;
      await drain;
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

function exists(p: string): boolean {
  try {
    Deno.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
