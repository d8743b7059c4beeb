/**
 * Fuzz: the agent config TOML (lib/config/load.ts). Random text, byte-level
 * mutations of full configs, and field-level mutations of the parsed
 * document re-serialized as TOML all either load or throw the loader's
 * `InputError` (token `config_invalid`, message naming the file).
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { loadAgentConfig } from "../../lib/config/load.ts";
import { InputError } from "../../lib/core/errors.ts";
import { fuzz, fuzzRuns, fuzzText, mutatedJson } from "../helpers/fuzz.ts";

const FILE = "/etc/basil/agent.toml";

const FULL = `catalog = "catalog.json"
policy = "policy.json"
bundle = "bundle.sealed"
socket = "/run/basil/basil.sock"
socket-mode = "0660"
socket-group = "basil"
vault-addr = "https://127.0.0.1:8200"
vault-timeout-ms = 5000
transit-mount = "transit"
svid-ttl-secs = 3600
capability-policy = "strict"
max-encrypt-size = 1048576
max-payload-size = 65536
max-cert-ttl-secs = 86400
grace-versions = 2
retain-versions = 5
retention-sweep-secs = 600
audit-log = "/var/log/basil/audit.jsonl"
audit-fsync = "batch"
no-reconcile = false

[unlock]
unlock-passphrase-file = "/run/credentials/basil/pass"
unlock-passphrase-no-wipe = true
strict-bundle-perms = true

[broker-identity]
id = "basil://host.example.org/broker"
response-signing-key-id = "broker.sign"

[invocation]
enable = true
audience = ["basil://host.example.org/broker"]
request-encryption-key-id = "broker.seal"
max-ttl-secs = 60
clock-skew-secs = 5
replay-cache-capacity = 1000

[jwks]
enable = true
listen = "127.0.0.1:8443"
issuer = "https://basil.example.org"

[jwks.tls]
enable = false

[metrics]
enable = true
listen = "127.0.0.1:9464"
subject-labels = true

[logging]
level = "info"

[logging.stdout]
enable = true

[logging.file]
enable = true
dir = "/var/log/basil"
rotation = "daily"
max-size = 1048576
keep = 7
mode = "0640"

[logging.opentelemetry]
enable = false
endpoint = "http://127.0.0.1:4317"
protocol = "grpc"
`;

const MINIMAL = 'catalog = "c.json"\npolicy = "p.json"\nbundle = "b.sealed"\n';

function load(text: string): void {
  try {
    loadAgentConfig({ file: { path: FILE, text }, cwd: "/home/op" });
  } catch (e) {
    if (!(e instanceof InputError)) {
      const what = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
      throw new Error(`stray exception ${what}`, { cause: e });
    }
    assert.equal(e.token, "config_invalid");
    assert.ok(e.message.startsWith(`${FILE}: `), `no file in: ${e.message}`);
  }
}

Deno.test("the full sample config loads (the fuzz starts from valid input)", () => {
  loadAgentConfig({ file: { path: FILE, text: FULL }, cwd: "/home/op" });
});

Deno.test("fuzz: config TOML text loads or throws config_invalid naming the file", async () => {
  await fuzz("config text", fc.property(fuzzText([FULL, MINIMAL], 2048), load), fuzzRuns(500));
});

Deno.test("fuzz: field-level config mutations load or throw config_invalid", async () => {
  const doc = parseToml(FULL);
  await fuzz(
    "config fields",
    fc.property(mutatedJson(doc), (v) => {
      let text: string;
      try {
        text = stringifyToml(v as Record<string, unknown>);
      } catch {
        return; // not representable in TOML (null, a top-level array)
      }
      load(text);
    }),
    fuzzRuns(500),
  );
});
