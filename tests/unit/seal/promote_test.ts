/**
 * `promote`: a full reseal that needs every slot opened, rewraps each slot
 * under a new header and KEK, folds the selected effective deposits into
 * the payload, clears their backend's records and bumps the epoch; a
 * dry run writes nothing; an edited age recipient is caught.
 * @module
 */

import assert from "node:assert/strict";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { fromUtf8, utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { x25519Generate } from "../../../lib/crypto/x25519_seal.ts";
import { createBundle, openBundle } from "../../../lib/seal/bundle.ts";
import { decodeBundle, encodeBundle } from "../../../lib/seal/format.ts";
import { promoteBundle } from "../../../lib/seal/promote.ts";
import { AgeMethod, parseAgeRecipient } from "../../../lib/seal/slots/age.ts";
import { parseAgeIdentities } from "../../../lib/seal/slots/age_identity.ts";
import { contributor, record, token, withDeposits, world } from "./deposit_helpers.ts";
import { CANARY, errorOf, FAST, passMethod, spyKdf } from "./helpers.ts";

const FILE = "/b.sealed";
const tokenOf = (c: unknown) =>
  (c as { type: string; token?: SecretBytes }).token
    ? fromUtf8((c as { token: SecretBytes }).token.expose())
    : undefined;

Deno.test("promote: folds the effective deposit, clears its records, bumps the epoch, new KEK", async () => {
  const w = await world();
  const bundle = withDeposits(w, [
    record(w, w.alice, "bao", 1, token("old-rotated")),
    record(w, w.alice, "bao", 2, token("new-rotated")),
    record(w, w.alice, "gcp1", 1, token("gcp")),
    record(w, w.bob, "bao", 1, token("bob"), { epoch: 0 }),
  ]);
  const dry = await promoteBundle(bundle, FILE, [passMethod(CANARY.passphrase)], {
    backends: ["bao"],
  }, { dryRun: true });
  assert.equal(dry.bytes, undefined);
  assert.deepEqual(dry.reviews.map((r) => r.status), [
    "superseded",
    "effective",
    "effective",
    "stale-epoch",
  ]);
  assert.deepEqual(dry.selected.map((r) => r.index), [1]);
  assert.ok(dry.reviews.every((r) => r.cred === undefined), "no credential outlives the call");
  assert.equal(dry.newEpoch, 2);

  const r = await promoteBundle(bundle, FILE, [passMethod(CANARY.passphrase)], {
    backends: ["bao"],
  });
  const after = decodeBundle(r.bytes!, FILE);
  assert.equal(after.header.epoch, 2);
  assert.deepEqual(after.header.bundle_id, bundle.header.bundle_id);
  assert.deepEqual(after.deposits.map((d) => [d.backend_id, d.seq]), [["gcp1", 1]]);
  assert.notDeepEqual(after.slots[0]!.wrap, bundle.slots[0]!.wrap);
  const opened = await openBundle(after, FILE, [passMethod(CANARY.passphrase)]);
  assert.equal(tokenOf(opened.backends.get("bao")), "new-rotated");
  assert.ok(opened.deposit.ingestPrivateKey !== undefined, "the ingest key and allow-list survive");
  assert.deepEqual([...opened.deposit.contributors.keys()].sort(), ["alice", "bob"]);
  opened.wipe();
  // The old slot (old header, old KEK) cannot open the new payload.
  const frankenstein = encodeBundle({
    ...after,
    headerBytes: bundle.headerBytes,
    header: bundle.header,
    slots: bundle.slots,
  });
  await assert.rejects(
    openBundle(frankenstein, FILE, [passMethod(CANARY.passphrase)]),
    /payload failed authentication/,
  );
  // The remaining gcp1 record is now stale.
  const again = await promoteBundle(after, FILE, [passMethod(CANARY.passphrase)], {}, {
    dryRun: true,
  });
  assert.deepEqual(again.reviews.map((x) => x.status), ["stale-epoch"]);
});

Deno.test("promote: refused unless every slot opens; nothing selected is refused", async () => {
  const w = await world();
  const two = await createBundle({
    slots: [
      { method: passMethod(CANARY.passphrase), label: "main" },
      { method: passMethod("second"), label: "spare" },
    ],
    backends: new Map(),
    deposit: {
      contributors: new Map([["alice", {
        public_key: w.alice.token,
        allowed_backend_ids: ["bao"],
      }]]),
      ingestPrivateKey: new SecretBytes(new Uint8Array(32).fill(3)),
    },
    argon2: FAST,
  });
  const b = decodeBundle(two, FILE);
  const ingest = (await import("../../../lib/crypto/x25519_seal.ts")).x25519PublicKey(
    new Uint8Array(32).fill(3),
  );
  const ww = { ...w, bundle: b, bytes: two, ingestPublic: ingest };
  const withDep = withDeposits(ww, [record(ww, w.alice, "bao", 1, token("t"))]);
  const e = await errorOf(() => promoteBundle(withDep, FILE, [passMethod(CANARY.passphrase)], {}));
  assert.ok(e instanceof InputError && e.token === "bundle_promote_locked", String(e));
  assert.match(
    e.message,
    /promote rewraps every slot, but slot 1 \(method=passphrase, label=spare\) did not open/,
  );
  // Argon2 runs: slot 0 opens once (never again to check it), slot 1 is
  // tried with both passphrases, and each slot is rewrapped: 1 + 2 + 2.
  const spy = spyKdf();
  const ok = await promoteBundle(withDep, FILE, [
    passMethod(CANARY.passphrase, spy.kdf),
    passMethod("second", spy.kdf),
  ], {});
  assert.equal(spy.calls(), 5);
  const after = decodeBundle(ok.bytes!, FILE);
  assert.deepEqual(after.slots.map((s) => [s.slot_id, s.label]), [[0, "main"], [1, "spare"]]);
  assert.ok(
    after.slots[1]!.params.kind === "passphrase" && b.slots[1]!.params.kind === "passphrase",
  );
  assert.deepEqual(after.slots[1]!.params.argon2, b.slots[1]!.params.argon2, "costs are kept");
  for (const pass of [CANARY.passphrase, "second"]) {
    (await openBundle(after, FILE, [passMethod(pass)])).wipe();
  }
  const none = await errorOf(() =>
    promoteBundle(withDep, FILE, [passMethod(CANARY.passphrase), passMethod("second")], {
      backends: ["gcp1"],
    })
  );
  assert.ok(none instanceof InputError && none.token === "bundle_promote_empty");
  const byWho = await errorOf(() =>
    promoteBundle(withDep, FILE, [passMethod(CANARY.passphrase), passMethod("second")], {
      contributors: ["bob"],
    })
  );
  assert.ok(byWho instanceof InputError && byWho.token === "bundle_promote_empty");
});

Deno.test("promote: an age slot is rewrapped to its recipient and must reopen; an edited recipient is caught", async () => {
  const idText = await generateIdentity();
  const recipient = await identityToRecipient(idText);
  const ids = await parseAgeIdentities(utf8(idText), "id");
  const alice = contributor("alice");
  const pair = x25519Generate();
  const bytes = await createBundle({
    slots: [
      { method: passMethod(CANARY.passphrase), label: "main" },
      { method: new AgeMethod({ recipient: parseAgeRecipient(recipient) }), label: "age" },
    ],
    backends: new Map(),
    deposit: {
      contributors: new Map([["alice", { public_key: alice.token, allowed_backend_ids: ["bao"] }]]),
      ingestPrivateKey: pair.privateKey,
    },
    argon2: FAST,
  });
  const b = decodeBundle(bytes, FILE);
  const w = { bytes, bundle: b, ingestPublic: pair.publicKey, alice, bob: alice };
  const withDep = withDeposits(w, [record(w, alice, "bao", 1, token("t"))]);
  const openers = [passMethod(CANARY.passphrase), new AgeMethod({ identities: ids })];
  const ok = await promoteBundle(withDep, FILE, openers, {});
  const after = decodeBundle(ok.bytes!, FILE);
  assert.equal(
    after.slots[1]!.params.kind === "age-yubikey" && after.slots[1]!.params.recipient,
    recipient,
  );
  (await openBundle(after, FILE, [new AgeMethod({ identities: ids })])).wipe();
  // Someone edits the unauthenticated recipient field to their own key.
  const attacker = await identityToRecipient(await generateIdentity());
  const edited = {
    ...withDep,
    slots: [withDep.slots[0]!, {
      ...withDep.slots[1]!,
      params: { kind: "age-yubikey" as const, recipient: attacker },
    }],
  };
  const e = await errorOf(() => promoteBundle(edited, FILE, openers, {}));
  assert.ok(e instanceof InputError && e.token === "bundle_promote_age_mismatch", String(e));
  assert.match(
    e.message,
    /slot 1: the rewrapped age slot does not open with the identity that opened it/,
  );
});
