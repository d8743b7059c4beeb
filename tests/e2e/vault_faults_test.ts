/**
 * The vault backend under faults, against the double: down at start and
 * mid-run, 5xx, slow answers (timeouts), malformed/huge/redirecting
 * answers, and token life (AppRole renewal, expiry and re-login,
 * revocation, SpiffeSigner JWT login) with no failed request.
 */

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import type { Backend } from "../../lib/backends/backend.ts";
import { openVaultBackend, type VaultBackendOptions } from "../../lib/backends/vault/mod.ts";
import { BasilError, FIXED_MESSAGES, InputError } from "../../lib/core/errors.ts";
import type { Logger } from "../../lib/core/log.ts";
import { SecretBytes } from "../../lib/core/secret.ts";
import { startConfiguredDouble, type VaultDouble } from "../fakes/vault/server.ts";

const enc = new TextEncoder();
const MSG = enc.encode("fault message");

async function rootCall(d: VaultDouble, method: string, path: string, body?: unknown) {
  const res = await fetch(`${d.addr}/v1/${path}`, {
    method,
    headers: { "X-Vault-Token": d.rootToken },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
  return text === "" ? undefined : JSON.parse(text);
}

/** An AppRole whose tokens live `ttl` seconds (max `maxTtl`), full access. */
async function appRole(d: VaultDouble, ttl: number, maxTtl: number) {
  await rootCall(d, "POST", "sys/policies/acl/basil", {
    policy: 'path "transit/*" { capabilities = ["create", "read", "update"] }\n' +
      'path "secret/*" { capabilities = ["create", "read", "update"] }',
  });
  await rootCall(d, "POST", "auth/approle/role/basil", {
    token_ttl: ttl,
    token_max_ttl: maxTtl,
    token_policies: ["basil"],
  });
  const roleId = (await rootCall(d, "GET", "auth/approle/role/basil/role-id")).data.role_id;
  const secretId = (await rootCall(d, "POST", "auth/approle/role/basil/secret-id")).data.secret_id;
  return { roleId: roleId as string, secretId: secretId as string };
}

function recordingLogger(lines: string[]): Logger {
  return { log: (level, msg, fields) => lines.push(JSON.stringify({ level, msg, ...fields })) };
}

function options(
  d: VaultDouble,
  cred: VaultBackendOptions["cred"],
  extra: Partial<VaultBackendOptions> = {},
): VaultBackendOptions {
  return {
    name: "bao",
    addr: d.addr,
    cred,
    transitMount: "transit",
    jwt: { mount: "jwt", role: "basil", audience: "openbao", ttlSecs: 300 },
    graceVersions: 1,
    logger: { log() {} },
    ...extra,
  };
}

function tokenCred(d: VaultDouble): VaultBackendOptions["cred"] {
  return { type: "VaultToken", token: SecretBytes.copyOf(enc.encode(d.rootToken)) };
}

const code = (c: string) => (e: unknown) => e instanceof BasilError && e.code === c;

async function withDouble(fn: (d: VaultDouble) => Promise<void>): Promise<void> {
  const d = await startConfiguredDouble();
  try {
    await fn(d);
  } finally {
    await d.close();
  }
}

async function withBackend(
  o: VaultBackendOptions,
  fn: (b: Backend) => Promise<void>,
): Promise<void> {
  const b = await openVaultBackend(o);
  try {
    await fn(b);
  } finally {
    b.close();
  }
}

Deno.test("backend down at start: the start goes on, probes say unavailable, then it recovers", async () => {
  await withDouble(async (d) => {
    const { roleId, secretId } = await appRole(d, 60, 600);
    await d.stop();
    const lines: string[] = [];
    const cred = {
      type: "VaultAppRole" as const,
      role_id: roleId,
      secret_id: SecretBytes.copyOf(enc.encode(secretId)),
    };
    await withBackend(
      options(d, cred, { logger: recordingLogger(lines), retries: 0 }),
      async (b) => {
        assert.ok(lines.some((l) => l.includes("unreachable at start")));
        await assert.rejects(b.transit!.info("k"), code("BACKEND_UNAVAILABLE"));
        d.restart();
        await rootCall(d, "POST", "transit/keys/k", { type: "ed25519" });
        assert.equal((await b.transit!.info("k"))!.latest, 1);
      },
    );
    assert.ok(!lines.some((l) => l.includes(secretId)), "no secret_id in logs");
  });
});

Deno.test("backend down mid-run: BACKEND_UNAVAILABLE, then the same backend works again", async () => {
  await withDouble(async (d) => {
    await withBackend(options(d, tokenCred(d), { retries: 0 }), async (b) => {
      await b.transit!.create("k", "ed25519");
      await d.stop();
      await assert.rejects(b.transit!.sign("k", "ed25519", MSG, 1), code("BACKEND_UNAVAILABLE"));
      await assert.rejects(b.kv!.read("secret/data/x"), code("BACKEND_UNAVAILABLE"));
      d.restart();
      assert.equal((await b.transit!.sign("k", "ed25519", MSG, 1)).length, 64);
    });
  });
});

Deno.test("5xx: 500 is BACKEND_ERROR, 503 BACKEND_UNAVAILABLE, decrypt's 500 is not DECRYPT_FAILED", async () => {
  await withDouble(async (d) => {
    await withBackend(options(d, tokenCred(d), { retries: 1 }), async (b) => {
      await b.transit!.create("a", "aes-256-gcm");
      const env = await b.transit!.encrypt("a", "aes-256-gcm", MSG, undefined, 1);
      d.faults.status = 500;
      await assert.rejects(b.transit!.sign("a", "ed25519", MSG, 1), code("BACKEND_ERROR"));
      await assert.rejects(
        b.transit!.decrypt("a", "aes-256-gcm", env, undefined),
        code("BACKEND_ERROR"),
      );
      d.faults.status = 503;
      const before = d.hits.get("GET transit/keys/a") ?? 0;
      await assert.rejects(b.transit!.info("a"), code("BACKEND_UNAVAILABLE"));
      assert.equal(
        (d.hits.get("GET transit/keys/a") ?? 0) - before,
        2,
        "one retry of an idempotent read",
      );
      const posts = d.hits.get("POST transit/sign/a") ?? 0;
      await assert.rejects(b.transit!.sign("a", "ed25519", MSG, 1), code("BACKEND_UNAVAILABLE"));
      assert.equal((d.hits.get("POST transit/sign/a") ?? 0) - posts, 1, "writes are never retried");
      d.faults.status = undefined;
      assert.deepEqual(await b.transit!.decrypt("a", "aes-256-gcm", env, undefined), MSG);
    });
  });
});

Deno.test("slow answers time out as BACKEND_UNAVAILABLE", async () => {
  await withDouble(async (d) => {
    await withBackend(options(d, tokenCred(d), { timeoutMs: 150, retries: 0 }), async (b) => {
      d.faults.delayMs = 2000;
      await assert.rejects(b.transit!.info("k"), (e) => {
        assert.ok(code("BACKEND_UNAVAILABLE")(e));
        assert.match((e as BasilError).detail ?? "", /timed out/);
        return true;
      });
      d.faults.delayMs = undefined;
    });
  });
});

Deno.test("malformed, mistyped, huge and redirecting answers are BACKEND_ERROR with the fixed message", async () => {
  await withDouble(async (d) => {
    await withBackend(options(d, tokenCred(d), { maxBodyBytes: 1024 * 1024 }), async (b) => {
      await b.transit!.create("k", "ed25519");
      await b.kv!.write("secret/data/v", MSG);
      for (const body of ["malformed-json", "wrong-types", "huge", "redirect"] as const) {
        d.faults.body = body;
        const calls = [
          () => b.transit!.sign("k", "ed25519", MSG, 1),
          () => b.transit!.info("k"),
          () => b.kv!.read("secret/data/v"),
        ];
        for (const call of calls) {
          await assert.rejects(call(), (e) => {
            assert.ok(code("BACKEND_ERROR")(e), `${body}: ${e}`);
            assert.equal((e as Error).message, FIXED_MESSAGES.BACKEND_ERROR);
            return true;
          });
        }
      }
      d.faults.body = undefined;
      assert.equal((await b.kv!.read("secret/data/v"))!.version, 1);
    });
  });
});

Deno.test("AppRole: renewal and re-login after expiry, no request fails", async () => {
  await withDouble(async (d) => {
    // 6 s leases renewed at 4 s up to an 8 s max: that renewal returns a
    // lease too short to keep (4 s), so a fresh login replaces it.
    const { roleId, secretId } = await appRole(d, 6, 8);
    const cred = {
      type: "VaultAppRole" as const,
      role_id: roleId,
      secret_id: SecretBytes.copyOf(enc.encode(secretId)),
    };
    await withBackend(options(d, cred), async (b) => {
      await b.transit!.create("k", "ed25519");
      // Eight callers keep requests in flight the whole time, so some are
      // running while the short last renewal is replaced by a new login
      // (that renewal must not wipe the token those requests still use).
      let ok = 0;
      const done = () => d.auth.stats.renewals >= 1 && d.auth.stats.logins >= 2;
      await Promise.all(Array.from({ length: 8 }, async () => {
        let after = 0; // keep going a little past the new login
        for (let i = 0; i < 20_000 && after < 50; i++) {
          assert.equal((await b.transit!.sign("k", "ed25519", MSG, 1)).length, 64);
          ok++;
          if (done()) after++;
        }
      }));
      assert.ok(d.auth.stats.renewals >= 1, "renewed");
      assert.ok(d.auth.stats.logins >= 2, "logged in again at max TTL");
      assert.ok(ok > 0);
    });
  });
});

Deno.test("AppRole: a revoked token is replaced by a new login on the failing request", async () => {
  await withDouble(async (d) => {
    const { roleId, secretId } = await appRole(d, 600, 6000);
    const cred = {
      type: "VaultAppRole" as const,
      role_id: roleId,
      secret_id: SecretBytes.copyOf(enc.encode(secretId)),
    };
    await withBackend(options(d, cred), async (b) => {
      await b.transit!.create("k", "ed25519");
      for (const [id, t] of d.auth.tokens) {
        if (!t.policies.includes("root")) d.auth.tokens.delete(id);
      }
      assert.equal((await b.transit!.sign("k", "ed25519", MSG, 1)).length, 64);
      assert.equal(d.auth.stats.logins, 2);
    });
    // A wrong secret_id stops the start with a clear line that does not carry it.
    const wrong = {
      type: "VaultAppRole" as const,
      role_id: roleId,
      secret_id: SecretBytes.copyOf(enc.encode("wrong-secret-id")),
    };
    await assert.rejects(openVaultBackend(options(d, wrong)), (e) => {
      assert.ok(e instanceof InputError && e.token === "backend_login_failed", String(e));
      assert.equal(
        e.message,
        "backend bao: the vault backend refused the VaultAppRole credential " +
          "(vault login auth/approle/login: HTTP 400: invalid role or secret ID)",
      );
      assert.ok(!e.message.includes("wrong-secret-id"));
      return true;
    });
  });
});

Deno.test("SpiffeSigner: the broker mints its JWT-SVID and logs in at auth/<mount>/login", async () => {
  await withDouble(async (d) => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await rootCall(d, "POST", "sys/policies/acl/basil", {
      policy: 'path "transit/*" { capabilities = ["create", "read", "update"] }',
    });
    await rootCall(d, "POST", "auth/jwt/config", {
      jwt_validation_pubkeys: [publicKey.export({ type: "spki", format: "pem" })],
    });
    await rootCall(d, "POST", "auth/jwt/role/basil", {
      role_type: "jwt",
      bound_audiences: ["openbao"],
      bound_subject: "spiffe://example.org/basil",
      user_claim: "sub",
      token_ttl: 600,
      token_policies: ["basil"],
    });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    const cred = {
      type: "SpiffeSigner" as const,
      key_pem: SecretBytes.copyOf(enc.encode(pem)),
      spiffe_id: "spiffe://example.org/basil",
    };
    await withBackend(options(d, cred), async (b) => {
      assert.equal(b.statusName, "spiffe-vault");
      assert.equal((await b.transit!.create("k", "ed25519")).version, 1);
      assert.equal(d.auth.stats.logins, 1);
      for (const [id, t] of d.auth.tokens) {
        if (!t.policies.includes("root")) d.auth.tokens.delete(id);
      }
      assert.equal((await b.transit!.sign("k", "ed25519", MSG, 1)).length, 64);
      assert.equal(d.auth.stats.logins, 2);
    });
    const other = {
      ...cred,
      spiffe_id: "spiffe://example.org/intruder",
      key_pem: SecretBytes.copyOf(enc.encode(pem)),
    };
    await assert.rejects(
      openVaultBackend(options(d, other)),
      /^InputError: backend bao: the vault backend refused the SpiffeSigner credential \(vault login auth\/jwt\/login: HTTP 400: /,
    );
  });
});

Deno.test("VaultToken: a renewable static token is renewed before it expires, no request fails", async () => {
  await withDouble(async (d) => {
    await rootCall(d, "POST", "sys/policies/acl/basil", {
      policy: 'path "transit/*" { capabilities = ["create", "read", "update"] }',
    });
    // 6 s leases, renewed at 4 s (two thirds), up to a 60 s max.
    const made = await rootCall(d, "POST", "auth/token/create", {
      policies: ["basil"],
      ttl: "6s",
      explicit_max_ttl: "60s",
      renewable: true,
    });
    const cred = {
      type: "VaultToken" as const,
      token: SecretBytes.copyOf(enc.encode(made.auth.client_token)),
    };
    await withBackend(options(d, cred), async (b) => {
      await b.transit!.create("k", "ed25519");
      let ok = 0;
      while (d.auth.stats.renewals < 2) {
        assert.equal((await b.transit!.sign("k", "ed25519", MSG, 1)).length, 64);
        ok++;
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.ok(ok > 0);
      assert.equal(d.auth.stats.logins, 0, "a static token is never replaced by a login");
      assert.ok(d.auth.tokens.has(made.auth.client_token), "the same token, still live");
    });
  });
});

Deno.test("SpiffeSigner: the token is refreshed by a new JWT login before it expires", async () => {
  await withDouble(async (d) => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await rootCall(d, "POST", "sys/policies/acl/basil", {
      policy: 'path "transit/*" { capabilities = ["create", "read", "update"] }',
    });
    await rootCall(d, "POST", "auth/jwt/config", {
      jwt_validation_pubkeys: [publicKey.export({ type: "spki", format: "pem" })],
    });
    // 3 s tokens: shorter than the 10 s early margin, so refreshed at two thirds.
    await rootCall(d, "POST", "auth/jwt/role/basil", {
      role_type: "jwt",
      bound_audiences: ["openbao"],
      bound_subject: "spiffe://example.org/basil",
      user_claim: "sub",
      token_ttl: 3,
      token_policies: ["basil"],
    });
    const cred = {
      type: "SpiffeSigner" as const,
      key_pem: SecretBytes.copyOf(
        enc.encode(privateKey.export({ type: "pkcs8", format: "pem" }) as string),
      ),
      spiffe_id: "spiffe://example.org/basil",
    };
    await withBackend(options(d, cred), async (b) => {
      await b.transit!.create("k", "ed25519");
      while (d.auth.stats.logins < 3) {
        assert.equal((await b.transit!.sign("k", "ed25519", MSG, 1)).length, 64);
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  });
});

Deno.test("decrypt: only transit's 400 is DECRYPT_FAILED; an ACL 403 is BACKEND_ERROR", async () => {
  await withDouble(async (d) => {
    await rootCall(d, "POST", "sys/policies/acl/no-decrypt", {
      policy: 'path "transit/keys/*" { capabilities = ["create", "read", "update"] }\n' +
        'path "transit/encrypt/*" { capabilities = ["update"] }',
    });
    const made = await rootCall(d, "POST", "auth/token/create", { policies: ["no-decrypt"] });
    const cred = {
      type: "VaultToken" as const,
      token: SecretBytes.copyOf(enc.encode(made.auth.client_token)),
    };
    await withBackend(options(d, cred), async (b) => {
      await b.transit!.create("a", "aes-256-gcm");
      const env = await b.transit!.encrypt("a", "aes-256-gcm", MSG, undefined, 1);
      await assert.rejects(b.transit!.decrypt("a", "aes-256-gcm", env, undefined), (e) => {
        assert.ok(code("BACKEND_ERROR")(e), String(e));
        assert.match((e as BasilError).detail ?? "", /HTTP 403/);
        return true;
      });
      const bad = { ...env, ciphertext: env.ciphertext.map((x, i) => i === 0 ? x ^ 1 : x) };
      await rootCall(d, "POST", "sys/policies/acl/no-decrypt", {
        policy: 'path "transit/*" { capabilities = ["create", "read", "update"] }',
      });
      await assert.rejects(
        b.transit!.decrypt("a", "aes-256-gcm", bad, undefined),
        code("DECRYPT_FAILED"),
      );
      assert.deepEqual(await b.transit!.decrypt("a", "aes-256-gcm", env, undefined), MSG);
    });
  });
});
