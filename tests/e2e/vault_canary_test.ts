/**
 * Vault canaries never leak. The double's root token (the bundle's
 * `VaultToken`), an AppRole secret_id (a second backend's `VaultAppRole`),
 * a third backend's `SpiffeSigner` RSA key, the tokens both logins return,
 * and a KV value are planted with unique strings; the agent is driven through its vault paths (reconcile,
 * readiness, allowed, denied and failing reads, writes, signing, a backend
 * 500, malformed answers, the backend down) at debug log level; then every
 * output is searched for the canaries in raw, hex and base64 form: CLI
 * stdout and stderr, the agent's stderr, the audit log, the bundle, and
 * the agent process's /proc cmdline and environ. A start refused for a
 * wrong secret_id is searched too.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { generateKeyPairSync } from "node:crypto";
import { SecretBytes } from "../../lib/core/secret.ts";
import type { BackendCred } from "../../lib/seal/creds.ts";
import { Fixture, readProc, runAgentToExit } from "../helpers/fixture.ts";
import { assertNoCanary, readIfExists } from "../helpers/canary.ts";
import {
  appRoleCred,
  rootCall,
  startBasilDouble,
  tokenCred,
  vaultBackend,
} from "./vault_helpers.ts";

const enc = new TextEncoder();

function catalog(addr: string): unknown {
  const key = (backend: string, k: Record<string, unknown>) => ({
    backend,
    writable: true,
    description: "canary test key",
    ...k,
  });
  return {
    schemaVersion: 1,
    backends: { bao: vaultBackend(addr), role: vaultBackend(addr), spiffe: vaultBackend(addr) },
    keys: {
      "app.api_token": key("bao", { class: "value", path: "secret/data/app/api-token" }),
      "app.db_password": key("bao", {
        class: "value",
        path: "secret/data/app/db-password",
        missing: "generate",
        generate: { format: "base64", bytes: 24 },
      }),
      "ops.root_token": key("bao", { class: "value", path: "secret/data/ops/root-token" }),
      "sig.ed25519": key("bao", {
        class: "asymmetric",
        keyType: "ed25519",
        path: "sig-ed25519",
        missing: "generate",
      }),
      "role.value": key("role", {
        class: "value",
        path: "secret/data/role/value",
        missing: "generate",
        generate: { format: "hex", bytes: 16 },
      }),
      "role.sig": key("role", {
        class: "asymmetric",
        keyType: "ed25519",
        path: "role-sig",
        missing: "generate",
      }),
      "spiffe.sig": key("spiffe", {
        class: "asymmetric",
        keyType: "ed25519",
        path: "spiffe-sig",
        missing: "generate",
      }),
    },
  };
}

function policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    rules: [{
      id: "app",
      subjects: ["app"],
      action: ["*"],
      target: ["app.*", "sig.*", "role.*", "spiffe.*"],
    }],
  };
}

Deno.test("vault canaries: token, secret_id, SpiffeSigner key, login tokens and KV value appear in no output", async () => {
  const tag = crypto.randomUUID().replaceAll("-", "");
  const token = `CANARY-TOKEN-${tag}`;
  const secretId = `CANARY-SECRETID-${tag}`;
  const wrongSecretId = `CANARY-WRONG-SECRETID-${tag}`;
  const value = `CANARY-VALUE-${tag}`;
  const d = await startBasilDouble({ rootToken: token });
  const roleId = (await rootCall(d, "GET", "auth/approle/role/basil/role-id")).data.role_id;
  await rootCall(d, "POST", "auth/approle/role/basil/custom-secret-id", { secret_id: secretId });
  // The value lives in the backend only; the agent reads it (reconcile, readiness, get).
  await rootCall(d, "POST", "secret/data/app/api-token", {
    data: { value: Buffer.from(value).toString("base64") },
  });
  await rootCall(d, "POST", "secret/data/ops/root-token", {
    data: { value: Buffer.from(value).toString("base64") },
  });
  // SpiffeSigner: the broker signs its own JWT-SVID with this key for auth/jwt/login.
  const signer = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = signer.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const keyDer = new Uint8Array(signer.privateKey.export({ type: "pkcs8", format: "der" }));
  await rootCall(d, "POST", "auth/jwt/config", {
    jwt_validation_pubkeys: [signer.publicKey.export({ type: "spki", format: "pem" })],
  });
  await rootCall(d, "POST", "auth/jwt/role/basil", {
    role_type: "jwt",
    bound_audiences: ["openbao"],
    bound_subject: "spiffe://example.org/basil",
    user_claim: "sub",
    token_ttl: 600,
    token_policies: ["basil"],
  });
  const spiffeCred: BackendCred = {
    type: "SpiffeSigner",
    key_pem: SecretBytes.copyOf(enc.encode(keyPem)),
    spiffe_id: "spiffe://example.org/basil",
  };
  const f = await Fixture.create({
    catalog: catalog(d.addr),
    policy,
    backendCreds: new Map<string, BackendCred>([
      ["bao", tokenCred(token)],
      ["role", appRoleCred(roleId, secretId)],
      ["spiffe", spiffeCred],
    ]),
    configExtra: 'jwt-role = "basil"\n[logging]\nlevel = "debug"',
  });
  const outputs: [string, Uint8Array][] = [];
  const run = async (args: string[], stdin?: string) => {
    const r = await f.cli(args, stdin === undefined ? {} : { stdin });
    outputs.push([`stdout of basil ${args.join(" ")}`, r.stdoutBytes]);
    outputs.push([`stderr of basil ${args.join(" ")}`, enc.encode(r.stderr)]);
    return r;
  };
  const canaries: Record<string, Uint8Array> = {
    token: enc.encode(token),
    secret_id: enc.encode(secretId),
    value: enc.encode(value),
    spiffe_key_pem: enc.encode(keyPem),
    spiffe_key_der: keyDer,
  };
  const watchLoginTokens = () => {
    for (const [id, t] of d.auth.tokens) {
      if (!t.policies.includes("root")) canaries[`login token ${id.slice(0, 4)}`] = enc.encode(id);
    }
  };
  try {
    const a = await f.start();
    try {
      assert.equal(d.auth.stats.logins, 2, "the AppRole and SpiffeSigner backends logged in");
      watchLoginTokens();
      assert.equal(Object.keys(canaries).length, 7, "two login tokens to watch");
      for (
        const args of [
          ["status", "--json"],
          ["health"],
          ["ready", "--json"],
          ["list"],
          ["get", "--key-id", "app.db_password"],
          ["rotate", "--key-id", "app.db_password"],
          ["get", "--key-id", "app.api_token", "--version", "99"],
          ["get", "--key-id", "ops.root_token"],
          ["get", "--key-id", "no.such.key"],
          ["get", "--key-id", "role.value"],
          ["sign", "--key-id", "sig.ed25519", "m"],
          ["sign", "--key-id", "role.sig", "m"],
          ["mint-jwt", "--key-id", "role.sig", "--sub", "x"],
          ["sign", "--key-id", "spiffe.sig", "m"],
          ["explain", "-c", f.config, "--subject", "app", "--op", "get", "--key", "app.api_token"],
          ["bundle", "show", f.bundle],
        ]
      ) await run(args);
      assert.equal(
        (await run(["set", "--key-id", "role.value", "--value-file", "-"], "v2")).code,
        0,
      );
      // Failing backends: a 500, malformed and mistyped answers, then the backend down.
      for (const fault of ["status", "malformed-json", "wrong-types"] as const) {
        if (fault === "status") d.faults.status = 500;
        else d.faults.body = fault;
        await run(["get", "--key-id", "app.api_token"]);
        await run(["get", "--key-id", "role.value"]);
        await run(["sign", "--key-id", "role.sig", "m"]);
        await run(["sign", "--key-id", "spiffe.sig", "m"]);
        d.faults.status = undefined;
        d.faults.body = undefined;
      }
      // Revoked login tokens: the agent logs in again (secret_id, a fresh JWT-SVID).
      for (const [id, t] of d.auth.tokens) {
        if (!t.policies.includes("root")) d.auth.tokens.delete(id);
      }
      assert.equal((await run(["sign", "--key-id", "role.sig", "m"])).code, 0);
      assert.equal((await run(["sign", "--key-id", "spiffe.sig", "m"])).code, 0);
      assert.equal(d.auth.stats.logins, 4, "both logged in again");
      watchLoginTokens();
      await d.stop();
      await run(["ready", "--json"]);
      await run(["get", "--key-id", "app.api_token"]);
      await run(["sign", "--key-id", "role.sig", "m"]);
      d.restart();
      const pid = a.agentPid;
      outputs.push([`/proc/${pid}/cmdline`, readProc(`/proc/${pid}/cmdline`)]);
      outputs.push([`/proc/${pid}/environ`, readProc(`/proc/${pid}/environ`)]);
    } finally {
      const { code, stderr } = await a.stop();
      assert.equal(code, 0, stderr);
      outputs.push(["agent stderr", enc.encode(stderr)]);
    }
    for (const p of [f.audit, f.bundle, `${f.bundle}.epoch`]) outputs.push([p, readIfExists(p)]);

    // A start refused for a wrong secret_id names the backend, not the secret_id.
    const wrong = await Fixture.create({
      catalog: catalog(d.addr),
      policy,
      backendCreds: new Map<string, BackendCred>([
        ["bao", tokenCred(token)],
        ["role", appRoleCred(roleId, wrongSecretId)],
        ["spiffe", spiffeCred],
      ]),
      configExtra: 'jwt-role = "basil"\n[logging]\nlevel = "debug"',
    });
    try {
      const r = await runAgentToExit(wrong);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /basil agent: backend role: the vault backend refused the VaultAppRole credential \(vault login auth\/approle\/login: HTTP 400: invalid role or secret ID\)/,
      );
      outputs.push(["stderr of a start with a wrong secret_id", enc.encode(r.stderr)]);
      canaries.wrong_secret_id = enc.encode(wrongSecretId);
    } finally {
      wrong.cleanup();
    }

    for (const [where, bytes] of outputs) assertNoCanary(where, bytes, canaries);
    // The canaries were really in play: the agent can read the value, the search finds it.
    const b = await f.start();
    const got = await f.cli(["get", "--key-id", "app.api_token", "--format", "raw"]);
    await b.stop();
    assert.equal(got.stdout, value);
    assert.throws(() => assertNoCanary("get", got.stdoutBytes, canaries), /value canary/);
  } finally {
    f.cleanup();
    await d.close();
  }
});
