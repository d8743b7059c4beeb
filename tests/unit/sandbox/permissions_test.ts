/**
 * The agent's computed permission set: which unlock files it may write
 * (only those it wipes) and which environment it starts with.
 */

import assert from "node:assert/strict";
import { loadCatalog } from "../../../lib/catalog/load.ts";
import type { Catalog } from "../../../lib/catalog/schema.ts";
import { agentPermissions, GRPC_ENV, toDenoFlags } from "../../../lib/sandbox/permissions.ts";
import { agentConfig, LIBC } from "./helpers.ts";

const PASS = "/etc/basil/unlock-pass";
const PHRASE = "/etc/basil/bip39-phrase";

function catalog(): Catalog {
  const json = {
    schemaVersion: 1,
    backends: { db: { kind: "keystore", addr: "/var/lib/basil/ks.db", engines: ["kv2"] } },
    keys: {},
  };
  return loadCatalog(JSON.stringify(json), "/etc/basil/catalog.json").catalog;
}

Deno.test("passphrase-no-wipe: the passphrase file is readable but never writable", () => {
  const cfg = agentConfig(`unlock-passphrase-file = "${PASS}"\nunlock-passphrase-no-wipe = true`);
  assert.equal(cfg.unlock.passphraseNoWipe, true);
  const p = agentPermissions(cfg, catalog(), { libc: LIBC });
  assert.ok(p.read.includes(PASS), "still read at unlock");
  assert.ok(!p.write.includes(PASS), `no write grant: ${p.write.join(",")}`);
  const flags = toDenoFlags(p);
  const write = flags.find((f) => f.startsWith("--allow-write="))!;
  assert.ok(!write.split("=")[1]!.split(",").includes(PASS));
});

Deno.test("without no-wipe the passphrase file is writable (the agent wipes it)", () => {
  const p = agentPermissions(
    agentConfig(`unlock-passphrase-file = "${PASS}"`),
    catalog(),
    { libc: LIBC },
  );
  assert.ok(p.read.includes(PASS));
  assert.ok(p.write.includes(PASS));
});

Deno.test("no-wipe applies to the passphrase only: the BIP-39 phrase file is always wiped", () => {
  const p = agentPermissions(
    agentConfig(
      `unlock-passphrase-file = "${PASS}"\nunlock-passphrase-no-wipe = true\n` +
        `bip39-phrase-file = "${PHRASE}"`,
    ),
    catalog(),
    { libc: LIBC },
  );
  assert.ok(!p.write.includes(PASS));
  assert.ok(p.write.includes(PHRASE));
  assert.ok(p.read.includes(PHRASE));
});

Deno.test("the agent may read exactly the gRPC environment", () => {
  const p = agentPermissions(agentConfig(""), catalog(), { libc: LIBC });
  assert.deepEqual(p.env, [...GRPC_ENV]);
});
