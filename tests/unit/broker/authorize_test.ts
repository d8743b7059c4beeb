/**
 * Authorization edges: audit is fail closed for allowed operations; key ids
 * and the ListCatalog prefix are checked for syntax before anything is
 * decided or audited; ImportSet decides every entry before it audits any.
 */

import assert from "node:assert/strict";
import { openAuditFile } from "../../../lib/audit/sink.ts";
import { MAX_KEY_ID_BYTES } from "../../../lib/broker/authorize.ts";
import { issueCertificate, mintJwt } from "../../../lib/broker/minting.ts";
import { getSecret, listCatalog, setSecret } from "../../../lib/broker/secrets.ts";
import {
  getPublicKey,
  importKeys,
  MAX_IMPORT_SET_ENTRIES,
  newKey,
  sign,
} from "../../../lib/broker/signing.ts";
import type { ImportRequestItem } from "../../../lib/broker/signing.ts";
import { utf8 } from "../../../lib/core/encoding.ts";
import { nullLogger } from "../../../lib/core/log.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { PEER, rejectsWith, withBroker } from "./helpers.ts";

const closedFileSink = (dir: string) => {
  const s = openAuditFile(`${dir}/audit.jsonl`, nullLogger);
  s.close(); // every later write fails, as on a dead disk
  return s;
};

Deno.test("audit fail closed: an allowed op whose record cannot be written does not run", async () => {
  await withBroker(async (b) => {
    const e = await rejectsWith(setSecret(b.deps, PEER, "app.value", utf8("v1")), "INTERNAL");
    assert.equal(e.message, "internal error", "no detail reaches the caller");
    assert.equal(e.op, "set");
    assert.equal(await b.backend.kv.latestVersion("app/value"), undefined, "nothing was stored");
    await rejectsWith(newKey(b.deps, PEER, "app.seal", undefined), "INTERNAL");
    assert.equal(await b.backend.kv.latestVersion("app/seal"), undefined, "no key was made");
    // A denial is still the denial.
    await rejectsWith(getPublicKey(b.deps, PEER, "other.sig", undefined), "UNAUTHORIZED");
    assert.equal(b.deps.audit.failures, 3);
  }, closedFileSink);
});

Deno.test("audit fail closed: the same with an in-memory sink, and it recovers", async () => {
  await withBroker(async (b) => {
    b.sink.failing = true;
    await rejectsWith(getSecret(b.deps, PEER, "app.value", undefined), "INTERNAL");
    await rejectsWith(listCatalog(b.deps, PEER, "app."), "INTERNAL");
    b.sink.failing = false;
    assert.equal(await setSecret(b.deps, PEER, "app.value", utf8("v1")), 1);
    assert.equal(b.sink.records.length, 1);
    assert.equal(b.sink.records[0]!.decision, "allow");
  });
});

Deno.test("key ids: syntax and length are INVALID_ARGUMENT naming the field, before any audit", async () => {
  await withBroker(async (b) => {
    const long = "a".repeat(MAX_KEY_ID_BYTES + 1);
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => sign(b.deps, PEER, long, utf8("m")), /^key_id exceeds the 256-byte limit$/],
      [() => sign(b.deps, PEER, "App.Sig", utf8("m")), /^key_id is not a valid key name$/],
      [() => getSecret(b.deps, PEER, "app/../x", undefined), /^secret_id is not a valid/],
      [() => getSecret(b.deps, PEER, "é".repeat(200), undefined), /^secret_id /],
      [() => newKey(b.deps, PEER, "app.seal\n", undefined), /^key_id is not a valid/],
      [
        () => issueCertificate(b.deps, PEER, "..", "cn", [], [], 60),
        /^issuer_key_id is not a valid/,
      ],
      [() => mintJwt(b.deps, PEER, long, "s", 60, new Uint8Array()), /^key_id exceeds/],
      [() => listCatalog(b.deps, PEER, long), /^prefix exceeds the 256-byte limit$/],
      [() => listCatalog(b.deps, PEER, "App"), /^prefix is not the start of a valid key name$/],
      [() => listCatalog(b.deps, PEER, "app..x"), /^prefix is not the start/],
    ];
    for (const [call, message] of cases) await rejectsWith(call, "INVALID_REQUEST", message);
    assert.equal(b.sink.records.length, 0, "a rejected id never reaches the audit log");
    // The longest allowed id is decided (and audited) like any other.
    await rejectsWith(sign(b.deps, PEER, "a".repeat(MAX_KEY_ID_BYTES), utf8("m")), "UNAUTHORIZED");
    for (const prefix of ["", "app", "app.", "app.s", "app.sig_"]) {
      await listCatalog(b.deps, PEER, prefix);
    }
    assert.equal(b.sink.records.length, 6);
  });
});

Deno.test("key ids: a well-formed unknown key and a denied key answer identically", async () => {
  await withBroker(async (b) => {
    const unknown = await rejectsWith(sign(b.deps, PEER, "nope.sig", utf8("m")), "UNAUTHORIZED");
    const denied = await rejectsWith(sign(b.deps, PEER, "other.sig", utf8("m")), "UNAUTHORIZED");
    assert.deepEqual(
      [unknown.code, unknown.message, unknown.op],
      [denied.code, denied.message, denied.op],
    );
    assert.deepEqual(b.sink.records.map((r) => r.reason), ["unknown_key", "not_permitted"]);
  });
});

function seedItem(keyId: string): ImportRequestItem {
  return {
    keyId,
    keyType: undefined,
    material: { kind: "ed25519-seed", seed: SecretBytes.copyOf(new Uint8Array(32).fill(7)) },
  };
}

Deno.test("ImportSet: a denied entry refuses the set; every entry gets one record, none says applied", async () => {
  await withBroker(async (b) => {
    for (const order of [["app.sig", "other.sig"], ["other.sig", "app.sig"]]) {
      b.sink.records.length = 0;
      await rejectsWith(importKeys(b.deps, PEER, order.map(seedItem)), "UNAUTHORIZED");
      const byKey = new Map(b.sink.records.map((r) => [r.target_id, r]));
      assert.equal(b.sink.records.length, 2);
      assert.deepEqual(
        [byKey.get("app.sig")!.decision, byKey.get("app.sig")!.outcome],
        ["allow", "deny"],
      );
      assert.equal(byKey.get("app.sig")!.reason, "subject:app");
      assert.deepEqual(
        [byKey.get("other.sig")!.decision, byKey.get("other.sig")!.outcome],
        ["deny", "deny"],
      );
      assert.equal(byKey.get("other.sig")!.reason, "not_permitted");
      assert.equal(await b.backend.transit.info("app/sig"), undefined, "nothing was imported");
    }
  });
});

Deno.test("ImportSet: an all-allowed set is audited allow/allow and imported", async () => {
  await withBroker(async (b) => {
    const out = await importKeys(b.deps, PEER, ["app.sig", "app.sig_b"].map(seedItem));
    assert.equal(out.length, 2);
    assert.deepEqual(
      b.sink.records.map((r) => [r.target_id, r.decision, r.outcome]),
      [["app.sig", "allow", "allow"], ["app.sig_b", "allow", "allow"]],
    );
    assert.equal((await b.backend.transit.info("app/sig"))?.latest, 1);
  });
});

Deno.test("ImportSet: an unwritable allow record refuses the set before anything is stored", async () => {
  await withBroker(async (b) => {
    b.sink.failing = true;
    await rejectsWith(importKeys(b.deps, PEER, ["app.sig"].map(seedItem)), "INTERNAL");
    assert.equal(await b.backend.transit.info("app/sig"), undefined);
  });
});

Deno.test("ImportSet: more than MAX_IMPORT_SET_ENTRIES entries is INVALID_ARGUMENT, before any audit record", async () => {
  await withBroker(async (b) => {
    const items = Array.from({ length: MAX_IMPORT_SET_ENTRIES + 1 }, () => seedItem("app.sig"));
    await rejectsWith(importKeys(b.deps, PEER, items), "INVALID_REQUEST", /at most 256 keys/);
    assert.equal(b.sink.records.length, 0);
  });
});
