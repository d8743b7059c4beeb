/**
 * Agent configuration loader (contract §1): defaults, overrides, path
 * resolution, unknown keys, required inputs and TOML errors.
 */

import assert from "node:assert/strict";
import { loadAgentConfig } from "../../../lib/config/load.ts";
import { DEFAULT_SOCKET } from "../../../lib/config/schema.ts";
import { assertConfigError, CFG, INPUTS, load } from "./helpers.ts";

Deno.test("defaults: the seeds' socket, 0600, contract defaults everywhere else", () => {
  const c = load(INPUTS);
  assert.equal(DEFAULT_SOCKET, "/run/basil/basil.sock");
  assert.deepEqual(c, {
    configFile: CFG,
    catalog: "/etc/basil/catalog.json",
    policy: "/etc/basil/policy.json",
    bundle: "/etc/basil/bundle.sealed",
    socket: "/run/basil/basil.sock",
    socketMode: 0o600,
    socketGroup: undefined,
    vaultAddr: "http://127.0.0.1:8200",
    transitMount: "transit",
    jwtAuthMount: "jwt",
    jwtRole: "",
    jwtAudience: "openbao",
    svidTtlSecs: 300,
    capabilityPolicy: "strict",
    maxEncryptSize: 1048576,
    maxPayloadSize: 1048576,
    maxCertTtlSecs: 86400,
    graceVersions: 1,
    invocation: {
      audiences: [],
      brokerId: undefined,
      clockSkewSecs: 30,
      enable: false,
      maxTtlSecs: 60,
      replayCacheCapacity: 4096,
      requestEncryptionKeyId: undefined,
      responseSigningKeyId: undefined,
    },
    retainVersions: undefined,
    retentionSweepSecs: 3600,
    auditLog: undefined,
    auditFsync: "always",
    noReconcile: false,
    unlock: {
      ageYubikey: false,
      bip39PhraseFile: undefined,
      unlockTpm: false,
      passphraseFile: undefined,
      passphraseNoWipe: false,
      strictBundlePerms: false,
      tpmTcti: undefined,
    },
    jwks: {
      enable: false,
      listen: { host: "127.0.0.1", port: 8201 },
      issuer: undefined,
      tls: { enable: false, certFile: undefined, keyFile: undefined },
    },
    logging: {
      stderr: true,
      level: "info",
      file: undefined,
      journald: { enable: true, explicit: false, socket: "/run/systemd/journal/socket" },
    },
    metrics: { enable: false, listen: { host: "127.0.0.1", port: 9464 }, subjectLabels: false },
  });
});

Deno.test("file values are read, with kebab-case keys in every table", () => {
  const c = load(`${INPUTS}
socket = "/run/b/agent.sock"
socket-mode = "0660"
socket-group = "basil"
vault-addr = "https://vault.internal:8200"
transit-mount = "t2"
jwt-auth-mount = "jwt2"
jwt-role = "basil"
jwt-audience = "aud"
svid-ttl-secs = 600
capability-policy = "degraded"
max-encrypt-size = 2048
max-payload-size = 4096
max-cert-ttl-secs = 3600
grace-versions = 0
retain-versions = 5
retention-sweep-secs = 0
audit-log = "audit/log.jsonl"
no-reconcile = true
[unlock]
age-yubikey = true
bip39-phrase-file = "/run/creds/phrase"
unlock-tpm = true
unlock-passphrase-file = "pass.txt"
unlock-passphrase-no-wipe = true
strict-bundle-perms = true
[broker-identity]
id = "basil://host1/broker"
response-signing-key-id = "broker.signing"
[invocation]
enable = false
audience = ["basil://host1/svc"]
[jwks]
listen = "[::1]:9000"
issuer = "https://issuer.example.com/"
[jwks.tls]
cert-file = "tls/cert.pem"
key-file = "tls/key.pem"
[logging]
level = "debug"
[logging.stdout]
enable = false
[logging.journald]
enable = false
[logging.file]
prefix = "x-"
rotation = "hourly"
[logging.opentelemetry]
protocol = "http-json"
`);
  assert.equal(c.socket, "/run/b/agent.sock");
  assert.equal(c.socketMode, 0o660);
  assert.equal(c.socketGroup, "basil");
  assert.equal(c.vaultAddr, "https://vault.internal:8200");
  assert.deepEqual(
    [c.transitMount, c.jwtAuthMount, c.jwtRole, c.jwtAudience, c.svidTtlSecs],
    ["t2", "jwt2", "basil", "aud", 600],
  );
  assert.equal(c.capabilityPolicy, "degraded");
  assert.deepEqual([c.maxEncryptSize, c.maxPayloadSize, c.maxCertTtlSecs], [2048, 4096, 3600]);
  assert.deepEqual([c.graceVersions, c.retainVersions, c.retentionSweepSecs], [0, 5, 0]);
  assert.equal(c.auditLog, "/etc/basil/audit/log.jsonl");
  assert.equal(c.noReconcile, true);
  assert.deepEqual(c.unlock, {
    ageYubikey: true,
    bip39PhraseFile: "/run/creds/phrase",
    unlockTpm: true,
    passphraseFile: "/etc/basil/pass.txt",
    passphraseNoWipe: true,
    strictBundlePerms: true,
    tpmTcti: undefined,
  });
  assert.deepEqual(c.jwks.listen, { host: "::1", port: 9000 });
  assert.equal(c.jwks.issuer, "https://issuer.example.com");
  assert.deepEqual(c.jwks.tls, {
    enable: false,
    certFile: "/etc/basil/tls/cert.pem",
    keyFile: "/etc/basil/tls/key.pem",
  });
  assert.deepEqual(c.logging, {
    stderr: false,
    level: "debug",
    file: undefined,
    journald: { enable: false, explicit: false, socket: "/run/systemd/journal/socket" },
  });
  assert.equal(load(`${INPUTS}socket-group = 995\n`).socketGroup, 995);
});

Deno.test("overrides beat file values; relative overrides resolve against the cwd", () => {
  const text = `${INPUTS}socket = "s.sock"\nvault-addr = "http://file:8200"\n`;
  const c = load(text, {
    catalog: "/srv/catalog.json",
    policy: "rel/policy.json",
    bundle: "../bundle.sealed",
    socket: "/run/override.sock",
    vaultAddr: "https://override:8200",
  });
  assert.equal(c.catalog, "/srv/catalog.json");
  assert.equal(c.policy, "/home/op/work/rel/policy.json");
  assert.equal(c.bundle, "/home/op/bundle.sealed");
  assert.equal(c.socket, "/run/override.sock");
  assert.equal(c.vaultAddr, "https://override:8200");
  // Empty overrides (an exported-but-empty variable) fall back to the file.
  const e = load(text, { catalog: "", socket: "", vaultAddr: "" });
  assert.equal(e.catalog, "/etc/basil/catalog.json");
  assert.equal(e.socket, "/etc/basil/s.sock");
  assert.equal(e.vaultAddr, "http://file:8200");
});

Deno.test("relative file paths resolve against the config file's directory", () => {
  const c = load(
    'catalog = "./in/../catalog.json"\npolicy = "../shared/policy.json"\n' +
      'bundle = "/abs/bundle"\nsocket = "run/basil.sock"\n',
    undefined,
    "/opt/basil/conf/agent.toml",
  );
  assert.equal(c.configFile, "/opt/basil/conf/agent.toml");
  assert.equal(c.catalog, "/opt/basil/conf/catalog.json");
  assert.equal(c.policy, "/opt/basil/shared/policy.json");
  assert.equal(c.bundle, "/abs/bundle");
  assert.equal(c.socket, "/opt/basil/conf/run/basil.sock");
  // A relative config path is itself resolved against the cwd first.
  const r = load(INPUTS, undefined, "conf/agent.toml");
  assert.equal(r.configFile, "/home/op/work/conf/agent.toml");
  assert.equal(r.catalog, "/home/op/work/conf/catalog.json");
});

Deno.test("without a file, overrides alone are enough", () => {
  const c = loadAgentConfig({
    cwd: "/w",
    overrides: { catalog: "c.json", policy: "p.json", bundle: "b" },
  });
  assert.equal(c.configFile, undefined);
  assert.deepEqual([c.catalog, c.policy, c.bundle], ["/w/c.json", "/w/p.json", "/w/b"]);
  assert.equal(c.socket, DEFAULT_SOCKET);
});

Deno.test("catalog/policy/bundle are required, naming the flag and the variable", () => {
  for (const field of ["catalog", "policy", "bundle"]) {
    const text = INPUTS.split("\n").filter((l) => !l.startsWith(field)).join("\n");
    assertConfigError(
      () => load(text),
      `${field}: required`,
      new RegExp(`--${field} or BASIL_${field.toUpperCase()}`),
    );
    assertConfigError(
      () => load(text.replace(/$/, `\n${field} = "  "\n`)),
      field,
      new RegExp(`--${field}`),
    );
  }
  assertConfigError(
    () => loadAgentConfig({ cwd: "/w" }),
    "catalog",
    /--catalog or BASIL_CATALOG/,
    "agent configuration",
  );
});

Deno.test("unknown keys are rejected in every table, naming the key", () => {
  const cases: [string, string][] = [
    ['catalgo = "x"', '(top level): unknown field "catalgo"'],
    ["schemaVersion = 3", '(top level): unknown field "schemaVersion"'],
    ["[unlock]\nunlock-yubikey = true", 'unlock: unknown field "unlock-yubikey"'],
    [
      '[broker-identity]\nid = "basil://h/p"\nresponse-signing-key-id = "k"\nkid = 1',
      'broker-identity: unknown field "kid"',
    ],
    ["[invocation]\nmax-ttl = 5", 'invocation: unknown field "max-ttl"'],
    ["[jwks]\nport = 1", 'jwks: unknown field "port"'],
    ['[jwks.tls]\nca-file = "x"', 'jwks.tls: unknown field "ca-file"'],
    ['[logging]\nformat = "json"', 'logging: unknown field "format"'],
    ["[logging.stdout]\ncolor = true", 'logging.stdout: unknown field "color"'],
    ['[logging.journald]\nident = "b"', 'logging.journald: unknown field "ident"'],
    ["[logging.file]\nmax-files = 1", 'logging.file: unknown field "max-files"'],
    ["[logging.opentelemetry]\nheaders = 1", 'logging.opentelemetry: unknown field "headers"'],
    ["[metrics]\nport = 1", 'metrics: unknown field "port"'],
    ['socket_mode = "0600"', '(top level): unknown field "socket_mode"'],
  ];
  for (const [extra, message] of cases) {
    assertConfigError(() => load(`${INPUTS}${extra}\n`), message, /unknown field/);
  }
});

Deno.test("wrong types and ranges name the key", () => {
  const cases: [string, string, RegExp][] = [
    ['no-reconcile = "yes"', "no-reconcile", /boolean/],
    ['capability-policy = "lenient"', "capability-policy", /one of/],
    ["max-encrypt-size = 0", "max-encrypt-size", /at least 1/],
    ["max-cert-ttl-secs = 0", "max-cert-ttl-secs", /at least 1/],
    ["max-cert-ttl-secs = -3600", "max-cert-ttl-secs", /at least 1/],
    ["max-cert-ttl-secs = 1.5", "max-cert-ttl-secs", /./],
    ['max-cert-ttl-secs = "1d"', "max-cert-ttl-secs", /number/],
    ["grace-versions = -1", "grace-versions", /at least 0/],
    ["[invocation]\nmax-ttl-secs = 301", "invocation.max-ttl-secs", /at most 300/],
    ["[invocation]\nmax-ttl-secs = 0", "invocation.max-ttl-secs", /at least 1/],
    ["[invocation]\nclock-skew-secs = 301", "invocation.clock-skew-secs", /at most 300/],
    [
      "[invocation]\nreplay-cache-capacity = 1000001",
      "invocation.replay-cache-capacity",
      /at most/,
    ],
    ['[broker-identity]\nid = "basil://h/p"', "broker-identity.response-signing-key-id", /req/],
    ['[logging.file]\nrotation = "yearly"', "logging.file.rotation", /one of/],
  ];
  for (const [extra, field, reason] of cases) {
    assertConfigError(() => load(`${INPUTS}${extra}\n`), field, reason);
  }
});

Deno.test("malformed TOML names a line and never echoes the content", () => {
  const cases: [string, number][] = [
    [`${INPUTS}vault-addr = = "hunter2"\n`, 4],
    [`${INPUTS}[unlock]\nunlock-passphrase-file = "hunter2\n`, 5],
    [`catalog = "a"\ncatalog = "hunter2"\n`, 2],
    [`[unlock]\n[unlock]\n# hunter2\n`, 2],
  ];
  for (const [text, line] of cases) {
    const e = assertConfigError(() => load(text), "malformed TOML", new RegExp(`line ${line}\\b`));
    assert.ok(!e.message.includes("hunter2"), e.message);
  }
});

Deno.test("socket paths longer than 107 bytes are rejected, from file or override", () => {
  const dir = "/run/" + "d".repeat(90);
  const ok = `${dir}/${"s".repeat(107 - dir.length - 1)}`;
  assert.equal(new TextEncoder().encode(ok).length, 107);
  assert.equal(load(`${INPUTS}socket = "${ok}"\n`).socket, ok);
  const long = ok + "x";
  assertConfigError(() => load(`${INPUTS}socket = "${long}"\n`), "socket", /107/);
  assertConfigError(() => load(INPUTS, { socket: long }), "socket", /107/);
  // Bytes, not characters: "/" and 54 two-byte characters is 109 bytes.
  const wide = "/" + "é".repeat(54);
  assert.equal(wide.length, 55);
  assertConfigError(() => load(`${INPUTS}socket = "${wide}"\n`), "socket", /107/);
  assertConfigError(() => load(`${INPUTS}socket = ""\n`), "socket", /empty/);
});

Deno.test("features not in this build fail instead of being ignored", () => {
  const cases: [string, string][] = [
    ["[logging.opentelemetry]\nenable = true", "logging.opentelemetry.enable"],
  ];
  for (const [extra, field] of cases) {
    assertConfigError(() => load(`${INPUTS}${extra}\n`), field, /not in this build/);
  }
  for (const extra of ["[jwks]\nenable = false", "[invocation]\nenable = false"]) {
    load(`${INPUTS}${extra}\n`);
  }
});

Deno.test("[invocation] enabled needs an audience, a broker identity and a request key", () => {
  assertConfigError(
    () => load(`${INPUTS}[invocation]\nenable = true\n`),
    "invocation.audience",
    /at least one audience/,
  );
  const aud =
    `[invocation]\nenable = true\naudience = [" basil://b/x ", "basil://a/y", "basil://a/y"]\n`;
  assertConfigError(() => load(`${INPUTS}${aud}`), "broker-identity", /required/);
  const id =
    `[broker-identity]\nid = "basil://host/broker"\nresponse-signing-key-id = "broker.sign"\n`;
  assertConfigError(
    () => load(`${INPUTS}${id}${aud}`),
    "invocation.request-encryption-key-id",
    /required/,
  );
  const cfg = load(`${INPUTS}${id}${aud}request-encryption-key-id = "broker.req"\n`);
  assert.deepEqual(cfg.invocation?.audiences, ["basil://a/y", "basil://b/x"]);
  assert.equal(cfg.invocation?.maxTtlSecs, 60);
  assert.equal(cfg.invocation?.responseSigningKeyId, "broker.sign");
  assertConfigError(
    () => load(`${INPUTS}[invocation]\naudience = ["https://x/y"]\n`),
    "invocation.audience[0]",
    /basil:/,
  );
});

Deno.test("retain-versions below grace-versions + 1 is rejected, naming both keys", () => {
  // grace-versions = N keeps the newest and N older versions usable, so the
  // sweep must keep at least N + 1 (default grace-versions is 1).
  const cases: [string, boolean][] = [
    ["retain-versions = 1", false],
    ["retain-versions = 2", true],
    ["grace-versions = 0\nretain-versions = 1", true],
    ["grace-versions = 3\nretain-versions = 3", false],
    ["grace-versions = 3\nretain-versions = 4", true],
    ["grace-versions = 7", true], // no retain-versions: every version is kept
  ];
  for (const [extra, ok] of cases) {
    if (ok) {
      load(`${INPUTS}${extra}\n`);
      continue;
    }
    const e = assertConfigError(
      () => load(`${INPUTS}${extra}\n`),
      "retain-versions",
      /less than grace-versions \+ 1/,
    );
    assert.match(e.message, /grace-versions/);
  }
  // 0 is not "keep all" (leave the key out for that): it stays a range error.
  assertConfigError(() => load(`${INPUTS}retain-versions = 0\n`), "retain-versions", /at least 1/);
});

Deno.test("a vault-addr with credentials is rejected without echoing them", () => {
  for (
    const [text, overrides] of [
      [`${INPUTS}vault-addr = "https://op:hunter2@vault:8200"\n`, undefined],
      [INPUTS, { vaultAddr: "http://op:hunter2@vault:8200/v1" }],
      [INPUTS, { vaultAddr: "op:hunter2@vault:8200" }],
    ] as const
  ) {
    const e = assertConfigError(() => load(text, overrides), "vault-addr", /credentials/);
    assert.ok(!e.message.includes("hunter2"), e.message);
  }
  // An "@" after the authority is not userinfo.
  assert.equal(
    load(INPUTS, { vaultAddr: "https://vault:8200/v1/a@b" }).vaultAddr,
    "https://vault:8200/v1/a@b",
  );
});
