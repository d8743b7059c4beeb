/**
 * The PDP (contract §0.2, §0.4, §3.2, §3.4): decision order, `*` expansion,
 * admin ops, hard caps, the public class, rule provenance, caller resolution
 * and the effective-grants view.
 */

import assert from "node:assert/strict";
import { ADMIN_OPS, ALL_OPS, KEY_OPS, WRITE_OPS } from "../../../lib/core/ops.ts";
import type { Op } from "../../../lib/core/ops.ts";
import { decide, effectiveGrants, resolveSubject } from "../../../lib/policy/pdp.ts";
import type { Decision } from "../../../lib/policy/pdp.ts";
import { catalog, policy, unix } from "./helpers.ts";
import type { Json } from "./helpers.ts";

const CAT = catalog({
  "app.x": {},
  "app.locked": { writable: false },
  "app.sign": { class: "asymmetric" },
  "nats.op": { class: "asymmetric", labels: ["nats_type=O"] },
  "nats.locked_op": { class: "asymmetric", writable: false, labels: ["nats_type=O"] },
  "nats.acct": { class: "asymmetric", labels: ["nats_type=A"] },
  "nats.user": { class: "asymmetric", labels: ["nats_type=U"] },
  "svid.jwt": { class: "asymmetric", labels: ["svid_kind=jwt"] },
  "svid.x509": { class: "asymmetric", labels: ["svid_kind=x509"] },
  "web.ca": { class: "public", writable: false },
  "web.pub": { class: "public" },
});

function basePolicy(): Json {
  return {
    subjects: {
      app: unix(990),
      ops: { anyOf: [{ kind: "unix", gid: 10 }] },
      root: { breakGlass: true, allOf: [{ kind: "unix", uid: 0 }] },
      alice: unix(1000, 20),
      nobody: unix(4000),
    },
    roles: { signer: ["sign", "verify", "get_public_key"], admin: ["reload", "watch"] },
    rules: [
      { id: "root-all", subjects: ["root"], action: ["*"], target: ["*"] },
      { id: "app-first", subjects: ["app"], action: ["op:get"], target: ["app.*"] },
      {
        id: "app-second",
        subjects: ["app", "ops"],
        action: ["op:set", "role:signer", "op:get"],
        target: ["app.locked", "app.**", "nats.*", "svid.*", "web.*"],
      },
      { id: "ops-reload", subjects: ["ops"], action: ["op:reload"], target: ["broker.reload"] },
      { id: "ops-admin-glob", subjects: ["ops"], action: ["role:admin"], target: ["broker.*"] },
      { id: "app-bogus-admin", subjects: ["app"], action: ["op:explain"], target: ["app.**"] },
      {
        id: "app-custody",
        subjects: ["app"],
        action: ["op:use_software_custody", "op:mint", "op:sign_nats_jwt"],
        target: ["app.sign", "nats.*", "svid.*"],
      },
    ],
    config: { memberships: { "1000": [10, 20], "2000": [] } },
  };
}

const POL = policy(basePolicy());

function reason(d: Decision): string {
  return d.allow ? `allow:${d.via}` : d.reason;
}

Deno.test("decision order: unknown_key comes before every other check", () => {
  for (const subject of ["root", "app", undefined, "ghost"]) {
    for (const op of ["set", "sign", "get", "use_software_custody"] as Op[]) {
      assert.equal(reason(decide(CAT, POL, subject, op, "no.such.key")), "unknown_key");
    }
  }
});

Deno.test("decision order: not_writable before rules (even a grant of op:set and *)", () => {
  for (const op of WRITE_OPS) {
    for (const subject of ["root", "app", undefined]) {
      assert.equal(reason(decide(CAT, POL, subject, op, "app.locked")), "not_writable");
      assert.equal(reason(decide(CAT, POL, subject, op, "web.ca")), "not_writable");
    }
  }
  // Read ops on the same key are unaffected.
  assert.equal(reason(decide(CAT, POL, "app", "get", "app.locked")), "allow:subject:app");
  // Writable keys with a grant are allowed.
  assert.equal(reason(decide(CAT, POL, "app", "set", "app.x")), "allow:subject:app");
});

Deno.test("decision order: both hard caps on one key, each for its own op", () => {
  for (const subject of ["root", "app", undefined]) {
    assert.equal(reason(decide(CAT, POL, subject, "rotate", "nats.locked_op")), "not_writable");
    assert.equal(reason(decide(CAT, POL, subject, "sign", "nats.locked_op")), "issuer_raw_sign");
  }
  assert.equal(reason(decide(CAT, POL, "root", "mint", "nats.locked_op")), "allow:subject:root");
});

Deno.test("decision order: issuer_raw_sign before rules; other issuer ops unaffected", () => {
  for (const key of ["nats.op", "nats.acct", "svid.jwt", "svid.x509"]) {
    for (const subject of ["root", "app", undefined]) {
      assert.equal(reason(decide(CAT, POL, subject, "sign", key)), "issuer_raw_sign", key);
    }
    assert.equal(reason(decide(CAT, POL, "app", "mint", key)), "allow:subject:app");
    assert.equal(reason(decide(CAT, POL, "app", "sign_nats_jwt", key)), "allow:subject:app");
    assert.equal(reason(decide(CAT, POL, "app", "verify", key)), "allow:subject:app");
  }
  assert.equal(reason(decide(CAT, POL, "app", "sign", "nats.user")), "allow:subject:app");
  assert.equal(reason(decide(CAT, POL, "app", "sign", "app.sign")), "allow:subject:app");
});

Deno.test("decision order: a rule grant wins over public_class and is the provenance", () => {
  const d = decide(CAT, POL, "app", "get", "web.ca");
  assert.ok(d.allow);
  assert.equal(d.via, "subject:app");
  assert.equal(d.matched?.rule, "app-second");
  const pub = decide(CAT, POL, "nobody", "get", "web.ca");
  assert.deepEqual(pub, { allow: true, via: "public_class", matched: undefined });
});

Deno.test("public class: get/get_public_key for any resolved actor, nothing else", () => {
  for (const key of ["web.ca", "web.pub"]) {
    for (const op of ["get", "get_public_key"] as Op[]) {
      assert.equal(reason(decide(CAT, POL, "nobody", op, key)), "allow:public_class");
      assert.equal(reason(decide(CAT, POL, undefined, op, key)), "not_permitted");
      assert.equal(reason(decide(CAT, POL, "unregistered", op, key)), "not_permitted");
    }
    for (const op of ["verify", "list", "encrypt"] as Op[]) {
      assert.equal(reason(decide(CAT, POL, "nobody", op, key)), "not_permitted", op);
    }
  }
  assert.equal(reason(decide(CAT, POL, "nobody", "set", "web.pub")), "not_permitted");
  assert.equal(reason(decide(CAT, POL, "nobody", "get", "app.x")), "not_permitted");
});

Deno.test("`*` expands to exactly the 17 key ops and never to admin or custody ops", () => {
  assert.equal(KEY_OPS.length, 17);
  const star = POL.rules[0]!.actions[0]!;
  assert.deepEqual([...star.ops].sort(), [...KEY_OPS].sort());
  for (const op of KEY_OPS) {
    assert.equal(reason(decide(CAT, POL, "root", op, "app.x")), "allow:subject:root", op);
  }
  for (const op of ["reload", "explain", "revoke", "watch", "use_software_custody"] as Op[]) {
    assert.ok(!star.ops.has(op), op);
    for (const key of ["app.x", `broker.${op}`]) {
      assert.equal(decide(CAT, POL, "root", op, key).allow, false, `${op} ${key}`);
    }
  }
});

Deno.test("admin ops: only explicit grants over broker.<op>, no catalog checks", () => {
  const ok = (s: string, op: Op) => decide(CAT, POL, s, op, `broker.${op}`);
  const d = ok("ops", "reload");
  assert.ok(d.allow);
  assert.equal(d.matched?.rule, "ops-reload");
  assert.equal(d.matched?.action, "op:reload");
  // A role naming an admin op and a `broker.*` glob grant it too.
  const w = ok("ops", "watch");
  assert.ok(w.allow);
  assert.deepEqual([w.matched?.rule, w.matched?.action, w.matched?.target], [
    "ops-admin-glob",
    "role:admin",
    "broker.*",
  ]);
  for (const op of ["explain", "revoke"] as Op[]) {
    assert.equal(reason(ok("ops", op)), "not_permitted");
  }
  // An admin grant over a catalog key does not count.
  assert.equal(reason(decide(CAT, POL, "app", "explain", "app.x")), "not_permitted");
  assert.equal(reason(decide(CAT, POL, "app", "explain", "broker.explain")), "not_permitted");
  // The admin target of another op does not count either.
  assert.equal(reason(decide(CAT, POL, "ops", "reload", "broker.watch")), "not_permitted");
  for (const op of ADMIN_OPS) {
    assert.equal(reason(decide(CAT, POL, undefined, op, `broker.${op}`)), "not_permitted");
    assert.equal(reason(decide(CAT, POL, "ghost", op, `broker.${op}`)), "not_permitted");
  }
});

Deno.test("use_software_custody is key-scoped and needs an explicit grant", () => {
  assert.equal(
    reason(decide(CAT, POL, "app", "use_software_custody", "app.sign")),
    "allow:subject:app",
  );
  assert.equal(reason(decide(CAT, POL, "app", "use_software_custody", "app.x")), "not_permitted");
  assert.equal(
    reason(decide(CAT, POL, "app", "use_software_custody", "no.key")),
    "unknown_key",
  );
});

Deno.test("provenance: first rule in declaration order, first action term, first target", () => {
  const d = decide(CAT, POL, "app", "get", "app.x");
  assert.ok(d.allow);
  assert.deepEqual(d.matched, {
    rule: "app-first",
    via: "subject:app",
    subject: "app",
    action: "op:get",
    target: "app.*",
  });
  // app-first grants only get; in app-second the first action term holding the
  // op is role:signer and the first target matching app.sign is app.**.
  const sign = decide(CAT, POL, "app", "get_public_key", "app.sign");
  assert.ok(sign.allow);
  assert.deepEqual([sign.matched?.rule, sign.matched?.action, sign.matched?.target], [
    "app-second",
    "role:signer",
    "app.**",
  ]);
  const locked = decide(CAT, POL, "ops", "get", "app.locked");
  assert.ok(locked.allow);
  assert.deepEqual([locked.matched?.subject, locked.matched?.target], ["ops", "app.locked"]);
  // Reordering the rules moves the provenance.
  const doc = basePolicy();
  doc.rules = [doc.rules[2], doc.rules[1]];
  const d2 = decide(CAT, policy(doc), "app", "get", "app.x");
  assert.ok(d2.allow);
  assert.deepEqual([d2.matched?.rule, d2.matched?.action, d2.matched?.target], [
    "app-second",
    "op:get",
    "app.**",
  ]);
});

const peer = (uid: number, gid = uid) => ({ uid, gid, pid: 4242 });

Deno.test("caller resolution: exactly one subject or a reasoned deny", () => {
  assert.deepEqual(resolveSubject(POL, peer(990)), { ok: true, subject: "app" });
  assert.deepEqual(resolveSubject(POL, peer(0)), { ok: true, subject: "root" });
  assert.deepEqual(resolveSubject(POL, peer(31337)), {
    ok: false,
    reason: "no_actor_subject:31337",
    unauthenticated: false,
  });
  // uid 1000 is alice (uid 1000 ∧ gid 20) and, through gid 10, ops.
  assert.deepEqual(resolveSubject(POL, peer(1000)), {
    ok: false,
    reason: "ambiguous_actor_subject:1000",
    unauthenticated: false,
  });
});

Deno.test("caller resolution: groups come only from policy memberships, never the kernel gid", () => {
  // uid 2000 has kernel gid 10 but no policy membership in 10.
  assert.deepEqual(resolveSubject(POL, peer(2000, 10)), {
    ok: false,
    reason: "no_actor_subject:2000",
    unauthenticated: false,
  });
  // uid 3000 has no memberships entry at all: the kernel gid still does not count.
  assert.equal(resolveSubject(POL, peer(3000, 10)).ok, false);
  // With a membership, any kernel gid resolves the same way.
  const doc = basePolicy();
  delete doc.subjects.alice;
  const p = policy(doc);
  for (const gid of [1000, 10, 0, 65534]) {
    assert.deepEqual(resolveSubject(p, peer(1000, gid)), { ok: true, subject: "ops" });
  }
  // allOf uid ∧ gid: alice needs gid 20 in memberships, not as her kernel gid.
  const doc2 = basePolicy();
  delete doc2.subjects.ops;
  doc2.rules = [];
  doc2.config.memberships["1000"] = [10];
  assert.equal(resolveSubject(policy(doc2), peer(1000, 20)).ok, false);
});

Deno.test("caller resolution: no peer → unauthenticatedSubject if declared and matching", () => {
  assert.deepEqual(resolveSubject(POL, undefined), {
    ok: false,
    reason: "missing peer credentials",
    unauthenticated: true,
  });
  const doc = basePolicy();
  doc.subjects.anon = { anyOf: [{ kind: "unauthenticated" }] };
  doc.unauthenticatedSubject = "anon";
  const p = policy(doc);
  assert.deepEqual(resolveSubject(p, undefined), { ok: true, subject: "anon" });
  // The unauthenticated principal never matches a caller with a uid.
  assert.deepEqual(resolveSubject(p, peer(990)), { ok: true, subject: "app" });
  assert.equal(resolveSubject(p, peer(31337)).ok, false);
  // A declared unauthenticatedSubject that cannot match a uid-less caller.
  const doc2 = basePolicy();
  doc2.subjects.anon = unix(5);
  doc2.unauthenticatedSubject = "anon";
  assert.deepEqual(resolveSubject(policy(doc2), undefined), {
    ok: false,
    reason: "missing peer credentials",
    unauthenticated: true,
  });
  // Its unix principal still resolves uid 5 like any subject (contract §3.4).
  assert.deepEqual(resolveSubject(policy(doc2), peer(5)), { ok: true, subject: "anon" });
});

Deno.test("effectiveGrants equals a brute-force enumeration over keys × ALL_OPS", () => {
  for (const subject of ["root", "app", "ops", "nobody", "alice", "ghost"]) {
    const expected: { key: string; op: string; via: string; rule: string | null }[] = [];
    for (const key of [...CAT.keys.keys()]) {
      for (const op of ALL_OPS) {
        const actor = POL.subjects.has(subject) ? subject : undefined;
        const d = decide(CAT, POL, actor, op, key);
        if (d.allow) expected.push({ key, op, via: d.via, rule: d.matched?.rule ?? null });
      }
    }
    expected.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : a.op < b.op ? -1 : 1);
    assert.deepEqual(effectiveGrants(CAT, POL, subject), expected, subject);
  }
  // Spot checks on the view itself.
  const rows = effectiveGrants(CAT, POL, "nobody");
  assert.deepEqual(rows.map((r) => `${r.key}:${r.op}:${r.rule}`), [
    "web.ca:get:null",
    "web.ca:get_public_key:null",
    "web.pub:get:null",
    "web.pub:get_public_key:null",
  ]);
  assert.equal(effectiveGrants(CAT, POL, "ghost").length, 0);
  assert.ok(!effectiveGrants(CAT, POL, "root").some((r) => ADMIN_OPS.includes(r.op as never)));
});
