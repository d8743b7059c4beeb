/**
 * Bundle file layout (contract §6): magic, version, JSON field order,
 * base64url fields, header_b64 as AAD, strict decoding.
 * @module
 */

import assert from "node:assert/strict";
import { decodeBase64Url, toBase64Url, utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import {
  decodeBundle,
  type DecodedBundle,
  encodeBundle,
  encodeHeader,
  MAGIC,
} from "../../../lib/seal/format.ts";

const ID = new Uint8Array(16).fill(7);
const HEADER = { format_version: 1 as const, bundle_id: ID, created_unix: 1_700_000_000, epoch: 1 };

function sample(): DecodedBundle {
  return {
    headerBytes: encodeHeader(HEADER),
    header: HEADER,
    slots: [{
      slot_id: 0,
      method: "passphrase",
      label: "passphrase",
      created_unix: 1_700_000_001,
      params: {
        kind: "passphrase",
        salt: new Uint8Array(16).fill(1),
        argon2: { m_cost_kib: 65536, t_cost: 3, p_cost: 1 },
      },
      wrap: { nonce: new Uint8Array(12).fill(2), ciphertext: new Uint8Array(48).fill(3) },
    }],
    payload: { nonce: new Uint8Array(12).fill(4), ciphertext: new Uint8Array(40).fill(5) },
    deposits: [],
  };
}

const body = (file: Uint8Array): string => new TextDecoder().decode(file.subarray(11));

function withBody(mutate: (b: Record<string, unknown>) => void): Uint8Array {
  const file = encodeBundle(sample());
  const json = JSON.parse(body(file));
  mutate(json);
  const out = utf8(JSON.stringify(json));
  const res = new Uint8Array(11 + out.length);
  res.set(file.subarray(0, 11));
  res.set(out, 11);
  return res;
}

function rejects(bytes: Uint8Array, token: string, pattern: RegExp): void {
  assert.throws(() => decodeBundle(bytes, "/b.sealed"), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.equal(e.token, token);
    assert.match(e.message, pattern);
    assert.ok(e.message.startsWith("bundle /b.sealed: "), e.message);
    return true;
  });
}

Deno.test("format: header bytes are compact JSON in upstream field order", () => {
  const text = new TextDecoder().decode(encodeHeader(HEADER));
  assert.equal(
    text,
    '{"format_version":1,"suite":{"container":"json","payload_aead":"aes-256-gcm",' +
      `"kek_wrap_aead":"aes-256-gcm"},"bundle_id":"${toBase64Url(ID)}",` +
      '"created_unix":1700000000,"epoch":1}',
  );
});

Deno.test("format: file = BASILBDL\\0 + u16 BE 1 + JSON body with base64url-no-pad fields", () => {
  const file = encodeBundle(sample());
  assert.deepEqual(file.subarray(0, 9), utf8("BASILBDL\0"));
  assert.deepEqual(file.subarray(0, 9), MAGIC);
  assert.deepEqual([...file.subarray(9, 11)], [0, 1]);
  const text = body(file);
  assert.ok(!text.includes("="), "no padding anywhere");
  assert.ok(!/[+/]/.test(text.replace(/"[a-z_]+":/g, "")), "url-safe alphabet");
  const json = JSON.parse(text);
  assert.deepEqual(Object.keys(json), ["header_b64", "header", "slots", "payload", "deposits"]);
  assert.deepEqual(Object.keys(json.slots[0]), [
    "slot_id",
    "method",
    "label",
    "created_unix",
    "params",
    "wrap",
  ]);
  assert.deepEqual(Object.keys(json.slots[0].params), ["kind", "salt", "argon2"]);
  assert.deepEqual(json.slots[0].params.argon2, { m_cost_kib: 65536, t_cost: 3, p_cost: 1 });
  assert.deepEqual(Object.keys(json.payload), ["nonce", "ciphertext"]);
  assert.deepEqual(json.deposits, []);
  // header_b64 decodes to exactly the header bytes (the AAD).
  assert.deepEqual(decodeBase64Url(json.header_b64), encodeHeader(HEADER));
  assert.equal(json.header.bundle_id, "BwcHBwcHBwcHBwcHBwcHBw");
});

Deno.test("format: decode keeps the literal header bytes and re-encodes byte-identically", () => {
  const file = encodeBundle(sample());
  const d = decodeBundle(file, "/b.sealed");
  assert.deepEqual(d.headerBytes, encodeHeader(HEADER));
  assert.equal(d.header.epoch, 1);
  assert.deepEqual(d.header.bundle_id, ID);
  assert.deepEqual(encodeBundle(d), file);
});

Deno.test("format: an upstream-shaped file with every slot kind and a deposit decodes and round-trips", () => {
  const hb = toBase64Url(encodeHeader(HEADER));
  const B = (n: number, v: number): string => toBase64Url(new Uint8Array(n).fill(v));
  const json = `{"header_b64":"${hb}","header":{"format_version":1,"suite":{"container":"json",` +
    `"payload_aead":"aes-256-gcm","kek_wrap_aead":"aes-256-gcm"},"bundle_id":"${
      toBase64Url(ID)
    }",` +
    `"created_unix":1700000000,"epoch":1},"slots":[` +
    `{"slot_id":0,"method":"tpm","label":"tpm","created_unix":5,"params":{"kind":"tpm",` +
    `"public":"${B(10, 1)}","private":"${B(20, 2)}","pcrs":{"bank":"sha256","pcrs":[0,2,4,7]},` +
    `"name_alg":"sha256","srk_template":"ecc-p256-srk-v1"},"wrap":{"nonce":"${B(12, 3)}",` +
    `"ciphertext":"${B(48, 4)}"}},` +
    `{"slot_id":1,"method":"age-yubikey","label":"yk","created_unix":6,"params":{"kind":` +
    `"age-yubikey","recipient":"age1yubikey1qexample"},"wrap":{"nonce":"","ciphertext":"${
      B(200, 5)
    }"}},` +
    `{"slot_id":2,"method":"bip39","label":"break-glass","created_unix":7,"params":{"kind":"bip39",` +
    `"salt":"${B(16, 6)}","argon2":{"m_cost_kib":65536,"t_cost":3,"p_cost":1}},"wrap":{"nonce":"${
      B(12, 7)
    }","ciphertext":"${B(48, 8)}"}}],` +
    `"payload":{"nonce":"${B(12, 9)}","ciphertext":"${
      B(64, 10)
    }"},"deposits":[{"backend_id":"gcp1",` +
    `"epoch":1,"seq":3,"contributor_key_id":"alice","sealed_cred":{"encapsulated_key":"${
      B(32, 11)
    }",` +
    `"nonce":"${B(12, 12)}","ciphertext":"${B(80, 13)}"},"signature":"${B(64, 14)}"}]}`;
  const file = new Uint8Array([...MAGIC, 0, 1, ...utf8(json)]);
  const d = decodeBundle(file, "/b.sealed");
  assert.deepEqual(d.slots.map((s) => s.method), ["tpm", "age-yubikey", "bip39"]);
  assert.equal(d.deposits.length, 1);
  assert.deepEqual(encodeBundle(d), file);
});

Deno.test("format: a body without deposits decodes with deposits = []", () => {
  const d = decodeBundle(withBody((b) => delete b.deposits), "/b.sealed");
  assert.deepEqual(d.deposits, []);
});

Deno.test("format: magic and version are checked before the JSON body", () => {
  rejects(utf8("not a bundle at all"), "bundle_corrupt", /corrupt or truncated: bad magic/);
  rejects(new Uint8Array(0), "bundle_corrupt", /bad magic/);
  rejects(MAGIC, "bundle_corrupt", /truncated before format_version/);
  rejects(new Uint8Array([...MAGIC, 0]), "bundle_corrupt", /truncated before format_version/);
  rejects(
    new Uint8Array([...MAGIC, 0, 2, ...utf8("garbage")]),
    "bundle_unsupported",
    /unsupported format_version 2 \(this build understands 1\)/,
  );
  rejects(new Uint8Array([...MAGIC, 0, 1]), "bundle_corrupt", /body is not valid UTF-8 JSON/);
  rejects(new Uint8Array([...MAGIC, 0, 1, 0xff]), "bundle_corrupt", /not valid UTF-8 JSON/);
  const good = encodeBundle(sample());
  const bom = new Uint8Array([...good.subarray(0, 11), 0xef, 0xbb, 0xbf, ...good.subarray(11)]);
  rejects(bom, "bundle_corrupt", /body is not valid UTF-8 JSON/);
});

Deno.test("format: every field is validated, with the path in the message", () => {
  const cases: [(b: Record<string, unknown>) => void, RegExp][] = [
    [(b) => (b.extra = 1), /unknown field "extra"/],
    [(b) => delete b.payload, /payload: required field is missing/],
    [
      (b) => ((b.payload as Record<string, unknown>).nonce = toBase64Url(new Uint8Array(11))),
      /payload\.nonce: must decode to exactly 12 bytes/,
    ],
    [
      (b) => ((b.payload as Record<string, unknown>).ciphertext = "AAAA="),
      /payload\.ciphertext: expected canonical base64url/,
    ],
    [
      (b) => ((b.payload as Record<string, unknown>).ciphertext = "QR"),
      /payload\.ciphertext: expected canonical base64url/,
    ],
    [(b) => ((b.slots as Record<string, unknown>[])[0]!.method = "fido"), /slots\[0\]\.method/],
    [(b) => ((b.slots as Record<string, unknown>[])[0]!.slot_id = -1), /slots\[0\]\.slot_id/],
    [(b) => ((b.slots as Record<string, unknown>[])[0]!.slot_id = 2 ** 32), /slots\[0\]\.slot_id/],
    [
      (b) => ((b.slots as Record<string, unknown>[])[0]!.method = "bip39"),
      /params\.kind does not match method/,
    ],
    [(b) => (b.slots as unknown[]).push((b.slots as unknown[])[0]), /duplicate slot_id 0/],
    [(b) => ((b.header as Record<string, unknown>).epoch = 2), /header does not match header_b64/],
    [(b) => ((b.header as Record<string, unknown>).suite = { container: "cbor" }), /header\.suite/],
    [(b) => (b.header_b64 = toBase64Url(utf8("{}"))), /header_b64: format_version/],
    [(b) => (b.header_b64 = toBase64Url(utf8("not json"))), /header_b64 is not valid UTF-8 JSON/],
  ];
  for (const [mutate, pattern] of cases) rejects(withBody(mutate), "bundle_corrupt", pattern);
});
