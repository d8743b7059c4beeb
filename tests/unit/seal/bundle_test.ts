/**
 * Sealing and opening whole bundles: round trips, slots, tampering,
 * truncation, the production profile and `bundle show` metadata.
 * @module
 */

import assert from "node:assert/strict";
import { toHex, utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { createBundle, openBundle } from "../../../lib/seal/bundle.ts";
import type { BackendCred } from "../../../lib/seal/creds.ts";
import { describeBundle, formatBundleDescription } from "../../../lib/seal/describe.ts";
import {
  decodeBundle,
  type DecodedBundle,
  encodeBundle,
  type Slot,
} from "../../../lib/seal/format.ts";
import { argon2idKdf } from "../../../lib/seal/kdf.ts";
import { type SlotMethod, SlotOpenFailed, wrapAad } from "../../../lib/seal/slots/types.ts";
import {
  CANARY,
  CANARY_DEK,
  errorOf,
  FAST,
  passMethod,
  RecordingLogger,
  spyKdf,
} from "./helpers.ts";
import { webCryptoAesGcmOpen } from "../../helpers/webcrypto.ts";

const FILE = "/srv/basil/bundle.sealed";
const LOCKED = `bundle ${FILE}: no configured unlock slot opened it (tried: passphrase)`;

function backends(): Map<string, BackendCred> {
  return new Map<string, BackendCred>([
    ["bao", {
      type: "VaultToken",
      token: new SecretBytes(utf8(CANARY.token)),
      addr: "https://bao:8200",
    }],
    ["db", { type: "DbKeystoreDek", dek: SecretBytes.copyOf(CANARY_DEK) }],
    ["aws", { type: "AwsKms", region: "us-east-1" }],
  ]);
}

async function make(passes: string[] = [CANARY.passphrase]): Promise<Uint8Array> {
  return await createBundle({
    slots: passes.map((p, i) => ({ method: passMethod(p), label: `pass-${i}` })),
    backends: backends(),
    argon2: FAST,
    now: () => 1_750_000_000,
  });
}

const tokenOf = (m: Map<string, BackendCred>): string => {
  const c = m.get("bao");
  assert.ok(c?.type === "VaultToken");
  return new TextDecoder().decode(c.token.expose());
};

Deno.test("bundle: create → open round trip", async () => {
  const file = await make();
  const opened = await openBundle(file, FILE, [passMethod(CANARY.passphrase)]);
  assert.equal(opened.slotId, 0);
  assert.equal(opened.bundle.header.epoch, 1);
  assert.equal(opened.bundle.header.created_unix, 1_750_000_000);
  assert.deepEqual([...opened.backends.keys()].sort(), ["aws", "bao", "db"]);
  assert.equal(tokenOf(opened.backends), CANARY.token);
  const db = opened.backends.get("db");
  assert.deepEqual(db?.type === "DbKeystoreDek" && db.dek.expose(), CANARY_DEK);
  assert.deepEqual(opened.backends.get("aws"), { type: "AwsKms", region: "us-east-1" });
  opened.wipe();
  assert.equal(opened.backends.size, 0);
});

Deno.test("bundle: independent decryption confirms the layout (KEK wrap, payload AAD = header bytes)", async () => {
  const b = decodeBundle(await make(), FILE);
  const slot = b.slots[0]!;
  assert.ok(slot.params.kind === "passphrase");
  const key = await argon2idKdf(utf8(CANARY.passphrase), slot.params.salt, slot.params.argon2);
  const kek = await webCryptoAesGcmOpen(
    key,
    slot.wrap.nonce,
    wrapAad(b.headerBytes, 0),
    slot.wrap.ciphertext,
  );
  assert.equal(kek?.length, 32);
  const plain = await webCryptoAesGcmOpen(
    kek!,
    b.payload.nonce,
    b.headerBytes,
    b.payload.ciphertext,
  );
  const json = JSON.parse(new TextDecoder().decode(plain));
  assert.equal(json.schema_version, 2);
  assert.deepEqual(Object.keys(json.backends), ["aws", "bao", "db"]);
  assert.deepEqual(json.deposit, { contributors: {} });
});

Deno.test("bundle: every bundle gets a fresh id, KEK, salt and nonces", async () => {
  const [a, b] = [decodeBundle(await make(), FILE), decodeBundle(await make(), FILE)];
  assert.notDeepEqual(a.header.bundle_id, b.header.bundle_id);
  assert.notDeepEqual(a.payload.nonce, b.payload.nonce);
  assert.notDeepEqual(a.slots[0]!.wrap.ciphertext, b.slots[0]!.wrap.ciphertext);
  assert.ok(a.slots[0]!.params.kind === "passphrase" && b.slots[0]!.params.kind === "passphrase");
  assert.notDeepEqual(a.slots[0]!.params.salt, b.slots[0]!.params.salt);
});

Deno.test("bundle: two passphrase slots each open the same payload", async () => {
  const file = await make(["first-pass", "second-pass"]);
  const d = decodeBundle(file, FILE);
  assert.deepEqual(d.slots.map((s) => [s.slot_id, s.label]), [[0, "pass-0"], [1, "pass-1"]]);
  const one = await openBundle(file, FILE, [passMethod("first-pass")]);
  const two = await openBundle(file, FILE, [passMethod("second-pass")]);
  assert.equal(one.slotId, 0);
  assert.equal(two.slotId, 1);
  assert.equal(tokenOf(one.backends), tokenOf(two.backends));
  // Several openers of one method: each is tried on each slot.
  const both = await openBundle(file, FILE, [passMethod("nope"), passMethod("second-pass")]);
  assert.equal(both.slotId, 1);
});

Deno.test("bundle: a wrong passphrase gives the plain 'no slot opened' error", async () => {
  const file = await make();
  const logger = new RecordingLogger();
  const e = await errorOf(() => openBundle(file, FILE, [passMethod("wrong")], logger));
  assert.ok(e instanceof InputError);
  assert.equal(e.token, "bundle_locked");
  assert.equal(e.message, LOCKED);
  assert.match(logger.text(), /unlock slot did not open/);
  // A tampered slot wrap is indistinguishable from a wrong passphrase.
  const d = decodeBundle(file, FILE);
  const slot = d.slots[0]!;
  const ct = slot.wrap.ciphertext.slice();
  ct[0]! ^= 1;
  const tampered = encodeBundle({
    ...d,
    slots: [{ ...slot, wrap: { ...slot.wrap, ciphertext: ct } }],
  });
  const e2 = await errorOf(() => openBundle(tampered, FILE, [passMethod(CANARY.passphrase)]));
  assert.ok(e2 instanceof InputError && e2.token === "bundle_locked");
  assert.equal(e2.message, e.message);
});

Deno.test("bundle: slots of other methods are skipped; the passphrase slot still opens", async () => {
  const d = decodeBundle(await make(), FILE);
  const foreign: Slot[] = [
    {
      slot_id: 7,
      method: "tpm",
      label: "tpm",
      created_unix: 1,
      params: {
        kind: "tpm",
        public: new Uint8Array(8),
        private: new Uint8Array(8),
        pcrs: { bank: "sha256", pcrs: [0, 2, 4, 7] },
        name_alg: "sha256",
        srk_template: "ecc-p256-srk-v1",
      },
      wrap: { nonce: new Uint8Array(12), ciphertext: new Uint8Array(48) },
    },
    {
      slot_id: 8,
      method: "age-yubikey",
      label: "yk",
      created_unix: 1,
      params: { kind: "age-yubikey", recipient: "age1yubikey1qexample" },
      wrap: { nonce: new Uint8Array(0), ciphertext: new Uint8Array(100) },
    },
  ];
  const mixed = encodeBundle({ ...d, slots: [...foreign, ...d.slots] });
  const opened = await openBundle(mixed, FILE, [passMethod(CANARY.passphrase)]);
  assert.equal(opened.slotId, 0);
  const onlyForeign = encodeBundle({ ...d, slots: foreign });
  const e = await errorOf(() => openBundle(onlyForeign, FILE, [passMethod(CANARY.passphrase)]));
  assert.equal(e.message, `${LOCKED}; the bundle has no passphrase slot`);
  const none = await errorOf(() => openBundle(mixed, FILE, []));
  assert.match(none.message, /\(tried: none\)$/);
});

Deno.test("bundle: a method's operator-safe SlotOpenFailed reason is named once; a plain failure adds none", async () => {
  const d = decodeBundle(await make(["a", "b"]), FILE);
  const failing = (reason?: string): SlotMethod => ({
    method: "passphrase",
    create: () => Promise.reject(new Error("unused")),
    open: () => Promise.reject(new SlotOpenFailed(reason)),
    dispose: () => {},
  });
  const withReason = await errorOf(() => openBundle(d, FILE, [failing("PCR policy check failed")]));
  assert.ok(withReason instanceof InputError && withReason.token === "bundle_locked");
  assert.equal(
    withReason.message,
    `${LOCKED}; slot 0: PCR policy check failed; slot 1: PCR policy check failed`,
  );
  const plain = await errorOf(() => openBundle(d, FILE, [failing()]));
  assert.equal(plain.message, LOCKED);
  assert.equal(new SlotOpenFailed().message, "slot did not open");
  assert.equal(new SlotOpenFailed().reason, undefined);
});

Deno.test("bundle: a slot with out-of-band Argon2 costs is named in the error, no KDF runs", async () => {
  const d = decodeBundle(await make(), FILE);
  const s = d.slots[0]!;
  assert.ok(s.params.kind === "passphrase");
  const huge: DecodedBundle = {
    ...d,
    slots: [{
      ...s,
      params: { ...s.params, argon2: { m_cost_kib: 8_388_608, t_cost: 3, p_cost: 1 } },
    }],
  };
  const spy = spyKdf();
  const e = await errorOf(() =>
    openBundle(encodeBundle(huge), FILE, [passMethod(CANARY.passphrase, spy.kdf)])
  );
  assert.ok(e instanceof InputError && e.token === "bundle_locked");
  assert.equal(e.message, `${LOCKED}; slot 0: argon2 m_cost_kib 8388608 is outside 8..=1048576`);
  assert.equal(spy.calls(), 0);
});

/** Byte spans of a JSON string value `"key":"…"` (first occurrence after `from`). */
function span(text: string, key: string, from = 0): [number, number] {
  const at = text.indexOf(`"${key}":"`, from);
  assert.ok(at >= 0, key);
  const start = at + key.length + 4;
  return [start, text.indexOf('"', start)];
}

Deno.test("bundle: flipping any sampled byte never yields a payload", async () => {
  const file = await make();
  const text = new TextDecoder().decode(file);
  const slotsAt = text.indexOf('"slots":');
  const payloadAt = text.indexOf('"payload":');
  const regions: [string, [number, number]][] = [
    ["magic+version", [0, 11]],
    ["header_b64", span(text, "header_b64")],
    ["header.bundle_id", span(text, "bundle_id")],
    ["slot salt", span(text, "salt", slotsAt)],
    ["slot wrap nonce", span(text, "nonce", slotsAt)],
    ["slot wrap ciphertext", span(text, "ciphertext", slotsAt)],
    ["payload nonce", span(text, "nonce", payloadAt)],
    ["payload ciphertext", span(text, "ciphertext", payloadAt)],
  ];
  let attempts = 0;
  const tally: Record<string, number> = {};
  for (const [name, [start, end]] of regions) {
    const step = Math.max(1, Math.floor((end - start) / 24));
    for (let i = start; i < end; i += step) {
      for (const mask of [0x01, 0x02, 0x80]) {
        const bad = file.slice();
        bad[i]! ^= mask;
        attempts++;
        let outcome = "opened";
        try {
          const opened = await openBundle(bad, FILE, [passMethod(CANARY.passphrase)]);
          opened.wipe();
        } catch (e) {
          assert.ok(e instanceof InputError, `${name}@${i}: ${String(e)}`);
          assert.ok(
            ["bundle_corrupt", "bundle_unsupported", "bundle_locked"].includes(e.token),
            `${name}@${i}: ${e.token}`,
          );
          outcome = e.token;
        }
        assert.notEqual(outcome, "opened", `${name} byte ${i} ^ ${mask} still opened`);
        tally[outcome] = (tally[outcome] ?? 0) + 1;
      }
    }
  }
  assert.ok(attempts > 300, `sampled ${attempts}`);
  // Both layers are exercised: decoding and authentication.
  assert.ok(
    (tally.bundle_corrupt ?? 0) > 0 && (tally.bundle_locked ?? 0) > 0,
    JSON.stringify(tally),
  );
});

Deno.test("bundle: truncation at any point fails to decode cleanly", async () => {
  const file = await make();
  const cuts = [
    0,
    1,
    8,
    9,
    10,
    11,
    12,
    40,
    Math.floor(file.length / 2),
    file.length - 2,
    file.length - 1,
  ];
  for (const n of cuts) {
    const e = await errorOf(() =>
      openBundle(file.subarray(0, n), FILE, [passMethod(CANARY.passphrase)])
    );
    assert.ok(e instanceof InputError && e.token === "bundle_corrupt", `cut ${n}: ${e.message}`);
    assert.match(e.message, new RegExp(`^bundle ${FILE}: corrupt or truncated: `));
  }
});

Deno.test("bundle: create requires a slot", async () => {
  const e = await errorOf(() => createBundle({ slots: [], backends: new Map() }));
  assert.ok(e instanceof InputError && e.token === "bundle_create_invalid");
});

Deno.test("bundle: production Argon2 profile by default (m=65536, t=3, p=1)", async () => {
  const file = await createBundle({
    slots: [{ method: passMethod(CANARY.passphrase), label: "passphrase" }],
    backends: backends(),
  });
  const d = decodeBundle(file, FILE);
  assert.ok(d.slots[0]!.params.kind === "passphrase");
  assert.deepEqual(d.slots[0]!.params.argon2, { m_cost_kib: 65536, t_cost: 3, p_cost: 1 });
  const opened = await openBundle(file, FILE, [passMethod(CANARY.passphrase)]);
  assert.equal(tokenOf(opened.backends), CANARY.token);
  await assert.rejects(openBundle(file, FILE, [passMethod("nope")]), { message: LOCKED });
});

Deno.test("bundle: describe shows plaintext metadata only", async () => {
  const file = await make(["a", "b"]);
  const d = describeBundle(file, FILE);
  assert.equal(d.bundleIdHex, toHex(decodeBundle(file, FILE).header.bundle_id));
  assert.equal(d.epoch, 1);
  assert.equal(d.createdUnix, 1_750_000_000);
  assert.deepEqual(formatBundleDescription(FILE, d), [
    `bundle: ${FILE}`,
    "epoch: 1",
    "slots: 2",
    "deposits: 0",
    "slot 0: method=passphrase, label=pass-0",
    "slot 1: method=passphrase, label=pass-1",
  ]);
  assert.ok(!JSON.stringify(d).includes(CANARY.token));
});
