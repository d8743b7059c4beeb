/**
 * Authorization edges: audit is fail closed for allowed operations (nothing
 * delivered without its record; no side effect while the sink is known to
 * be failing); key ids and the ListCatalog prefix are checked for syntax
 * before anything is decided or audited; ImportSet decides every entry
 * before it applies any; protocol issuers refuse the generic mint path.
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
import { jsonLogger, nullLogger } from "../../../lib/core/log.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { rejectsWith, run, TD, withBroker } from "./helpers.ts";

const closedFileSink = (dir: string) => {
  const s = openAuditFile(`${dir}/audit.jsonl`, nullLogger);
  s.close(); // every later write fails, as on a dead disk
  return s;
};

Deno.test("audit fail closed: nothing is delivered without its record, and no side effect starts on a failing sink", async () => {
  await withBroker(async (b) => {
    await b.backend.kv.write("app/value", utf8("v1"));
    // A read runs, but its result is withheld: INTERNAL, no detail.
    const e = await rejectsWith(
      run(b, (c) => getSecret(b.deps, c, "app.value", undefined)),
      "INTERNAL",
    );
    assert.equal(e.message, "internal error", "no detail reaches the caller");
    // The sink is now known to be failing: side effects do not start.
    const set = await rejectsWith(
      run(b, (c) => setSecret(b.deps, c, "app.value", utf8("v2"))),
      "INTERNAL",
    );
    assert.equal(set.op, "set");
    assert.equal(await b.backend.kv.latestVersion("app/value"), 1, "nothing was stored");
    await rejectsWith(run(b, (c) => newKey(b.deps, c, "app.seal", undefined)), "INTERNAL");
    assert.equal(await b.backend.kv.latestVersion("app/seal"), undefined, "no key was made");
    // A denial is still the denial.
    await rejectsWith(
      run(b, (c) => getPublicKey(b.deps, c, "other.sig", undefined)),
      "UNAUTHORIZED",
    );
    assert.equal(b.deps.audit.failures, 4, "every request tried to write its one record");
  }, closedFileSink);
});

Deno.test("audit fail closed: a side effect whose record is lost stays applied, is logged, and the sink heals", async () => {
  const lines: string[] = [];
  await withBroker(async (b) => {
    (b.deps as { logger: unknown }).logger = jsonLogger({ write: (l) => lines.push(l) });
    b.sink.failing = true;
    // Not yet known to fail: the write runs, its record cannot be written.
    await rejectsWith(run(b, (c) => setSecret(b.deps, c, "app.value", utf8("v1"))), "INTERNAL");
    assert.equal(await b.backend.kv.latestVersion("app/value"), 1);
    assert.equal(lines.length, 1);
    assert.deepEqual(
      [JSON.parse(lines[0]!).msg, JSON.parse(lines[0]!).op, JSON.parse(lines[0]!).target],
      ["audit record lost for an applied operation", "set", "app.value"],
    );
    assert.doesNotMatch(lines[0]!, /v1/);
    // Now known: refused before it runs.
    await rejectsWith(run(b, (c) => setSecret(b.deps, c, "app.value", utf8("v2"))), "INTERNAL");
    assert.equal(await b.backend.kv.latestVersion("app/value"), 1);
    await rejectsWith(run(b, (c) => listCatalog(b.deps, c, "app.")), "INTERNAL");
    // The sink works again: the refusal's own record is written, which clears it.
    b.sink.failing = false;
    await rejectsWith(run(b, (c) => setSecret(b.deps, c, "app.value", utf8("v2"))), "INTERNAL");
    assert.deepEqual(
      b.sink.records.map((r) => [r.op, r.decision, r.outcome]),
      [["set", "allow", "internal_error"]],
    );
    assert.equal(await run(b, (c) => setSecret(b.deps, c, "app.value", utf8("v2"))), 2);
    assert.deepEqual(b.sink.records[1]!.outcome, "allow");
  });
});

Deno.test("outcome: an allowed operation that fails records its failure class, never allow", async () => {
  await withBroker(async (b) => {
    const outcomes: [string, string][] = [];
    const last = () => {
      assert.equal(b.sink.records.length, outcomes.length + 1, "exactly one record per request");
      const r = b.sink.records.at(-1)!;
      outcomes.push([r.decision as string, r.outcome as string]);
    };
    // Key material missing from the backend.
    await rejectsWith(run(b, (c) => getSecret(b.deps, c, "app.value", undefined)), "INTERNAL");
    last();
    // The operation does not fit the key.
    await rejectsWith(run(b, (c) => sign(b.deps, c, "app.value", utf8("m"))), "INVALID_REQUEST");
    last();
    // A denial.
    await rejectsWith(run(b, (c) => sign(b.deps, c, "other.sig", utf8("m"))), "UNAUTHORIZED");
    last();
    // Success.
    await run(b, (c) => newKey(b.deps, c, "app.sig", undefined));
    last();
    assert.deepEqual(outcomes, [
      ["allow", "internal_error"],
      ["allow", "invalid_request"],
      ["deny", "deny"],
      ["allow", "allow"],
    ]);
  });
});

Deno.test("protocol issuers: MintJwt, IssueCertificate and raw Sign are denied like any denial", async () => {
  await withBroker(async (b) => {
    await b.backend.transit.create("app/jwt-issuer", "ecdsa-p256");
    await b.backend.pki.createCa("pki/issue/spiffe", "ecdsa-p256", {
      commonName: "SVID CA",
      uri: `spiffe://${TD}`,
    });
    await b.backend.transit.create("app/odd-issuer", "ed25519");
    const none = new Uint8Array();
    const denied = [
      await rejectsWith(
        run(b, (c) => mintJwt(b.deps, c, "app.jwt_issuer", `spiffe://${TD}/admin`, 86400, none)),
        "UNAUTHORIZED",
      ),
      await rejectsWith(
        run(b, (c) =>
          issueCertificate(
            b.deps,
            c,
            "app.x509_ca",
            "vault.example.org",
            ["vault.example.org"],
            [],
            10 * 365 * 86400,
          )),
        "UNAUTHORIZED",
      ),
      await rejectsWith(
        run(b, (c) => mintJwt(b.deps, c, "app.odd_issuer", "x", 60, none)),
        "UNAUTHORIZED",
      ),
      await rejectsWith(
        run(b, (c) => sign(b.deps, c, "app.odd_issuer", utf8("m"))),
        "UNAUTHORIZED",
      ),
      await rejectsWith(
        run(b, (c) => sign(b.deps, c, "app.jwt_issuer", utf8("m"))),
        "UNAUTHORIZED",
      ),
    ];
    const unknown = await rejectsWith(
      run(b, (c) => mintJwt(b.deps, c, "nope.key", "x", 60, none)),
      "UNAUTHORIZED",
    );
    for (const e of denied) assert.deepEqual([e.message, e.code], [unknown.message, unknown.code]);
    assert.deepEqual(
      b.sink.records.map((r) => [r.op, r.target_id, r.decision, r.outcome, r.reason]),
      [
        ["mint", "app.jwt_issuer", "deny", "deny", "issuer_protocol_only"],
        ["mint", "app.x509_ca", "deny", "deny", "issuer_protocol_only"],
        ["mint", "app.odd_issuer", "deny", "deny", "issuer_protocol_only"],
        ["sign", "app.odd_issuer", "deny", "deny", "issuer_raw_sign"],
        ["sign", "app.jwt_issuer", "deny", "deny", "issuer_raw_sign"],
        ["mint", "nope.key", "deny", "deny", "unknown_key"],
      ],
    );
    // Their public halves are still readable, and a plain pki CA still issues.
    await run(b, (c) => getPublicKey(b.deps, c, "app.jwt_issuer", undefined));
    await b.backend.pki.createCa("pki/issue/tls", "ecdsa-p256", { commonName: "TLS CA" });
    const leaf = await run(
      b,
      (c) => issueCertificate(b.deps, c, "app.tls_ca", "web.internal", [], ["10.0.0.7"], 3600),
    );
    leaf.privateKeyDer.wipe();
  });
});

Deno.test("key ids: syntax and length are INVALID_ARGUMENT naming the field, before any audit", async () => {
  await withBroker(async (b) => {
    const long = "a".repeat(MAX_KEY_ID_BYTES + 1);
    const cases: [() => Promise<unknown>, RegExp][] = [
      [
        () => run(b, (c) => sign(b.deps, c, long, utf8("m"))),
        /^key_id exceeds the 256-byte limit$/,
      ],
      [
        () => run(b, (c) => sign(b.deps, c, "App.Sig", utf8("m"))),
        /^key_id is not a valid key name$/,
      ],
      [
        () => run(b, (c) => getSecret(b.deps, c, "app/../x", undefined)),
        /^secret_id is not a valid/,
      ],
      [() => run(b, (c) => getSecret(b.deps, c, "é".repeat(200), undefined)), /^secret_id /],
      [() => run(b, (c) => newKey(b.deps, c, "app.seal\n", undefined)), /^key_id is not a valid/],
      [
        () => run(b, (c) => issueCertificate(b.deps, c, "..", "cn", [], [], 60)),
        /^issuer_key_id is not a valid/,
      ],
      [() => run(b, (c) => mintJwt(b.deps, c, long, "s", 60, new Uint8Array())), /^key_id exceeds/],
      [() => run(b, (c) => listCatalog(b.deps, c, long)), /^prefix exceeds the 256-byte limit$/],
      [
        () => run(b, (c) => listCatalog(b.deps, c, "App")),
        /^prefix is not the start of a valid key name$/,
      ],
      [() => run(b, (c) => listCatalog(b.deps, c, "app..x")), /^prefix is not the start/],
    ];
    for (const [call, message] of cases) await rejectsWith(call, "INVALID_REQUEST", message);
    assert.equal(b.sink.records.length, 0, "a rejected id never reaches the audit log");
    // The longest allowed id is decided (and audited) like any other.
    await rejectsWith(
      run(b, (c) => sign(b.deps, c, "a".repeat(MAX_KEY_ID_BYTES), utf8("m"))),
      "UNAUTHORIZED",
    );
    for (const prefix of ["", "app", "app.", "app.s", "app.sig_"]) {
      await run(b, (c) => listCatalog(b.deps, c, prefix));
    }
    assert.equal(b.sink.records.length, 6);
  });
});

Deno.test("key ids: a well-formed unknown key and a denied key answer identically", async () => {
  await withBroker(async (b) => {
    const unknown = await rejectsWith(
      run(b, (c) => sign(b.deps, c, "nope.sig", utf8("m"))),
      "UNAUTHORIZED",
    );
    const denied = await rejectsWith(
      run(b, (c) => sign(b.deps, c, "other.sig", utf8("m"))),
      "UNAUTHORIZED",
    );
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
      await rejectsWith(run(b, (c) => importKeys(b.deps, c, order.map(seedItem))), "UNAUTHORIZED");
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
    const out = await run(b, (c) => importKeys(b.deps, c, ["app.sig", "app.sig_b"].map(seedItem)));
    assert.equal(out.length, 2);
    assert.deepEqual(
      b.sink.records.map((r) => [r.target_id, r.decision, r.outcome]),
      [["app.sig", "allow", "allow"], ["app.sig_b", "allow", "allow"]],
    );
    assert.equal((await b.backend.transit.info("app/sig"))?.latest, 1);
  });
});

Deno.test("ImportSet: on a sink known to be failing the set is refused before anything is stored", async () => {
  await withBroker(async (b) => {
    b.sink.failing = true;
    await rejectsWith(run(b, (c) => listCatalog(b.deps, c, "")), "INTERNAL");
    await rejectsWith(
      run(b, (c) => importKeys(b.deps, c, ["app.sig", "app.sig_b"].map(seedItem))),
      "INTERNAL",
    );
    assert.equal(await b.backend.transit.info("app/sig"), undefined);
    assert.equal(await b.backend.transit.info("app/sig-b"), undefined);
    b.sink.failing = false;
    await rejectsWith(
      run(b, (c) => importKeys(b.deps, c, ["app.sig", "app.sig_b"].map(seedItem))),
      "INTERNAL",
    );
    assert.deepEqual(
      b.sink.records.map((r) => [r.target_id, r.decision, r.outcome]),
      [["app.sig", "allow", "internal_error"], ["app.sig_b", "allow", "internal_error"]],
      "one record per entry, each saying the set failed",
    );
  });
});

Deno.test("ImportSet: more than MAX_IMPORT_SET_ENTRIES entries is INVALID_ARGUMENT, before any audit record", async () => {
  await withBroker(async (b) => {
    const items = Array.from({ length: MAX_IMPORT_SET_ENTRIES + 1 }, () => seedItem("app.sig"));
    await rejectsWith(
      run(b, (c) => importKeys(b.deps, c, items)),
      "INVALID_REQUEST",
      /at most 256 keys/,
    );
    assert.equal(b.sink.records.length, 0);
  });
});
