/**
 * Catalog loader (contract §2): the valid shape and its defaults, the
 * document-level checks (schemaVersion, malformed JSON, duplicate members,
 * unknown fields, key names). Cross-field rules live in rules_test.ts.
 */

import assert from "node:assert/strict";
import { isCredentialIssuer, isMaterialized } from "../../../lib/catalog/schema.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { assertCatalogError, catalogWith, keyOf, load, validCatalog } from "./helpers.ts";
import type { Json } from "./helpers.ts";

Deno.test("a catalog with every class loads, with no warnings", () => {
  const { catalog, warnings } = load(validCatalog());
  assert.deepEqual(warnings, []);
  assert.equal(catalog.schemaVersion, 1);
  assert.deepEqual([...catalog.backends.keys()], ["bao", "local", "aws"]);
  assert.deepEqual(
    new Set([...catalog.keys.values()].map((k) => k.class)),
    new Set(["asymmetric", "symmetric", "value", "public", "sealing"]),
  );
  const bao = catalog.backends.get("bao")!;
  assert.deepEqual(bao.engines, ["transit", "kv2", "pki"]);
  assert.deepEqual(bao.requires, ["jwt-auth"]);
  const local = catalog.backends.get("local")!;
  assert.deepEqual(
    [local.engines, local.capabilities, local.mintKeyTypes, local.requires],
    [[], [], [], []],
  );
  const pw = catalog.keys.get("app.db_password")!;
  assert.deepEqual(pw.generate, { format: "ascii-printable", bytes: 24 });
  assert.deepEqual(pw.labels, ["team=payments", "tier1"]);
  assert.equal(pw.labelMap.get("team"), "payments");
  assert.equal(pw.labelMap.has("tier1"), false);
  const seal = catalog.keys.get("enroll.sealing")!;
  assert.deepEqual(seal.sealingPin, { parties: { partyU: "client" }, externalAad: ["ctx"] });
  assert.ok(isMaterialized(seal));
  assert.ok(isMaterialized(catalog.keys.get("app.kv_sign")!));
  assert.ok(!isMaterialized(catalog.keys.get("app.signing_key")!));
  assert.ok(isCredentialIssuer(catalog.keys.get("nats.operator")!));
  assert.ok(!isCredentialIssuer(catalog.keys.get("app.signing_key")!));
});

Deno.test("defaults: engine per class, missing=error, optional fields undefined", () => {
  const keys: Json = {};
  for (const cls of ["asymmetric", "symmetric", "value", "public", "sealing"]) {
    keys[`k.${cls}`] = keyOf(cls, { path: `p/${cls}` });
  }
  const { catalog } = load(catalogWith(keys));
  const engines = Object.fromEntries([...catalog.keys].map(([n, k]) => [n, k.engine]));
  assert.deepEqual(engines, {
    "k.asymmetric": "transit",
    "k.symmetric": "transit",
    "k.value": "kv2",
    "k.public": "kv2",
    "k.sealing": "kv2",
  });
  for (const k of catalog.keys.values()) {
    assert.equal(k.missing, "error");
    assert.equal(k.generate, undefined);
    assert.deepEqual(k.labels, []);
    assert.equal(k.labelMap.size, 0);
  }
  assert.equal(catalog.keys.get("k.value")!.keyType, undefined);
  assert.equal(catalog.keys.get("k.asymmetric")!.publicPath, undefined);
});

Deno.test("schemaVersion must be exactly the number 1", () => {
  for (const sv of [0, 2, "1", null, 1.5, true]) {
    const doc = validCatalog();
    doc.schemaVersion = sv;
    assertCatalogError(doc, "schemaVersion", /must be 1/);
  }
  const doc = validCatalog();
  delete doc.schemaVersion;
  assertCatalogError(doc, "schemaVersion", /must be 1/);
});

Deno.test("top level must be an object with backends and keys", () => {
  assertCatalogError("[]", "(top level)", /expected object/);
  assertCatalogError("42", "(top level)", /expected object/);
  assertCatalogError({ schemaVersion: 1, keys: {} }, "backends", /required/);
  assertCatalogError({ schemaVersion: 1, backends: {} }, "keys", /required/);
});

Deno.test("malformed JSON reports an offset and never echoes content", () => {
  const secret = "hunter2-SECRET";
  // Each case marks the failing position with "@" (removed before loading).
  const cases = [
    `{"schemaVersion": 1, "keys": {"${secret}": @x}}`,
    `{"a": "${secret}@`,
    `{"${secret}": 1,@}`,
    `{"a": 1} @"${secret}"`,
    `{"a": "${secret}@\u0001"}`,
    `{"a": "@\\q${secret}"}`,
    "@",
    `[1, 2@`,
    `{"a" @1}`,
    `{"a": 0@1}`,
    `{"a": @tru}`,
    "@\uFEFF{}",
  ].map((m) => [m.replace("@", ""), m.indexOf("@")] as const);
  for (const [text, offset] of cases) {
    let caught: unknown;
    try {
      load(text);
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof InputError, JSON.stringify(text));
    assert.equal(caught.token, "catalog_invalid");
    assert.match(caught.message, /^\/etc\/basil\/catalog\.json: .*malformed JSON/);
    assert.match(
      caught.message,
      new RegExp(`at offset ${offset} \\(line 1 column ${offset + 1}\\)`),
    );
    assert.ok(!caught.message.includes("hunter2"), caught.message);
  }
});

Deno.test("malformed JSON on a later line reports that line and column", () => {
  const text = '{\n  "schemaVersion": 1,\n  "keys": {\n    "a": ]\n  }\n}';
  assertCatalogError(text, "malformed JSON", /offset 45 \(line 4 column 10\)/);
});

Deno.test("duplicate members are rejected in keys, backends and any nested object", () => {
  const key = JSON.stringify(keyOf("value"));
  const backend = '{"kind": "vault", "addr": "http://x"}';
  assertCatalogError(
    `{"schemaVersion": 1, "backends": {"bao": ${backend}},
      "keys": {"app.x": ${key}, "app.y": ${key}, "app.x": ${key}}}`,
    "keys",
    /duplicate key "app\.x"/,
  );
  assertCatalogError(
    `{"schemaVersion": 1, "backends": {"bao": ${backend}, "bao": ${backend}}, "keys": {}}`,
    "backends",
    /duplicate key "bao"/,
  );
  // A key named "backends" appearing first must not confuse the check.
  assertCatalogError(
    `{"schemaVersion": 1, "keys": {"backends": ${key}},
      "backends": {"bao": ${backend}, "bao": ${backend}}}`,
    "backends",
    /duplicate key "bao"/,
  );
  assertCatalogError(
    `{"schemaVersion": 1, "backends": {"bao": ${backend}},
      "keys": {"app.x": {"class": "value", "class": "public", "backend": "bao", "path": "p",
      "writable": true, "description": "d"}}}`,
    'keys["app.x"]',
    /duplicate key "class"/,
  );
  assertCatalogError(
    `{"schemaVersion": 1, "schemaVersion": 1, "backends": {}, "keys": {}}`,
    "(top level)",
    /duplicate key "schemaVersion"/,
  );
  // Same names in different objects are fine.
  const other = JSON.stringify(keyOf("value", { path: "q" }));
  load(`{"schemaVersion": 1, "backends": {"bao": ${backend}},
    "keys": {"bao": ${key}, "app.x": ${other}}}`);
});

Deno.test("unknown fields are rejected at every level, naming the field", () => {
  const cases: [string, (d: Json) => void, string][] = [
    ["top", (d) => (d.extra = 1), "(top level)"],
    ["backend", (d) => (d.backends.bao.implementation = "VAULT_2_0"), "backends.bao"],
    ["key", (d) => (d.keys["app.aead"].rotation = "30d"), 'keys["app.aead"]'],
    [
      "generate",
      (d) => (d.keys["app.db_password"].generate.charset = "abc"),
      'keys["app.db_password"].generate',
    ],
    [
      "sealingPin",
      (d) => (d.keys["enroll.sealing"].sealingPin.extra = []),
      'keys["enroll.sealing"].sealingPin',
    ],
    [
      "sealingPin.parties",
      (d) => (d.keys["enroll.sealing"].sealingPin.parties.partyW = "x"),
      'keys["enroll.sealing"].sealingPin.parties',
    ],
  ];
  for (const [, mutate, field] of cases) {
    const doc = validCatalog();
    mutate(doc);
    assertCatalogError(doc, field, /unknown field/);
  }
});

Deno.test("wrong types and enum values name the field", () => {
  const cases: [(d: Json) => void, string, RegExp][] = [
    [(d) => (d.keys["app.aead"].writable = "yes"), 'keys["app.aead"].writable', /boolean/],
    [(d) => delete d.keys["app.aead"].writable, 'keys["app.aead"].writable', /required/],
    [(d) => delete d.keys["app.aead"].description, 'keys["app.aead"].description', /required/],
    [(d) => delete d.keys["app.aead"].path, 'keys["app.aead"].path', /required/],
    [(d) => delete d.keys["app.aead"].class, 'keys["app.aead"].class', /one of/],
    [(d) => (d.keys["app.aead"].class = "secret"), 'keys["app.aead"].class', /one of/],
    [(d) => (d.keys["app.aead"].keyType = "aes-128"), 'keys["app.aead"].keyType', /one of/],
    [(d) => (d.keys["app.aead"].engine = "kv1"), 'keys["app.aead"].engine', /one of/],
    [(d) => (d.keys["app.aead"].missing = "ignore"), 'keys["app.aead"].missing', /one of/],
    [(d) => (d.keys["app.aead"].labels = "a=b"), 'keys["app.aead"].labels', /array/],
    [(d) => (d.backends.bao.kind = "consul"), "backends.bao.kind", /one of/],
    [(d) => delete d.backends.bao.addr, "backends.bao.addr", /required/],
    [(d) => (d.backends.bao.engines = ["kv1"]), "backends.bao.engines[0]", /one of/],
    [(d) => (d.backends.bao.mintKeyTypes = ["rsa"]), "backends.bao.mintKeyTypes[0]", /one of/],
    [
      (d) => (d.keys["app.db_password"].generate = { format: "uuid" }),
      'keys["app.db_password"].generate',
      /./,
    ],
    [
      (d) => (d.keys["app.db_password"].generate = { format: "hex", bytes: 0 }),
      'keys["app.db_password"].generate.bytes',
      /at least 1/,
    ],
  ];
  for (const [mutate, field, reason] of cases) {
    const doc = validCatalog();
    mutate(doc);
    assertCatalogError(doc, field, reason);
  }
});

Deno.test("key names: dotted lowercase segments of [a-z0-9_] starting [a-z0-9]", () => {
  for (const good of ["a", "app.x", "a1.b_2.c3", "0.x", "app.db_password"]) {
    load(catalogWith({ [good]: keyOf("value") }));
  }
  for (const bad of ["App.x", "a..b", "a-b", ".a", "_a", "a.", "a._b", "", "a b", "a/b", "é"]) {
    assertCatalogError(
      catalogWith({ [bad]: keyOf("value") }),
      bad === "" ? 'keys[""]' : `keys`,
      new RegExp(`${bad.replace(/[.*]/g, "\\$&")}\\W*: bad key name`),
    );
  }
});

Deno.test("backend checks: blank names/addrs, unknown capabilities warn", () => {
  const doc = catalogWith({});
  doc.backends[" "] = { kind: "vault", addr: "http://x" };
  assertCatalogError(doc, 'backends[" "]', /blank/);
  for (const kind of ["vault", "keystore"]) {
    assertCatalogError(
      { schemaVersion: 1, backends: { b: { kind, addr: "  " } }, keys: {} },
      "backends.b.addr",
      /blank/,
    );
  }
  for (const kind of ["aws-kms", "gcp-kms"]) {
    load({ schemaVersion: 1, backends: { b: { kind, addr: "" } }, keys: {} });
  }
  const withCaps = validCatalog();
  withCaps.backends.bao.capabilities = ["byok-import", "quantum-teleport", "pqc-transit"];
  const { catalog, warnings } = load(withCaps);
  assert.deepEqual(catalog.backends.get("bao")!.capabilities, [
    "byok-import",
    "quantum-teleport",
    "pqc-transit",
  ]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /catalog\.json: backends\.bao\.capabilities: .*"quantum-teleport"/);
});
