/**
 * The agent's computed permission set: which unlock files it may write
 * (only those it wipes), which environment it may read (none), which
 * libraries it opens, and which grants it gives up once started.
 */

import assert from "node:assert/strict";
import { loadCatalog } from "../../../lib/catalog/load.ts";
import type { Catalog } from "../../../lib/catalog/schema.ts";
import { agentPermissions, startupOnly, toDenoFlags } from "../../../lib/sandbox/permissions.ts";
import { agentConfig, LIBC, LIBS, NGHTTP2 } from "./helpers.ts";

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
  const p = agentPermissions(cfg, catalog(), LIBS);
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
    LIBS,
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
    LIBS,
  );
  assert.ok(!p.write.includes(PASS));
  assert.ok(p.write.includes(PHRASE));
  assert.ok(p.read.includes(PHRASE));
});

Deno.test("the agent may read no environment variable", () => {
  const p = agentPermissions(agentConfig(""), catalog(), LIBS);
  assert.deepEqual(p.env, []);
  assert.ok(!toDenoFlags(p).some((f) => f.startsWith("--allow-env")));
});

Deno.test("ffi: the libraries main.ts opens are named; the flag is process-wide (revoked at start)", () => {
  const p = agentPermissions(agentConfig(""), catalog(), LIBS);
  assert.deepEqual(p.ffi, [LIBC, NGHTTP2].sort());
  const flags = toDenoFlags(p);
  assert.ok(flags.includes("--allow-ffi"), flags.join(" "));
  assert.ok(!flags.some((f) => f.startsWith("--allow-ffi=")));
  assert.ok(!flags.some((f) => f === "-A" || f === "--allow-all"));
});

Deno.test("start-up-only grants: unlock files, bundle, epoch and config; never catalog, policy or keystore", () => {
  const cfg = agentConfig(
    `unlock-passphrase-file = "${PASS}"\nbip39-phrase-file = "${PHRASE}"`,
  );
  const { read, write } = startupOnly(cfg);
  for (const f of [PASS, PHRASE, "/var/lib/basil/bundle.sealed", "/etc/basil/agent.toml"]) {
    assert.ok(read.includes(f), `read ${f} is given up`);
  }
  assert.ok(read.includes("/var/lib/basil/bundle.sealed.epoch"));
  assert.deepEqual(
    write,
    [PHRASE, PASS, "/var/lib/basil/bundle.sealed.epoch", "/var/lib/basil/bundle.sealed.epoch.tmp"]
      .sort(),
  );
  for (
    const keep of ["/etc/basil/catalog.json", "/etc/basil/policy.json", "/run/basil/basil.sock"]
  ) {
    assert.ok(!read.includes(keep) && !write.includes(keep), `${keep} is kept`);
  }
  const p = agentPermissions(cfg, catalog(), LIBS);
  for (const f of [...read, ...write]) {
    assert.ok(p.read.includes(f) || p.write.includes(f), `${f} was granted in the first place`);
  }
});
