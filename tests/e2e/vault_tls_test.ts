/**
 * TLS to the vault backend: the double serves https with a certificate
 * from a throwaway CA made by `openssl`. The agent trusts that CA only
 * through `vault-ca-file` (read inside its sandbox); without it the
 * backend is unreachable (the certificate is not trusted), never a
 * plaintext fallback; a CA file without a readable certificate stops the
 * start. Plain `http://` to a host that is not loopback is logged as a
 * warning; loopback is not.
 */

import assert from "node:assert/strict";
import { isLoopbackHost, openVaultBackend } from "../../lib/backends/vault/mod.ts";
import { BasilError } from "../../lib/core/errors.ts";
import type { Logger } from "../../lib/core/log.ts";
import { Fixture, readProc, runAgentToExit } from "../helpers/fixture.ts";
import { gated } from "../helpers/peers.ts";
import { startConfiguredDouble, type VaultDouble } from "../fakes/vault/server.ts";
import { run, tokenCred, vaultBackend, vaultPolicy } from "./vault_helpers.ts";

/** A CA and a server certificate for 127.0.0.1, made by openssl in `dir`. */
async function makeCerts(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ok = async (args: string[]) => {
    const r = await run("openssl", args);
    assert.equal(r.code, 0, `openssl ${args.join(" ")}: ${r.err}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await ok([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.pem`,
    "-days",
    "2",
    "-subj",
    "/CN=Basil test vault CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await ok([
    "req",
    ...ec,
    "-keyout",
    `${dir}/srv.key`,
    "-out",
    `${dir}/srv.csr`,
    "-subj",
    "/CN=vault",
  ]);
  Deno.writeTextFileSync(
    `${dir}/ext.cnf`,
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await ok([
    "x509",
    "-req",
    "-in",
    `${dir}/srv.csr`,
    "-CA",
    `${dir}/ca.pem`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-out",
    `${dir}/srv.pem`,
    "-days",
    "2",
    "-extfile",
    `${dir}/ext.cnf`,
  ]);
  const read = (n: string) => Deno.readTextFileSync(`${dir}/${n}`);
  return { ca: read("ca.pem"), cert: read("srv.pem"), key: read("srv.key") };
}

async function withTlsDouble(fn: (d: VaultDouble, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "basil-vault-tls-" });
  Deno.chmodSync(dir, 0o755);
  let d: VaultDouble | undefined;
  try {
    d = await startConfiguredDouble({ tls: await makeCerts(dir) });
    assert.match(d.addr, /^https:\/\/127\.0\.0\.1:\d+$/);
    await fn(d, dir);
  } finally {
    await d?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function recorder(lines: { level: string; msg: string }[]): Logger {
  return { log: (level, msg) => lines.push({ level, msg }) };
}

const settings = (d: VaultDouble, extra: Record<string, unknown> = {}) => ({
  name: "bao",
  addr: d.addr,
  cred: tokenCred(d.rootToken),
  transitMount: "transit",
  jwt: { mount: "jwt", role: "", audience: "openbao", ttlSecs: 300 },
  graceVersions: 1,
  retries: 0,
  logger: { log() {} } as Logger,
  ...extra,
});

Deno.test(gated(["openssl"], {
  name: "https backend: trusted through the CA file, unreachable without it",
  async fn() {
    await withTlsDouble(async (d, dir) => {
      const ca = Deno.readTextFileSync(`${dir}/ca.pem`);
      const trusted = await openVaultBackend(settings(d, { caCertPem: ca }));
      try {
        assert.equal((await trusted.transit!.create("k", "ed25519")).version, 1);
        const sig = await trusted.transit!.sign("k", "ed25519", new Uint8Array([1]), 1);
        assert.equal(sig.length, 64);
      } finally {
        trusted.close();
      }
      const lines: { level: string; msg: string }[] = [];
      const untrusted = await openVaultBackend(settings(d, { logger: recorder(lines) }));
      try {
        assert.ok(lines.some((l) => l.msg.includes("unreachable at start")));
        await assert.rejects(untrusted.transit!.info("k"), (e) => {
          assert.ok(e instanceof BasilError && e.code === "BACKEND_UNAVAILABLE", String(e));
          assert.match(e.detail ?? "", /certificate|UnknownIssuer/i);
          return true;
        });
      } finally {
        untrusted.close();
      }
    });
  },
}));

Deno.test(gated(["openssl"], {
  name: "agent with vault-ca-file serves an https backend; without it the start fails closed",
  async fn() {
    await withTlsDouble(async (d, dir) => {
      const f = await Fixture.create({
        catalog: {
          schemaVersion: 1,
          backends: { bao: vaultBackend(d.addr) },
          keys: {
            "sig.ed25519": {
              class: "asymmetric",
              keyType: "ed25519",
              backend: "bao",
              path: "sig-ed25519",
              writable: true,
              missing: "generate",
              description: "over https",
            },
          },
        },
        policy: vaultPolicy,
        backendCreds: new Map([["bao", tokenCred(d.rootToken)]]),
        configExtra: `vault-ca-file = ${JSON.stringify(`${dir}/ca.pem`)}`,
      });
      try {
        const a = await f.start();
        try {
          // The CA file is read inside the sandbox: it is in the agent's read grant.
          const argv = new TextDecoder().decode(readProc(`/proc/${a.agentPid}/cmdline`));
          const read = argv.split("\0").find((x) => x.startsWith("--allow-read="))!;
          assert.ok(read.slice(13).split(",").includes(`${dir}/ca.pem`), read);
          const s = await f.cli(["sign", "--key-id", "sig.ed25519", "m"]);
          assert.match(s.stdout, /^[0-9a-f]{128}\n$/, s.stderr);
          assert.equal(d.hits.get("POST transit/sign/sig-ed25519"), 1);
        } finally {
          assert.equal((await a.stop()).code, 0);
        }
        f.writeConfig({});
        const r = await runAgentToExit(f);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /reconcile failed for: sig\.ed25519 \(backend unavailable\)/);
      } finally {
        f.cleanup();
      }
    });
  },
}));

Deno.test("plain http to a host that is not loopback is a warning; loopback is not", async () => {
  for (
    const [url, loopback] of [
      ["http://127.0.0.1:1", true],
      ["http://127.9.8.7:1", true],
      ["http://localhost:1", true],
      ["http://[::1]:1", true],
      ["http://[::ffff:127.0.0.1]:1", true],
      ["http://0.0.0.0:1", false],
      ["http://[::ffff:10.0.0.1]:1", false],
      ["http://128.0.0.1:1", false],
      ["http://127.0.0.1.example.com:1", false],
    ] as const
  ) {
    assert.equal(isLoopbackHost(new URL(url).hostname), loopback, url);
  }
  const d = await startConfiguredDouble();
  try {
    const port = new URL(d.addr).port;
    for (
      const [addr, warned] of [
        [d.addr, false],
        [`http://localhost:${port}`, false],
        // 0.0.0.0 reaches the local listener, but it is not a loopback address.
        [`http://0.0.0.0:${port}`, true],
      ] as const
    ) {
      const lines: { level: string; msg: string }[] = [];
      const b = await openVaultBackend(settings(d, { addr, logger: recorder(lines) }));
      try {
        const warning = lines.filter((l) => l.level === "warn" && l.msg.includes("plaintext"));
        assert.equal(warning.length, warned ? 1 : 0, `${addr}: ${JSON.stringify(lines)}`);
        assert.equal(await b.transit!.info("absent"), undefined, addr);
      } finally {
        b.close();
      }
    }
  } finally {
    await d.close();
  }
});

Deno.test("a vault-ca-file without a readable certificate stops the start, naming the setting", async () => {
  const d = await startConfiguredDouble();
  const f = await Fixture.create({
    catalog: { schemaVersion: 1, backends: { bao: vaultBackend(d.addr) }, keys: {} },
    policy: vaultPolicy,
    backendCreds: new Map([["bao", tokenCred(d.rootToken)]]),
  });
  try {
    const bad = `${f.dir}/ca.pem`;
    for (
      const text of [
        "not a certificate\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      ]
    ) {
      Deno.writeTextFileSync(bad, text);
      f.writeConfig({ configExtra: `vault-ca-file = ${JSON.stringify(bad)}` });
      const r = await runAgentToExit(f);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /basil agent: backend bao: vault-ca-file holds no readable PEM certificate/,
      );
    }
  } finally {
    f.cleanup();
    await d.close();
  }
});
