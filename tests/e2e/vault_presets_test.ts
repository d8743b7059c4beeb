/**
 * The vault presets of nix/backend-capabilities.nix (`OPENBAO_2_5`,
 * `VAULT_2_0`) against seed 002's examples: nix-instantiate turns the Tier 1
 * value and the Tier 2 signing key, declared on a backend that spreads the
 * preset, into catalog JSON (nix/lib.nix's `catalogDoc`, what the NixOS
 * module writes); the agent's capability check accepts it under `strict`,
 * in process and through a real agent start against the OpenBao double,
 * which then serves both keys. The negative twin overrides the preset's
 * declaration and is refused with both gaps named.
 */

import assert from "node:assert/strict";
import { checkCapabilities } from "../../lib/backends/capability.ts";
import { loadCatalog } from "../../lib/catalog/load.ts";
import { ROOT } from "../helpers/cli.ts";
import { Fixture, runAgentToExit } from "../helpers/fixture.ts";
import { gated } from "../helpers/peers.ts";
import { startBasilDouble, tokenCred } from "./vault_helpers.ts";

/** Silences "group 'nixbld' does not exist" (no build users here). */
const NIX_ENV = { NIX_CONFIG: "build-users-group =" };
const nixPath = (p: string) => `(/. + ${JSON.stringify(p)})`;

/** seed 002's Tier 1 and Tier 2 keys, as the guide writes them in Nix. */
const SEED_002_KEYS = `{
  "app.db_password" = {
    class = "value"; backend = "bao"; engine = "kv2";
    path = "secret/data/app/db-password"; writable = true; missing = "generate";
    generate = { format = "ascii-printable"; bytes = 24; };
  };
  "app.tls.signing_key" = {
    class = "asymmetric"; keyType = "ed25519"; backend = "bao"; engine = "transit";
    path = "app-tls"; writable = true; missing = "generate";
  };
}`;

/** The catalog JSON the Nix packaging writes for `backends.bao = backend`. */
async function nixCatalog(backend: string): Promise<Record<string, unknown>> {
  const lib = nixPath(`${ROOT}/nix/lib.nix`);
  const presets = nixPath(`${ROOT}/nix/backend-capabilities.nix`);
  const expr = `let presets = import ${presets}; in (import ${lib}).catalogDoc ` +
    `{ schemaVersion = 1; backends.bao = ${backend}; keys = ${SEED_002_KEYS}; }`;
  const out = await new Deno.Command("nix-instantiate", {
    args: ["--eval", "--strict", "--json", "-E", expr],
    env: NIX_ENV,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, `nix-instantiate: ${dec.decode(out.stderr)}\n${expr}`);
  return JSON.parse(dec.decode(out.stdout));
}

function policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { "svc-app": { anyOf: [{ kind: "unix", uid }] } },
    roles: { signer: ["sign", "verify", "get_public_key"] },
    rules: [
      {
        id: "app-can-read-its-password",
        subjects: ["svc-app"],
        action: ["op:get"],
        target: ["app.db_password"],
      },
      {
        id: "app-can-sign",
        subjects: ["svc-app"],
        action: ["role:signer"],
        target: ["app.tls.signing_key"],
      },
    ],
  };
}

/** The catalog with the backend pointed at the double (the preset leaves `addr` alone). */
function atAddr(catalog: Record<string, unknown>, addr: string): Record<string, unknown> {
  const backends = catalog.backends as Record<string, Record<string, unknown>>;
  return { ...catalog, backends: { bao: { ...backends.bao, addr } } };
}

const PRESETS = [
  // The seed's spelling (the attrset), and the module's string form.
  ["OPENBAO_2_5", "presets.OPENBAO_2_5"],
  ["VAULT_2_0", `"VAULT_2_0"`],
] as const;

Deno.test(gated(["nix-instantiate"], {
  name: "OPENBAO_2_5 and VAULT_2_0 catalogs of seed 002 pass the strict capability check and serve",
  async fn() {
    const d = await startBasilDouble();
    try {
      for (const [name, impl] of PRESETS) {
        const catalog = await nixCatalog(
          `{ implementation = ${impl}; addr = "https://127.0.0.1:8200"; }`,
        );
        const bao = (catalog.backends as Record<string, Record<string, unknown>>).bao!;
        assert.equal(bao.kind, "vault", name);
        assert.deepEqual(bao.engines, ["transit", "kv2", "pki"], name);
        const loaded = loadCatalog(JSON.stringify(catalog), `${name}.json`);
        assert.deepEqual(loaded.warnings, [], name);
        assert.deepEqual(checkCapabilities(loaded.catalog, "strict"), { fatal: [], warnings: [] });

        const f = await Fixture.create({
          catalog: atAddr(catalog, d.addr),
          policy,
          backendCreds: new Map([["bao", tokenCred(d.rootToken)]]),
          configExtra: 'capability-policy = "strict"',
        });
        try {
          const a = await f.start();
          try {
            const got = await f.cli(["get", "--key-id", "app.db_password", "--format", "raw"]);
            assert.match(got.stdout, /^[!-~]{24}$/, `${name}: ${got.stderr}`);
            const s = await f.cli(["sign", "--key-id", "app.tls.signing_key", "release"]);
            assert.match(s.stdout, /^[0-9a-f]{128}\n$/, `${name}: ${s.stderr}`);
          } finally {
            assert.equal((await a.stop()).code, 0);
          }
        } finally {
          f.cleanup();
        }
      }
    } finally {
      await d.close();
    }
  },
}));

Deno.test(gated(["nix-instantiate"], {
  name: "a preset narrowed below seed 002's needs is refused under strict, both gaps named",
  async fn() {
    const catalog = await nixCatalog(
      `{ implementation = presets.OPENBAO_2_5; addr = "https://127.0.0.1:8200"; ` +
        `engines = [ "transit" ]; mintKeyTypes = [ "ecdsa-p256" ]; }`,
    );
    const gaps = [
      'key app.db_password: backend bao does not provide engine "kv2"',
      'key app.tls.signing_key: backend bao does not provide mintKeyTypes "ed25519"',
    ];
    const loaded = loadCatalog(JSON.stringify(catalog), "narrowed.json");
    assert.deepEqual(checkCapabilities(loaded.catalog, "strict").fatal, gaps);
    const d = await startBasilDouble();
    const f = await Fixture.create({
      catalog: atAddr(catalog, d.addr),
      policy,
      backendCreds: new Map([["bao", tokenCred(d.rootToken)]]),
    });
    try {
      const r = await runAgentToExit(f);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`capability check failed: ${gaps.join("; ")}`));
    } finally {
      f.cleanup();
      await d.close();
    }
  },
}));
