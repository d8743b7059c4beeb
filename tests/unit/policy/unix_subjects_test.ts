/**
 * The `unixSubjects` policy form (NixOS module / migration guide): a subject
 * named by a user or group, resolved through /etc/passwd and /etc/group text
 * into numeric principals, name tables and memberships at load time.
 */

import assert from "node:assert/strict";
import { parseUnixNames } from "../../../lib/core/unix_names.ts";
import { resolveSubject } from "../../../lib/policy/pdp.ts";
import { assertPolicyError, GROUP, names, PASSWD, policy, unix } from "./helpers.ts";

const peer = (uid: number, gid = uid) => ({ uid, gid, pid: 1 });

Deno.test("parseUnixNames: users, groups, primary groups and members", () => {
  const n = names();
  assert.equal(n.uidOf("alice"), 1000);
  assert.equal(n.uidOf("nobody"), undefined);
  assert.equal(n.gidOf("basil"), 995);
  assert.equal(n.userOf(1001), "bob");
  assert.equal(n.primaryGidOf(1001), 100);
  assert.equal(n.primaryGidOf(4242), undefined);
  // users: alice listed, bob by primary group.
  assert.deepEqual(n.membersOf(100), [1000, 1001]);
  // basil: carol and app listed; "ghost" has no passwd entry.
  assert.deepEqual(n.membersOf(995), [990, 1002]);
  assert.deepEqual(n.membersOf(4242), []);
  // Malformed and comment lines are skipped.
  assert.equal(n.uidOf("broken-line"), undefined);
  assert.equal(n.uidOf("# a comment line"), undefined);
  const empty = parseUnixNames("", "");
  assert.equal(empty.uidOf("root"), undefined);
});

Deno.test("parseUnixNames: malformed ids never become uid 0, and the first entry wins", () => {
  const n = parseUnixNames(
    [
      "evil::::/:/bin/sh",
      "blank:x::100::/:/bin/sh",
      "spaced:x: 0:0::/:/bin/sh",
      "neg:x:-1:0::/:/bin/sh",
      "hex:x:0x10:0::/:/bin/sh",
      "huge:x:4294967296:0::/:/bin/sh",
      "+::::::",
      ":x:7:7::/:/bin/sh",
      "dup:x:500:500::/:/bin/sh",
      "dup:x:0:0::/:/bin/sh",
    ].join("\n"),
    ["nogid:x::evil", "g:x:600:", "g:x:0:dup", "wheel:x:10:dup,"].join("\n"),
  );
  for (const u of ["evil", "blank", "spaced", "neg", "hex", "huge", "+", ""]) {
    assert.equal(n.uidOf(u), undefined, u);
  }
  assert.equal(n.userOf(0), undefined);
  assert.equal(n.uidOf("dup"), 500);
  assert.equal(n.gidOf("nogid"), undefined);
  assert.equal(n.gidOf("g"), 600);
  assert.deepEqual(n.membersOf(0), []);
  assert.deepEqual(n.membersOf(10), [500]);
});

Deno.test("user subject → uid principal and a names.users entry", () => {
  const p = policy({ unixSubjects: { "svc-app": { user: "app" } } });
  const s = p.subjects.get("svc-app")!;
  assert.deepEqual(s.principals, [{ kind: "unix", uid: 990 }]);
  assert.equal(s.breakGlass, false);
  assert.equal(p.userNames.get(990), "app");
  assert.deepEqual(resolveSubject(p, peer(990)), { ok: true, subject: "svc-app" });
});

Deno.test("group subject → gid principal and memberships for every member", () => {
  const p = policy({ unixSubjects: { "people": { group: "users" } } });
  assert.deepEqual(p.subjects.get("people")!.principals, [{ kind: "unix", gid: 100 }]);
  assert.equal(p.groupNames.get(100), "users");
  assert.deepEqual(p.memberships.get(1000), [100]);
  // bob is in users only through his primary group.
  assert.deepEqual(p.memberships.get(1001), [100]);
  assert.equal(p.memberships.has(1002), false);
  assert.deepEqual(resolveSubject(p, peer(1001)), { ok: true, subject: "people" });
  assert.deepEqual(resolveSubject(p, peer(1000)), { ok: true, subject: "people" });
  // carol's kernel gid does not matter; she is not in users.
  assert.deepEqual(resolveSubject(p, peer(1002, 100)), {
    ok: false,
    reason: "no_actor_subject:1002",
    unauthenticated: false,
  });
});

Deno.test("group memberships merge with config.memberships without duplicates", () => {
  const p = policy({
    unixSubjects: { basil: { group: "basil" } },
    config: { memberships: { "1002": [7, 995], "990": [3] } },
  });
  assert.deepEqual(p.memberships.get(1002), [7, 995]);
  assert.deepEqual(p.memberships.get(990), [3, 995]);
});

Deno.test("numeric ids need no lookup; names are filled in when known", () => {
  const withNames = policy({
    unixSubjects: { a: { user: 1001 }, b: { user: "1002" }, c: { group: 995 }, d: { group: "10" } },
  });
  assert.deepEqual(withNames.subjects.get("a")!.principals, [{ kind: "unix", uid: 1001 }]);
  assert.deepEqual(withNames.subjects.get("b")!.principals, [{ kind: "unix", uid: 1002 }]);
  assert.deepEqual(withNames.subjects.get("c")!.principals, [{ kind: "unix", gid: 995 }]);
  assert.deepEqual(withNames.subjects.get("d")!.principals, [{ kind: "unix", gid: 10 }]);
  assert.equal(withNames.userNames.get(1001), "bob");
  assert.deepEqual(withNames.memberships.get(990), [995]);
  // Without a user database numeric ids still work, names do not.
  const bare = policy({ unixSubjects: { a: { user: 4242 }, c: { group: "77" } } }, null);
  assert.deepEqual(bare.subjects.get("a")!.principals, [{ kind: "unix", uid: 4242 }]);
  assert.equal(bare.userNames.size, 0);
  assertPolicyError(
    { unixSubjects: { a: { user: "alice" } } },
    "unixSubjects.a.user",
    /cannot resolve names/,
    null,
  );
});

Deno.test("config.names.users wins over the passwd name", () => {
  const p = policy({
    unixSubjects: { "svc-app": { user: "app" } },
    config: { names: { users: { "990": "the-app" } } },
  });
  assert.equal(p.userNames.get(990), "the-app");
});

Deno.test("unixSubjects errors", () => {
  const cases: [object, string, RegExp][] = [
    [{ x: { user: "nobody" } }, "unixSubjects.x.user", /no such user "nobody"/],
    [{ x: { group: "nogroup" } }, "unixSubjects.x.group", /no such group "nogroup"/],
    [{ x: { user: "alice", group: "users" } }, "unixSubjects.x", /exactly one of "user"/],
    [{ x: {} }, "unixSubjects.x", /exactly one of "user" or "group"/],
    [{ x: { breakGlass: true } }, "unixSubjects.x", /exactly one/],
    [{ x: { user: -1 } }, "unixSubjects.x.user", /./],
    [{ x: { user: "99999999999" } }, "unixSubjects.x.user", /4294967295/],
    [{ x: { user: "" } }, "unixSubjects.x.user", /no such user|empty/],
    [{ x: { user: "alice", uid: 1 } }, "unixSubjects.x", /unknown field "uid"/],
    [{ "": { user: "alice" } }, 'unixSubjects[""]', /non-empty/],
  ];
  for (const [unixSubjects, field, reason] of cases) {
    assertPolicyError({ unixSubjects }, field, reason);
  }
});

Deno.test("a unixSubjects name may not clash with a subjects name", () => {
  assertPolicyError(
    { subjects: { app: unix(990) }, unixSubjects: { app: { user: "app" } } },
    "unixSubjects.app",
    /clashes/,
  );
  assertPolicyError(
    `{"unixSubjects": {"a": {"user": "alice"}, "a": {"user": "bob"}}}`,
    "unixSubjects",
    /duplicate key "a"/,
  );
});

Deno.test("unixSubjects take part in rules, breakGlass and ambiguity like any subject", () => {
  const p = policy({
    unixSubjects: { root: { user: "root", breakGlass: true }, wheel: { group: "wheel" } },
    subjects: { alice: unix(1000) },
    rules: [
      { id: "root-all", subjects: ["root"], action: ["*"], target: ["**"] },
      { id: "wheel-read", subjects: ["wheel"], action: ["op:get"], target: ["ops.*"] },
    ],
  });
  assert.equal(p.subjects.get("root")!.breakGlass, true);
  assert.deepEqual(resolveSubject(p, peer(1002)), { ok: true, subject: "wheel" });
  // alice is both a named user and a wheel member: two subjects → denied.
  assert.deepEqual(resolveSubject(p, peer(1000)), {
    ok: false,
    reason: "ambiguous_actor_subject:1000",
    unauthenticated: false,
  });
  assertPolicyError(
    {
      unixSubjects: { wheel: { group: "wheel" } },
      rules: [{ id: "r", subjects: ["wheel"], action: ["*"], target: ["*"] }],
    },
    "rules[0].target[0]",
    /breakGlass/,
  );
});

Deno.test("the fixture text round-trips through the exported constants", () => {
  assert.ok(PASSWD.includes("alice:x:1000"));
  assert.ok(GROUP.includes("users:x:100:alice"));
});
