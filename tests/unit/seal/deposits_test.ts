/**
 * Credential deposits: record layout (signed JSON, AAD), every status
 * token, the effective-record rules, the 1024-record cap, fingerprints, and
 * that no record content can make evaluation throw.
 * @module
 */

import assert from "node:assert/strict";
import { fromUtf8, toBase64Url, utf8 } from "../../../lib/core/encoding.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { openBundle } from "../../../lib/seal/bundle.ts";
import { type BackendCred, wipeCred } from "../../../lib/seal/creds.ts";
import {
  type DepositReview,
  evaluateDeposits,
  wipeReviews,
} from "../../../lib/seal/deposits/evaluate.ts";
import { credFingerprint } from "../../../lib/seal/deposits/fingerprint.ts";
import { parseKeyToken, readSeedFile } from "../../../lib/seal/deposits/keys.ts";
import {
  credJson,
  depositAad,
  depositSignatureValid,
  signedBytes,
} from "../../../lib/seal/deposits/record.ts";
import { depositAction, reviewLine } from "../../../lib/seal/deposits/review.ts";
import { decodeBundle, type DepositRecord, encodeBundle } from "../../../lib/seal/format.ts";
import type { DepositMaterial } from "../../../lib/seal/payload.ts";
import { contributor, record, token, withDeposits, world } from "./deposit_helpers.ts";
import { CANARY, errorOf, passMethod, tempDir, writeFile } from "./helpers.ts";

async function material(w: Awaited<ReturnType<typeof world>>): Promise<DepositMaterial> {
  const opened = await openBundle(w.bytes, "/b", [passMethod(CANARY.passphrase)]);
  return opened.deposit;
}

const statuses = (rs: readonly DepositReview[]) => rs.map((r) => r.status);
const tokenText = (c: BackendCred | undefined) =>
  c?.type === "VaultToken" ? fromUtf8(c.token.expose()) : undefined;

Deno.test("deposit record: signed JSON and AAD have the contract's exact layout", async () => {
  const w = await world();
  const r = record(w, w.alice, "gcp1", 7, token("t"));
  const b = (x: Uint8Array) => toBase64Url(x);
  assert.equal(
    fromUtf8(signedBytes(r)),
    `{"backend_id":"gcp1","epoch":1,"seq":7,"contributor_key_id":"alice","sealed_cred":` +
      `{"encapsulated_key":"${b(r.sealed_cred.encapsulated_key)}","nonce":"${
        b(r.sealed_cred.nonce)
      }","ciphertext":"${b(r.sealed_cred.ciphertext)}"}}`,
  );
  const id = [...w.bundle.header.bundle_id].join(",");
  assert.equal(
    fromUtf8(
      depositAad({
        bundleId: w.bundle.header.bundle_id,
        epoch: 1,
        backendId: "gcp1",
        seq: 7,
        contributorKeyId: "alice",
      }),
    ),
    `basil-bundle-deposit-v1{"label":"deposit-cred","bundle_id":[${id}],"epoch":1,"backend_id":"gcp1","seq":7,"contributor_key_id":"alice"}`,
  );
  assert.equal(r.signature.length, 64);
  assert.ok(depositSignatureValid(r, parseKeyToken(w.alice.token, "k")));
  assert.ok(!depositSignatureValid(r, parseKeyToken(w.bob.token, "k")));
  // The record survives the file format unchanged.
  const round = decodeBundle(encodeBundle(withDeposits(w, [r])), "/b").deposits[0]!;
  assert.deepEqual(round, r);
  // The credential is not in the record in clear.
  assert.ok(
    !fromUtf8(encodeBundle(withDeposits(w, [record(w, w.alice, "bao", 1, token(CANARY.token))])))
      .includes(CANARY.token),
  );
});

Deno.test("deposits: every invalid record gets its status token and is ignored", async () => {
  const w = await world();
  const m = await material(w);
  const carol = contributor("carol");
  const forged = record(w, w.bob, "bao", 9, token("forged"), { contributorKeyId: "alice" });
  const tampered = record(w, w.alice, "bao", 10, token("x"));
  const ct = tampered.sealed_cred.ciphertext.slice();
  ct[0]! ^= 1;
  const undecryptable: DepositRecord = {
    ...tampered,
    sealed_cred: { ...tampered.sealed_cred, ciphertext: ct },
  };
  const records = [
    record(w, w.alice, "bao", 1, token("stale"), { epoch: 0 }),
    record(w, carol, "bao", 2, token("carol")),
    record(w, w.bob, "gcp1", 3, token("bob-gcp")),
    forged,
    undecryptable,
  ];
  const reviews = evaluateDeposits(withDeposits(w, records), m);
  assert.deepEqual(statuses(reviews), [
    "stale-epoch",
    "unauthorized-contributor",
    "unauthorized-backend",
    "bad-signature",
    "bad-signature", // the ciphertext is covered by the signature
  ]);
  assert.ok(reviews.every((r) => r.cred === undefined && r.fingerprint === undefined));
  // decrypt-failed: a validly signed record whose box does not open (wrong AAD binding).
  const wrongBundle = await world();
  const elsewhere = record(wrongBundle, w.alice, "bao", 4, token("x"));
  const resigned = record(w, w.alice, "bao", 4, token("x"));
  const swapped: DepositRecord = { ...resigned, sealed_cred: elsewhere.sealed_cred };
  const { signMessage } = await import("../../../lib/crypto/signing.ts");
  const signedSwap = {
    ...swapped,
    signature: signMessage("ed25519", w.alice.seed, signedBytes(swapped)),
  };
  // decode-failed: a validly sealed and signed record whose plaintext is not a credential.
  const { sealX25519 } = await import("../../../lib/crypto/x25519_seal.ts");
  const box = sealX25519(
    w.ingestPublic,
    utf8('{"NotACred":{}}'),
    depositAad({
      bundleId: w.bundle.header.bundle_id,
      epoch: 1,
      backendId: "bao",
      seq: 5,
      contributorKeyId: "alice",
    }),
  );
  const junkBody = {
    backend_id: "bao",
    epoch: 1,
    seq: 5,
    contributor_key_id: "alice",
    sealed_cred: {
      encapsulated_key: box.encapsulatedKey,
      nonce: box.nonce,
      ciphertext: box.ciphertext,
    },
  };
  const junk = {
    ...junkBody,
    signature: signMessage("ed25519", w.alice.seed, signedBytes(junkBody)),
  };
  assert.deepEqual(statuses(evaluateDeposits(withDeposits(w, [signedSwap, junk]), m)), [
    "decrypt-failed",
    "decode-failed",
  ]);
  // No ingest key in the payload: every record is missing-ingest-identity.
  const noKey = await world({ ingest: false });
  const nm = await material(noKey);
  assert.deepEqual(
    statuses(
      evaluateDeposits(withDeposits(noKey, [record(w, noKey.alice, "bao", 1, token("t"))]), nm),
    ),
    ["missing-ingest-identity"],
  );
});

Deno.test("deposits: newest per (contributor, backend), then newest per backend; ties go to the later record", async () => {
  const w = await world();
  const m = await material(w);
  const records = [
    record(w, w.alice, "bao", 1, token("a1")),
    record(w, w.alice, "bao", 3, token("a3")),
    record(w, w.bob, "bao", 2, token("b2")),
    record(w, w.alice, "gcp1", 5, token("g5")),
    record(w, w.alice, "gcp1", 5, token("g5-later")),
  ];
  const reviews = evaluateDeposits(withDeposits(w, records), m);
  assert.deepEqual(statuses(reviews), [
    "superseded",
    "effective",
    "superseded",
    "superseded",
    "effective",
  ]);
  assert.equal(tokenText(reviews[1]!.cred), "a3");
  assert.equal(tokenText(reviews[4]!.cred), "g5-later");
  assert.ok(reviews[0]!.cred === undefined && reviews[0]!.fingerprint?.startsWith("sha256:"));
  const ids = new Set(["bao"]);
  assert.deepEqual(reviews.map((r) => depositAction(r, ids)), [
    "replace",
    "replace",
    "replace",
    "new",
    "new",
  ]);
  assert.equal(
    reviewLine(reviews[3]!, ids),
    `deposit: backend=gcp1, contributor=alice, epoch=1, seq=5, status=superseded, action=new, fingerprint=${
      reviews[3]!.fingerprint
    }`,
  );
  wipeReviews(reviews);
  assert.ok(reviews.every((r) => r.cred === undefined));
  // Bob's newer record beats alice's older one for the same backend.
  const later = evaluateDeposits(
    withDeposits(w, [
      record(w, w.alice, "bao", 1, token("a")),
      record(w, w.bob, "bao", 2, token("b")),
    ]),
    m,
  );
  assert.deepEqual(statuses(later), ["superseded", "effective"]);
  wipeReviews(later);
});

Deno.test("deposits: at most 1024 records are processed; the rest are log-too-large", async () => {
  const w = await world();
  const m = await material(w);
  const r = record(w, w.alice, "bao", 1, token("t"));
  const reviews = evaluateDeposits(withDeposits(w, Array.from({ length: 1026 }, () => r)), m);
  assert.equal(reviews.length, 1026);
  assert.deepEqual(statuses(reviews.slice(1022)), [
    "superseded",
    "effective",
    "log-too-large",
    "log-too-large",
  ]);
  wipeReviews(reviews);
});

Deno.test("deposits: arbitrary record content never throws", async () => {
  const w = await world();
  const m = await material(w);
  const good = record(w, w.alice, "bao", 1, token("t"));
  const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
  const weird: DepositRecord[] = [
    { ...good, signature: new Uint8Array() },
    { ...good, signature: rnd(64) },
    {
      ...good,
      sealed_cred: {
        encapsulated_key: new Uint8Array(),
        nonce: new Uint8Array(),
        ciphertext: new Uint8Array(),
      },
    },
    {
      ...good,
      sealed_cred: { encapsulated_key: new Uint8Array(32), nonce: rnd(12), ciphertext: rnd(40) },
    },
    { ...good, backend_id: "", contributor_key_id: "" },
    { ...good, seq: Number.MAX_SAFE_INTEGER, epoch: Number.MAX_SAFE_INTEGER },
  ];
  const reviews = evaluateDeposits(withDeposits(w, weird), m);
  assert.equal(reviews.length, weird.length);
  assert.ok(reviews.every((r) => r.status !== "effective"));
  // A contributor whose stored key is malformed cannot sign anything valid.
  m.contributors.set("alice", { public_key: "not-a-key", allowed_backend_ids: ["bao"] });
  assert.deepEqual(statuses(evaluateDeposits(withDeposits(w, [good]), m)), ["bad-signature"]);
});

Deno.test("fingerprints: GCP service-account identity when present, else sha256 of the credential JSON", () => {
  const sa = (json: string): BackendCred => ({
    type: "GcpKms",
    project: "p",
    location: "global",
    key_ring: "r",
    service_account_json: new SecretBytes(utf8(json)),
  });
  const full = sa(
    `{"type":"service_account","project_id":"proj","client_email":"x@proj.iam.gserviceaccount.com","private_key_id":"k1","private_key":"${CANARY.pem}"}`,
  );
  assert.equal(
    credFingerprint(full, credJson(full)),
    "gcp-sa:proj:x@proj.iam.gserviceaccount.com:k1",
  );
  const partial = sa(`{"project_id":"proj","private_key":"${CANARY.pem}"}`);
  const fp = credFingerprint(partial, credJson(partial));
  assert.match(fp, /^sha256:[A-Za-z0-9_-]{43}$/);
  assert.ok(!fp.includes("CANARY"));
  const t = token(CANARY.token);
  assert.equal(
    credFingerprint(t, credJson(t)),
    credFingerprint(token(CANARY.token), credJson(token(CANARY.token))),
  );
  assert.notEqual(
    credFingerprint(t, credJson(t)),
    credFingerprint(token("other"), credJson(token("other"))),
  );
  for (const c of [full, partial, t]) wipeCred(c);
});

Deno.test("deposit keys: tokens are 32-byte base64url; seed files are 0600 and 32 bytes", async () => {
  const dir = await tempDir();
  assert.throws(
    () => parseKeyToken("abc", "--contributor"),
    /--contributor: expected a base64url \(no padding\) 32-byte key/,
  );
  assert.equal(parseKeyToken(`${toBase64Url(new Uint8Array(32))}\n`, "x").length, 32);
  const seed = new Uint8Array(32).fill(0x0a); // a raw seed may end in LF
  assert.deepEqual(readSeedFile(writeFile(dir, "s1", seed)).expose(), seed);
  const withNl = new Uint8Array([...new Uint8Array(32).fill(7), 0x0a]);
  assert.deepEqual(readSeedFile(writeFile(dir, "s2", withNl)).expose(), withNl.subarray(0, 32));
  const short = await errorOf(() => readSeedFile(writeFile(dir, "s3", new Uint8Array(31))));
  assert.match(short.message, /identity seed file .*s3: must contain exactly 32 bytes/);
  const loose = await errorOf(() => readSeedFile(writeFile(dir, "s4", seed, 0o640)));
  assert.match(loose.message, /identity seed file .*s4: mode is 0640, must be 0600/);
});
