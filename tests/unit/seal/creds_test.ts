/**
 * BackendCred JSON (externally tagged, upstream field order) and the payload
 * plaintext codec.
 * @module
 */

import assert from "node:assert/strict";
import { toBase64Url, utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import {
  type BackendCred,
  credKind,
  readCred,
  wipeCreds,
  writeCred,
} from "../../../lib/seal/creds.ts";
import { parseJsonBytes } from "../../../lib/seal/json_bytes.ts";
import { JsonWriter } from "../../../lib/seal/json_writer.ts";
import { ShapeError } from "../../../lib/seal/json_shape.ts";
import { decodePayload, encodePayload, wipePayload } from "../../../lib/seal/payload.ts";

const S = (s: string): SecretBytes => new SecretBytes(utf8(s));
const DEK = new Uint8Array(32).map((_, i) => i);

function json(cred: BackendCred): string {
  const w = new JsonWriter();
  writeCred(w, cred);
  return new TextDecoder().decode(w.finish());
}

const expose = (cred: BackendCred): unknown =>
  JSON.parse(JSON.stringify(cred, (_k, v) => v instanceof SecretBytes ? [...v.expose()] : v));

const CASES: [BackendCred, string][] = [
  [
    { type: "VaultToken", token: S('s.tok\n"x'), addr: "http://127.0.0.1:8200" },
    '{"VaultToken":{"token":"s.tok\\n\\"x","addr":"http://127.0.0.1:8200"}}',
  ],
  [{ type: "VaultToken", token: S("t") }, '{"VaultToken":{"token":"t"}}'],
  [
    { type: "VaultAppRole", role_id: "r", secret_id: S("sid") },
    '{"VaultAppRole":{"role_id":"r","secret_id":"sid"}}',
  ],
  [
    { type: "SpiffeSigner", key_pem: S("-----BEGIN-----\nAA\n"), spiffe_id: "spiffe://td/basil" },
    '{"SpiffeSigner":{"key_pem":"-----BEGIN-----\\nAA\\n","spiffe_id":"spiffe://td/basil"}}',
  ],
  [
    { type: "DbKeystoreDek", dek: SecretBytes.copyOf(DEK) },
    `{"DbKeystoreDek":{"dek":"${toBase64Url(DEK)}"}}`,
  ],
  [
    { type: "OnePassword", provider_uri: "onepassword://Private", project: "p", profile: "prod" },
    '{"OnePassword":{"provider_uri":"onepassword://Private","project":"p","profile":"prod"}}',
  ],
  [{ type: "AwsKms", region: "us-east-1" }, '{"AwsKms":{"region":"us-east-1"}}'],
  [{ type: "AwsKms" }, '{"AwsKms":{}}'],
  [
    {
      type: "GcpKms",
      project: "p",
      location: "global",
      key_ring: "r",
      service_account_json: S("{}"),
    },
    '{"GcpKms":{"project":"p","location":"global","key_ring":"r","service_account_json":"{}"}}',
  ],
  [
    { type: "Opaque", kind: "x", secret: SecretBytes.copyOf(new Uint8Array([1, 2])) },
    '{"Opaque":{"kind":"x","secret":"AQI"}}',
  ],
];

Deno.test("creds: every variant writes upstream JSON and reads back equal", () => {
  for (const [cred, expected] of CASES) {
    assert.equal(json(cred), expected);
    const back = readCred(parseJsonBytes(utf8(expected)), "c");
    assert.deepEqual(expose(back), expose(cred));
  }
});

Deno.test("creds: secrets are SecretBytes and never render", () => {
  const back = readCred(parseJsonBytes(utf8('{"VaultToken":{"token":"CANARY"}}')), "c");
  assert.ok(back.type === "VaultToken" && back.token instanceof SecretBytes);
  assert.ok(!JSON.stringify(back).includes("CANARY"));
  assert.ok(!Deno.inspect(back).includes("CANARY"));
});

Deno.test("creds: null optionals read as absent; kind names are stable", () => {
  const c = readCred(parseJsonBytes(utf8('{"VaultToken":{"token":"t","addr":null}}')), "c");
  assert.equal(json(c), '{"VaultToken":{"token":"t"}}');
  assert.deepEqual(
    CASES.map(([x]) => credKind(x)),
    [
      "vault-token",
      "vault-token",
      "vault-approle",
      "spiffe-signer",
      "db-keystore-dek",
      "onepassword",
      "aws-kms",
      "aws-kms",
      "gcp-kms",
      "opaque",
    ],
  );
});

Deno.test("creds: malformed credentials are refused with a path, never a value", () => {
  const bad: [string, RegExp][] = [
    ['{"VaultKey":{"token":"SECRETX"}}', /unknown credential variant "VaultKey"/],
    ['{"VaultToken":{"token":"SECRETX"},"AwsKms":{}}', /exactly one credential variant/],
    ['{"VaultToken":{"token":"SECRETX","x":1}}', /c\.VaultToken: unknown field "x"/],
    ['{"VaultToken":{}}', /c\.VaultToken\.token: required field is missing/],
    ['{"VaultToken":{"token":5}}', /token: expected a string/],
    ['{"DbKeystoreDek":{"dek":"AAAA"}}', /dek: must decode to exactly 32 bytes/],
    ['{"DbKeystoreDek":{"dek":"SECRETX="}}', /dek: expected base64url/],
    ['{"AwsKms":{"region":null,"profile":7}}', /profile: expected a string/],
    ["[]", /expected an object/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => readCred(parseJsonBytes(utf8(text)), "c"), (e: unknown) => {
      assert.ok(e instanceof ShapeError);
      assert.match(e.message, re);
      assert.ok(!e.message.includes("SECRETX"));
      return true;
    });
  }
});

Deno.test("creds: wipeCreds zeroes every secret and empties the map", () => {
  const token = S("tok");
  const dek = SecretBytes.copyOf(DEK);
  const raw = dek.expose();
  const m = new Map<string, BackendCred>([
    ["a", { type: "VaultToken", token }],
    ["b", { type: "DbKeystoreDek", dek }],
    ["c", { type: "AwsKms" }],
  ]);
  wipeCreds(m);
  assert.equal(m.size, 0);
  assert.ok(token.wiped && dek.wiped);
  assert.ok(raw.every((b) => b === 0));
});

Deno.test("payload: exact plaintext layout with sorted ids and deposit section", () => {
  const backends = new Map<string, BackendCred>([
    ["zeta", { type: "AwsKms", region: "eu-west-1" }],
    ["alpha", { type: "VaultToken", token: S("t") }],
  ]);
  const plain = encodePayload({ backends, deposit: { contributors: new Map() } });
  assert.equal(
    new TextDecoder().decode(plain),
    '{"schema_version":2,"backends":{"alpha":{"VaultToken":{"token":"t"}},' +
      '"zeta":{"AwsKms":{"region":"eu-west-1"}}},"deposit":{"contributors":{}}}',
  );
});

Deno.test("payload: round-trips backends and deposit material", () => {
  const key = new Uint8Array(32).fill(0xab);
  const p = {
    backends: new Map<string, BackendCred>([["db", {
      type: "DbKeystoreDek",
      dek: SecretBytes.copyOf(DEK),
    }]]),
    deposit: {
      ingestPrivateKey: SecretBytes.copyOf(key),
      contributors: new Map([["alice", {
        public_key: "pk",
        allowed_backend_ids: ["gcp2", "gcp1", "gcp1"],
      }]]),
    },
  };
  const plain = encodePayload(p);
  const text = new TextDecoder().decode(plain);
  assert.ok(text.includes(`"ingest_private_key":"${toBase64Url(key)}"`));
  assert.ok(text.includes('"allowed_backend_ids":["gcp1","gcp2"]'));
  const back = decodePayload(plain, "/b");
  assert.deepEqual(back.deposit.ingestPrivateKey?.expose(), key);
  assert.deepEqual(back.deposit.contributors.get("alice")?.allowed_backend_ids, ["gcp1", "gcp2"]);
  assert.deepEqual(encodePayload(back), plain);
  wipePayload(back);
  assert.equal(back.backends.size, 0);
  assert.ok(back.deposit.ingestPrivateKey?.wiped);
});

Deno.test("payload: schema 1 without deposit is read; other versions and shapes are refused", () => {
  const v1 = decodePayload(utf8('{"schema_version":1,"backends":{}}'), "/b");
  assert.equal(v1.backends.size, 0);
  assert.equal(v1.deposit.contributors.size, 0);
  const bad: [string, RegExp][] = [
    ['{"schema_version":3,"backends":{}}', /payload: schema_version: unsupported version/],
    ['{"schema_version":2}', /payload: backends: expected an object/],
    ['{"schema_version":2,"backends":{},"x":1}', /unknown field "x"/],
    [
      '{"schema_version":2,"backends":{"a":{"VaultToken":{"token":"CANARYQ"}},"a":{}}}',
      /duplicate/,
    ],
    ["{", /payload: expected object key at byte 1/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => decodePayload(utf8(text), "/b"), (e: unknown) => {
      assert.ok(e instanceof InputError && e.token === "bundle_corrupt");
      assert.match(e.message, re);
      assert.ok(e.message.startsWith("bundle /b: payload: "));
      assert.ok(!e.message.includes("CANARYQ"));
      return true;
    });
  }
});
