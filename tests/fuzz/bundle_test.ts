/**
 * Fuzz: the sealed bundle file (lib/seal/format.ts: header, slots, payload
 * and deposit log), its deposit records as judged by
 * lib/seal/deposits/evaluate.ts, the `bundle create --from` plan TOML
 * (lib/seal/bundle_toml.ts), and the `--slot` / `--open` / `--backend` spec
 * strings. Each either parses or throws `InputError`; deposit review never
 * throws and gives every record one status.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { toBase64Url } from "../../lib/core/encoding.ts";
import { InputError } from "../../lib/core/errors.ts";
import { SecretBytes } from "../../lib/core/secret.ts";
import { createBundle } from "../../lib/seal/bundle.ts";
import { parseBackendSpec } from "../../lib/seal/backend_spec.ts";
import { parseBundlePlan } from "../../lib/seal/bundle_toml.ts";
import { evaluateDeposits, wipeReviews } from "../../lib/seal/deposits/evaluate.ts";
import { contributorPublicKey, ingestPublicKey, newSeed } from "../../lib/seal/deposits/keys.ts";
import { makeDeposit } from "../../lib/seal/deposits/record.ts";
import { decodeBundle, encodeBundle } from "../../lib/seal/format.ts";
import type { DecodedBundle, DepositRecord } from "../../lib/seal/format.ts";
import type { DepositMaterial } from "../../lib/seal/payload.ts";
import { parseOpenSpec, parseSlotSpec } from "../../lib/seal/slot_spec.ts";
import { PassphraseMethod } from "../../lib/seal/slots/passphrase.ts";
import { fuzz, fuzzBytes, fuzzRuns, fuzzText, mutatedJson, onlyTyped } from "../helpers/fuzz.ts";
import { TEST_ARGON2 } from "../helpers/fixture.ts";

const FILE = "/var/lib/basil/bundle.sealed";
const enc = new TextEncoder();

/** A two-slot bundle with one valid deposit record, and the material that judges it. */
async function sample(): Promise<{ bytes: Uint8Array; deposit: DepositMaterial }> {
  const bytes = await createBundle({
    slots: [
      { method: new PassphraseMethod(SecretBytes.copyOf(enc.encode("one"))), label: "a" },
      { method: new PassphraseMethod(SecretBytes.copyOf(enc.encode("two"))), label: "b" },
    ],
    backends: new Map([["db", {
      type: "DbKeystoreDek",
      dek: SecretBytes.copyOf(new Uint8Array(32).fill(7)),
    }]]),
    argon2: TEST_ARGON2,
  });
  const b = decodeBundle(bytes, FILE);
  const ingest = SecretBytes.copyOf(crypto.getRandomValues(new Uint8Array(32)));
  const seed = newSeed();
  const record = makeDeposit(
    {
      bundleId: b.header.bundle_id,
      epoch: b.header.epoch,
      backendId: "db",
      seq: 1,
      contributorKeyId: "ci",
    },
    { type: "VaultToken", token: SecretBytes.copyOf(enc.encode("s.token")) },
    ingestPublicKey(ingest),
    seed.expose(),
  );
  const deposit: DepositMaterial = {
    ingestPrivateKey: ingest,
    contributors: new Map([["ci", {
      public_key: toBase64Url(contributorPublicKey(seed.expose())),
      allowed_backend_ids: ["db"],
    }]]),
  };
  const withDeposit: DecodedBundle = { ...b, deposits: [record, { ...record, seq: 2 }] };
  return { bytes: encodeBundle(withDeposit), deposit };
}

const SAMPLE = await sample();

/** Decodes; a decoded bundle's deposits are all reviewed without a throw. */
function decodeAndReview(bytes: Uint8Array): void {
  let b: DecodedBundle;
  try {
    b = decodeBundle(bytes, FILE);
  } catch (e) {
    if (e instanceof InputError) {
      assert.ok(e.token.startsWith("bundle_"), e.token);
      assert.ok(e.message.includes(FILE), e.message);
      return;
    }
    throw e;
  }
  const reviews = evaluateDeposits(b, SAMPLE.deposit);
  assert.equal(reviews.length, b.deposits.length);
  wipeReviews(reviews);
}

Deno.test("the sample bundle decodes and its signed deposit is effective, the re-sequenced copy bad-signature", () => {
  const b = decodeBundle(SAMPLE.bytes, FILE);
  const r = evaluateDeposits(b, SAMPLE.deposit);
  assert.deepEqual(r.map((x) => x.status), ["effective", "bad-signature"]);
  wipeReviews(r);
});

Deno.test("fuzz: bundle bytes decode or throw bundle_* InputError; deposits always reviewable", async () => {
  await fuzz(
    "bundle bytes",
    fc.property(fuzzBytes([SAMPLE.bytes], 512), decodeAndReview),
    fuzzRuns(400),
  );
});

Deno.test("fuzz: field-level mutations of the bundle body and deposit records", async () => {
  const magicLen = 11; // "BASILBDL\0" + 2-byte format_version
  const prefix = SAMPLE.bytes.subarray(0, magicLen);
  const body = JSON.parse(new TextDecoder().decode(SAMPLE.bytes.subarray(magicLen)));
  await fuzz(
    "bundle fields",
    fc.property(mutatedJson(body), (v) => {
      const text = enc.encode(JSON.stringify(v) ?? "");
      const bytes = new Uint8Array(prefix.length + text.length);
      bytes.set(prefix);
      bytes.set(text, prefix.length);
      decodeAndReview(bytes);
    }),
    fuzzRuns(600),
  );
});

Deno.test("fuzz: deposit records with mutated fields are reviewed, never thrown on", async () => {
  const b = decodeBundle(SAMPLE.bytes, FILE);
  const rec = b.deposits[0]!;
  const arb = fc.record({
    backend_id: fc.oneof(fc.constant(rec.backend_id), fc.string({ maxLength: 8 })),
    epoch: fc.oneof(fc.constant(rec.epoch), fc.integer(), fc.double()),
    seq: fc.oneof(fc.constant(rec.seq), fc.integer(), fc.constant(Number.MAX_SAFE_INTEGER + 2)),
    contributor_key_id: fc.oneof(fc.constant(rec.contributor_key_id), fc.string({ maxLength: 8 })),
    sealed_cred: fc.record({
      encapsulated_key: fuzzBytes([rec.sealed_cred.encapsulated_key], 40),
      nonce: fuzzBytes([rec.sealed_cred.nonce], 40),
      ciphertext: fuzzBytes([rec.sealed_cred.ciphertext], 200),
    }),
    signature: fuzzBytes([rec.signature], 80),
  });
  await fuzz(
    "deposit records",
    fc.property(fc.array(arb as fc.Arbitrary<DepositRecord>, { maxLength: 3 }), (records) => {
      const reviews = evaluateDeposits({ ...b, deposits: [rec, ...records] }, SAMPLE.deposit);
      assert.equal(reviews.length, records.length + 1);
      wipeReviews(reviews);
    }),
    fuzzRuns(300),
  );
});

const PLAN = `[[slot]]
type = "passphrase"
file = "/run/pass"
label = "ops"

[[slot]]
type = "tpm"
pcrs = [0, 7]
bank = "sha256"

[[backend]]
id = "db"
type = "db-keystore"
path = "/var/lib/basil/ks.db"
dek-file = "/run/dek"

[[backend]]
id = "bao"
type = "openbao"
addr = "https://bao.example"
token-file = "/run/tok"

[[backend]]
id = "aws"
type = "aws-kms"
region = "eu-west-1"
`;

Deno.test("fuzz: bundle plan TOML parses or throws InputError naming the file", async () => {
  parseBundlePlan(PLAN, "plan.toml");
  await fuzz(
    "bundle plan",
    fc.property(fuzzText([PLAN], 1024), (text) => {
      onlyTyped(() => parseBundlePlan(text, "plan.toml"), [InputError]);
    }),
    fuzzRuns(400),
  );
});

const SLOT_SPECS = [
  "passphrase:file=/run/pass,label=ops",
  "bip39:file=/run/words",
  "tpm:pcrs=0+7,bank=sha256",
  "age-yubikey:recipient=age1yubikey1qfxh0lhcujx8p4g5jsu4t2l4eqqsz2ykzdy6n2mm2zlcrcpu2ppzq2j0vn2",
];
const BACKEND_SPECS = [
  "id=db,type=db-keystore,path=/var/lib/ks.db,dek-file=/run/dek",
  "id=bao,type=openbao,addr=https://bao.example,token-file=/run/tok",
  "id=v,type=vault,addr=http://127.0.0.1:8200,role-id-file=/r,secret-id-file=/s",
  "id=aws,type=aws-kms,region=eu-west-1",
  "id=gcp,type=gcp-kms,project=p,location=global",
];

Deno.test("fuzz: --slot, --open and --backend specs parse or throw InputError", async () => {
  await fuzz(
    "slot and backend specs",
    fc.property(fuzzText([...SLOT_SPECS, ...BACKEND_SPECS], 200), (text) => {
      onlyTyped(() => parseSlotSpec(text), [InputError]);
      onlyTyped(() => parseOpenSpec(text), [InputError]);
      onlyTyped(() => parseBackendSpec(text), [InputError]);
    }),
    fuzzRuns(1000),
  );
});
