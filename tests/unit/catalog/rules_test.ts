/**
 * Catalog cross-field validation (contract §2.3/§2.4): one case per rule,
 * each asserting `catalog_invalid` plus the file, the field path and a reason.
 * Also reserved labels, the svid_kind=jwt rule and the warning-only findings.
 */

import assert from "node:assert/strict";
import { isCredentialIssuer } from "../../../lib/catalog/schema.ts";
import { assertCatalogError, catalogWith, keyOf, load } from "./helpers.ts";
import type { Json } from "./helpers.ts";

/** Loads a catalog holding the single key `app.x`. */
function one(key: Json) {
  return load(catalogWith({ "app.x": key }));
}

/** Asserts that the single key `app.x` fails on `field` with `reason`. */
function bad(key: Json, field: string, reason: RegExp): void {
  assertCatalogError(catalogWith({ "app.x": key }), `keys["app.x"]${field}`, reason);
}

const RULES: [string, Json, string, RegExp][] = [
  ["unknown backend", keyOf("value", { backend: "nope" }), ".backend", /no declared backend/],
  ["blank description", keyOf("value", { description: " \t" }), ".description", /blank/],
  ["empty description", keyOf("value", { description: "" }), ".description", /blank/],
  ["blank path", keyOf("value", { path: "" }), ".path", /blank/],
  [
    "asymmetric without keyType",
    keyOf("asymmetric", { keyType: undefined }),
    ".keyType",
    /required/,
  ],
  ["symmetric without keyType", keyOf("symmetric", { keyType: undefined }), ".keyType", /required/],
  ["sealing without keyType", keyOf("sealing", { keyType: undefined }), ".keyType", /required/],
  ["keyType on value", keyOf("value", { keyType: "ed25519" }), ".keyType", /not allowed/],
  ["sealing ed25519", keyOf("sealing", { keyType: "ed25519" }), ".keyType", /x25519.*ml-kem/],
  ["sealing aes", keyOf("sealing", { keyType: "aes-256-gcm" }), ".keyType", /x25519/],
  ["symmetric ed25519", keyOf("symmetric", { keyType: "ed25519" }), ".keyType", /aes-256-gcm/],
  ["asymmetric aes", keyOf("asymmetric", { keyType: "aes-256-gcm" }), ".keyType", /signing/],
  ["asymmetric x25519", keyOf("asymmetric", { keyType: "x25519" }), ".keyType", /signing/],
  [
    "missing:generate on value without recipe",
    keyOf("value", { missing: "generate" }),
    ".generate",
    /needs a recipe/,
  ],
  [
    "missing:generate on public without recipe",
    keyOf("public", { missing: "generate" }),
    ".generate",
    /needs a recipe/,
  ],
  [
    "recipe on asymmetric",
    keyOf("asymmetric", { generate: { format: "hex", bytes: 8 } }),
    ".generate",
    /only allowed on value and public/,
  ],
  [
    "recipe on sealing",
    keyOf("sealing", { generate: { format: "age-x25519" } }),
    ".generate",
    /only allowed on value and public/,
  ],
  [
    "pki on a value key",
    keyOf("value", { engine: "pki", path: "pki/issue/web" }),
    ".engine",
    /pki.*asymmetric/,
  ],
  [
    "pki with a non-issue path",
    keyOf("asymmetric", { engine: "pki", path: "pki/sign/web" }),
    ".engine",
    /pki\/issue\/<role>/,
  ],
  [
    "pki with an empty role",
    keyOf("asymmetric", { engine: "pki", path: "pki/issue/" }),
    ".engine",
    /pki/,
  ],
  [
    "pki with a non-pki mount",
    keyOf("asymmetric", { engine: "pki", path: "secret/issue/web" }),
    ".engine",
    /pki/,
  ],
  [
    "asymmetric kv2 rsa",
    keyOf("asymmetric", { engine: "kv2", keyType: "rsa-2048", publicPath: "pp" }),
    ".keyType",
    /ed25519/,
  ],
  [
    "asymmetric kv2 without publicPath",
    keyOf("asymmetric", { engine: "kv2" }),
    ".publicPath",
    /required/,
  ],
  ["sealing without publicPath", keyOf("sealing", { publicPath: undefined }), ".publicPath", /req/],
  ["sealing with blank publicPath", keyOf("sealing", { publicPath: " " }), ".publicPath", /req/],
  ["publicPath on transit", keyOf("asymmetric", { publicPath: "pp" }), ".publicPath", /only/],
  ["blank publicPath on value", keyOf("value", { publicPath: "" }), ".publicPath", /only/],
  ["publicPath on symmetric", keyOf("symmetric", { publicPath: "pp" }), ".publicPath", /only/],
  [
    "sealingPin on asymmetric",
    keyOf("asymmetric", { sealingPin: { externalAad: ["a"] } }),
    ".sealingPin",
    /only allowed on sealing/,
  ],
  ["empty sealingPin", keyOf("sealing", { sealingPin: {} }), ".sealingPin", /must not be empty/],
  [
    "sealingPin with empty parties and aad",
    keyOf("sealing", { sealingPin: { parties: {}, externalAad: [] } }),
    ".sealingPin",
    /must not be empty/,
  ],
  [
    "empty partyU",
    keyOf("sealing", { sealingPin: { parties: { partyU: "" } } }),
    ".sealingPin.parties.partyU",
    /empty/,
  ],
  [
    "empty partyV next to a good partyU",
    keyOf("sealing", { sealingPin: { parties: { partyU: "u", partyV: "" } } }),
    ".sealingPin.parties.partyV",
    /empty/,
  ],
  [
    "svid_kind=jwt on ed25519",
    keyOf("asymmetric", { labels: ["svid_kind=jwt"] }),
    ".keyType",
    /rsa-2048.*ecdsa-p256.*ecdsa-p384/,
  ],
  [
    "svid_kind=jwt on ecdsa-p521",
    keyOf("asymmetric", { keyType: "ecdsa-p521", labels: ["svid_kind=jwt"] }),
    ".keyType",
    /rsa-2048/,
  ],
  [
    "svid_kind=jwt on a public key without keyType",
    keyOf("public", { labels: ["svid_kind=jwt"] }),
    ".keyType",
    /rsa-2048/,
  ],
];

for (const [name, key, field, reason] of RULES) {
  Deno.test(`catalog rule: ${name}`, () => bad(key, field, reason));
}

Deno.test("the valid neighbours of each rule load", () => {
  one(keyOf("public", { keyType: "ed25519" }));
  one(keyOf("public"));
  one(keyOf("public", { missing: "generate", generate: { format: "base64", bytes: 32 } }));
  one(keyOf("value", { missing: "warn" }));
  for (const kt of ["x25519", "ml-kem-512", "ml-kem-768", "ml-kem-1024"]) {
    one(keyOf("sealing", { keyType: kt }));
  }
  one(keyOf("symmetric", { keyType: "chacha20-poly1305" }));
  for (const kt of ["rsa-2048", "ecdsa-p256", "ecdsa-p384"]) {
    one(keyOf("asymmetric", { keyType: kt, labels: ["svid_kind=jwt"] }));
  }
  one(keyOf("asymmetric", { keyType: "ecdsa-p521", labels: ["svid_kind=x509"] }));
  one(keyOf("asymmetric", { engine: "pki", path: "pki/issue/web" }));
  one(keyOf("asymmetric", { engine: "pki", path: "pki_int2/issue/svid-role" }));
  one(keyOf("sealing", { sealingPin: { parties: { partyV: "v" } } }));
  one(keyOf("sealing", { sealingPin: { externalAad: [""] } }));
  for (
    const g of [
      { format: "hex", bytes: 16 },
      { format: "age-x25519" },
      { format: "self-signed-tls", commonName: "web", validity: "720h" },
      { format: "self-signed-tls-pair-of", pairOf: "web.tls.cert" },
    ]
  ) {
    one(keyOf("value", { missing: "generate", generate: g }));
  }
});

const RESERVED: [string, string, string][] = [
  ["crypto_provider", "vault-transit", "hsm"],
  ["crypto_provider_version", "1", ""],
  ["pqc_algorithm", "ml-dsa-65", "ml-dsa-99"],
  ["pqc_custody", "software-encrypted", "cloud"],
  ["pqc_storage_key", "secret/data/x", ""],
  ["crypto_provider_policy", "backend-required", "whatever"],
  ["migration_target", "other.key", ""],
  ["broker_key_use", "response-signing", "signing"],
];

for (const [name, good, badValue] of RESERVED) {
  Deno.test(`reserved label ${name}: value, bare form and duplicates`, () => {
    const { catalog } = one(keyOf("value", { labels: [`${name}=${good}`] }));
    assert.equal(catalog.keys.get("app.x")!.labelMap.get(name), good);
    bad(keyOf("value", { labels: ["ok", `${name}=${badValue}`] }), ".labels[1]", /bad value/);
    bad(keyOf("value", { labels: [name] }), ".labels[0]", new RegExp(`"${name}=…"`));
    bad(
      keyOf("value", { labels: [`${name}=${good}`, "x=y", `${name}=${good}`] }),
      ".labels[2]",
      /appears twice/,
    );
  });
}

Deno.test("other reserved-label values are all accepted", () => {
  const ok = [
    "crypto_provider=local-software",
    "pqc_algorithm=ml-dsa-44",
    "pqc_algorithm=ml-dsa-87",
    "pqc_algorithm=ml-kem-512",
    "pqc_algorithm=ml-kem-768",
    "pqc_algorithm=ml-kem-1024",
    "pqc_custody=backend-native",
    "crypto_provider_policy=backend-preferred",
    "crypto_provider_policy=local-software",
    "broker_key_use=request-encryption",
    "broker_key_use=response-encryption",
  ];
  for (const l of ok) one(keyOf("value", { labels: [l] }));
});

Deno.test("labels: malformed bare labels and empty names are rejected", () => {
  bad(keyOf("value", { labels: ["Has Space"] }), ".labels[0]", /malformed/);
  bad(keyOf("value", { labels: ["=v"] }), ".labels[0]", /name must not be empty/);
  one(keyOf("value", { labels: ["team=a=b", "free-form.slug_1", "note="] }));
});

Deno.test("labels that drive decisions may not be given twice", () => {
  // A second nats_type would otherwise silently win and could hide an issuer.
  for (
    const [a, b] of [
      ["nats_type=O", "nats_type=U"],
      ["svid_kind=jwt", "svid_kind=x509"],
      ["trust_domain=a", "trust_domain=b"],
      ["revocation_store=jwt-svid", "revocation_store=jwt-svid"],
    ]
  ) {
    bad(
      keyOf("asymmetric", { keyType: "rsa-2048", labels: [a, b] }),
      ".labels[1]",
      /appears twice/,
    );
  }
});

Deno.test("credential issuers: nats_type O/A and svid_kind jwt/x509", () => {
  const cases: [string[], boolean][] = [
    [["nats_type=O"], true],
    [["nats_type=A"], true],
    [["nats_type=U"], false],
    [["nats_type=X"], false],
    [["svid_kind=jwt"], true],
    [["svid_kind=x509"], true],
    [["svid_kind=other"], false],
    [["nats_type"], false],
    [[], false],
  ];
  for (const [labels, issuer] of cases) {
    const { catalog } = one(keyOf("asymmetric", { keyType: "rsa-2048", labels }));
    assert.equal(isCredentialIssuer(catalog.keys.get("app.x")!), issuer, labels.join(","));
  }
});

Deno.test("warnings: ed25519-nkey without a valid nats_type", () => {
  for (const labels of [[], ["nats_type=Z"], ["nats_type=OA"], ["nats_type="], ["nats_type"]]) {
    const { warnings } = one(keyOf("asymmetric", { keyType: "ed25519-nkey", labels }));
    assert.equal(warnings.length, 1, JSON.stringify(labels));
    assert.match(warnings[0]!, /catalog\.json: keys\["app\.x"\]\.labels: .*nats_type/);
  }
  for (const t of ["O", "A", "U", "N", "C", "X"]) {
    const { warnings } = one(
      keyOf("asymmetric", { keyType: "ed25519-nkey", labels: [`nats_type=${t}`] }),
    );
    assert.deepEqual(warnings, []);
  }
  // Only ed25519-nkey keys need nats_type.
  assert.deepEqual(one(keyOf("asymmetric")).warnings, []);
});

Deno.test("two keys may not share a (backend, path): the error names both keys", () => {
  // A transit signing key over a PKI CA's path would sign with the CA key.
  const ca = keyOf("asymmetric", {
    keyType: "ecdsa-p256",
    engine: "pki",
    path: "pki/issue/spiffe",
    labels: ["svid_kind=x509", "trust_domain=example.org"],
  });
  const alias = keyOf("asymmetric", { keyType: "ecdsa-p256", path: "pki/issue/spiffe" });
  const e = assertCatalogError(
    catalogWith({ "spiffe.ca": ca, "app.signer": alias }),
    'keys["app.signer"].path',
    /already used by keys\["spiffe\.ca"\]/,
  );
  assert.match(e.message, /backend "bao" path "pki\/issue\/spiffe"/);
  // Same class too: two names for one key would split its grants.
  assertCatalogError(
    catalogWith({ "app.a": keyOf("value"), "app.b": keyOf("value") }),
    'keys["app.b"].path',
    /already used by keys\["app\.a"\]/,
  );
  // The same path on different backends, or different paths, is fine.
  load({
    schemaVersion: 1,
    backends: {
      bao: { kind: "vault", addr: "http://127.0.0.1:8200" },
      bao2: { kind: "vault", addr: "http://127.0.0.1:8300" },
    },
    keys: {
      "app.a": keyOf("value"),
      "app.b": keyOf("value", { backend: "bao2" }),
      "app.c": keyOf("value", { path: "q" }),
    },
  });
});

Deno.test("a db-keystore addr must be an absolute file path (URIs are kept)", () => {
  const doc = (addr: string) => ({
    schemaVersion: 1,
    backends: { local: { kind: "keystore", addr } },
    keys: { "app.x": keyOf("value", { backend: "local" }) },
  });
  for (const addr of ["keystore.db", "./keystore.db", "var/lib/basil/keystore.db"]) {
    assertCatalogError(doc(addr), "backends.local.addr", /must be an absolute path/);
  }
  assert.equal(
    load(doc("/var/lib/basil/keystore.db")).catalog.backends.get("local")!.addr,
    "/var/lib/basil/keystore.db",
  );
  load(doc("onepassword://Private"));
  load(doc("onepassword+token://team@Private"));
});
