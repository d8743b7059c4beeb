/**
 * Policy loader (contract §3.1): the valid shape, schemaVersion, and one case
 * per load error, each asserting `policy_invalid` plus the file and field.
 */

import assert from "node:assert/strict";
import { KEY_OPS } from "../../../lib/core/ops.ts";
import { assertPolicyError, policy, unix } from "./helpers.ts";
import type { Json } from "./helpers.ts";

function validPolicy(): Json {
  return {
    schemaVersion: 2,
    subjects: {
      "svc.app": unix(990),
      "ops.wheel": { anyOf: [{ kind: "unix", gid: 10 }] },
      "root": { breakGlass: true, allOf: [{ kind: "unix", uid: 0 }] },
      "anon": { anyOf: [{ kind: "unauthenticated" }] },
      "invoker": {
        anyOf: [
          { kind: "signature-key", algorithm: "ed25519", public: "A".repeat(43) },
          { kind: "signature-key", algorithm: "nats-nkey", public: "U" + "A".repeat(55) },
        ],
      },
      "both": { allOf: [{ kind: "unix", uid: 1000, gid: 100 }] },
    },
    unauthenticatedSubject: "anon",
    roles: { reader: ["get", "list", "get_public_key"], admin: ["reload", "explain"] },
    rules: [
      {
        id: "app-read",
        subjects: ["svc.app"],
        action: ["role:reader", "op:sign"],
        target: ["app.**", "shared.db"],
        comment: "the app reads its own",
      },
      { id: "wheel-admin", subjects: ["ops.wheel"], action: ["op:reload"], target: ["broker.*"] },
      { id: "root-all", subjects: ["root"], action: ["*"], target: ["*"] },
    ],
    config: {
      names: { users: { "990": "app", "0": "root" }, groups: { "10": "wheel" } },
      memberships: { "1000": [1000, 100, 10], "990": [] },
    },
  };
}

Deno.test("a valid policy loads with roles, compiled rules and config tables", () => {
  const p = policy(validPolicy());
  assert.equal(p.schemaVersion, 2);
  assert.deepEqual([...p.subjects.keys()].sort(), [
    "anon",
    "both",
    "invoker",
    "ops.wheel",
    "root",
    "svc.app",
  ]);
  assert.equal(p.subjects.get("root")!.breakGlass, true);
  assert.equal(p.subjects.get("svc.app")!.breakGlass, false);
  assert.equal(p.subjects.get("ops.wheel")!.mode, "anyOf");
  assert.equal(p.unauthenticatedSubject, "anon");
  assert.deepEqual(p.roles.get("reader"), ["get", "list", "get_public_key"]);
  assert.deepEqual(p.rules.map((r) => r.id), ["app-read", "wheel-admin", "root-all"]);
  const r0 = p.rules[0]!;
  assert.deepEqual(r0.actions.map((a) => a.term), ["role:reader", "op:sign"]);
  assert.deepEqual([...r0.actions[0]!.ops], ["get", "list", "get_public_key"]);
  assert.deepEqual(r0.targets.map((t) => t.source), ["app.**", "shared.db"]);
  assert.equal(r0.comment, "the app reads its own");
  assert.deepEqual([...p.rules[2]!.actions[0]!.ops].sort(), [...KEY_OPS].sort());
  assert.equal(p.userNames.get(990), "app");
  assert.equal(p.groupNames.get(10), "wheel");
  assert.deepEqual(p.memberships.get(1000), [1000, 100, 10]);
  assert.deepEqual(p.memberships.get(990), []);
  assert.equal(p.rules[1]!.comment, undefined);
});

Deno.test("schemaVersion: omitted or 2 is fine; anything else is an error", () => {
  const doc = validPolicy();
  delete doc.schemaVersion;
  assert.equal(policy(doc).schemaVersion, 2);
  for (const sv of [1, 3, "2", null, 0]) {
    const d = validPolicy();
    d.schemaVersion = sv;
    assertPolicyError(d, "schemaVersion", /must be 2/);
  }
});

Deno.test("an empty policy loads and has no subjects or rules", () => {
  const p = policy({});
  assert.equal(p.subjects.size, 0);
  assert.equal(p.rules.length, 0);
  assert.equal(p.memberships.size, 0);
});

const ERRORS: [string, (d: Json) => void, string, RegExp][] = [
  [
    "both allOf and anyOf",
    (d) => (d.subjects["svc.app"].anyOf = [{ kind: "unix", uid: 1 }]),
    'subjects["svc.app"]',
    /exactly one of "allOf" or "anyOf"/,
  ],
  [
    "neither allOf nor anyOf",
    (d) => (d.subjects["svc.app"] = { breakGlass: false }),
    'subjects["svc.app"]',
    /exactly one/,
  ],
  [
    "empty allOf",
    (d) => (d.subjects["svc.app"] = { allOf: [] }),
    'subjects["svc.app"].allOf',
    /must not be empty/,
  ],
  [
    "empty anyOf",
    (d) => (d.subjects["svc.app"] = { anyOf: [] }),
    'subjects["svc.app"].anyOf',
    /must not be empty/,
  ],
  ["empty subject name", (d) => (d.subjects[""] = unix(5)), 'subjects[""]', /non-empty/],
  ["blank subject name", (d) => (d.subjects["  "] = unix(5)), "subjects", /non-empty/],
  [
    "control character in subject name",
    (d) => (d.subjects["a\u0007b"] = unix(5)),
    "subjects",
    /control characters/,
  ],
  [
    "DEL in subject name",
    (d) => (d.subjects["a\u007f"] = unix(5)),
    "subjects",
    /control characters/,
  ],
  [
    "unix principal without uid or gid",
    (d) => (d.subjects["svc.app"] = { allOf: [{ kind: "unix" }] }),
    'subjects["svc.app"].allOf[0]',
    /"uid" or "gid"/,
  ],
  [
    "unauthenticated principal outside the unauthenticatedSubject",
    (d) => (d.subjects["svc.app"] = { anyOf: [{ kind: "unauthenticated" }] }),
    'subjects["svc.app"].anyOf[0]',
    /unauthenticatedSubject/,
  ],
  [
    "unauthenticatedSubject naming nothing",
    (d) => {
      delete d.subjects.anon;
      d.unauthenticatedSubject = "nobody";
    },
    "unauthenticatedSubject",
    /names no declared subject/,
  ],
  [
    "unknown principal kind",
    (d) => (d.subjects["svc.app"] = { allOf: [{ kind: "spiffe", id: "x" }] }),
    'subjects["svc.app"].allOf[0]',
    /./,
  ],
  [
    "negative uid",
    (d) => (d.subjects["svc.app"] = unix(-1)),
    'subjects["svc.app"].allOf[0].uid',
    /at least 0/,
  ],
  [
    "fractional gid",
    (d) => (d.subjects["svc.app"] = unix(undefined, 1.5)),
    'subjects["svc.app"].allOf[0].gid',
    /./,
  ],
  [
    "bad ed25519 signature key",
    (d) => (d.subjects.invoker.anyOf[0].public = "A".repeat(42)),
    "subjects.invoker.anyOf[0].public",
    /32 bytes/,
  ],
  [
    "bad nats signature key",
    (d) => (d.subjects.invoker.anyOf[1].public = "S" + "A".repeat(55)),
    "subjects.invoker.anyOf[1].public",
    /NKey/,
  ],
  ["duplicate rule id", (d) => (d.rules[1].id = "app-read"), "rules[1].id", /duplicate rule id/],
  ["blank rule id", (d) => (d.rules[1].id = " "), "rules[1].id", /blank/],
  ["rule without subjects", (d) => (d.rules[0].subjects = []), "rules[0].subjects", /empty/],
  [
    "rule with unknown subject",
    (d) => (d.rules[0].subjects = ["svc.app", "svc.ghost"]),
    "rules[0].subjects[1]",
    /unknown subject "svc.ghost"/,
  ],
  ["rule without action", (d) => (d.rules[0].action = []), "rules[0].action", /empty/],
  ["rule without target", (d) => (d.rules[0].target = []), "rules[0].target", /empty/],
  [
    "unknown role",
    (d) => (d.rules[0].action = ["role:writer"]),
    "rules[0].action[0]",
    /unknown role "writer"/,
  ],
  [
    "op:invoke is not an op",
    (d) => (d.rules[0].action = ["op:invoke"]),
    "rules[0].action[0]",
    /unknown op "invoke"/,
  ],
  ["bare op token", (d) => (d.rules[0].action = ["get"]), "rules[0].action[0]", /"op:<op>"/],
  ["** as an action", (d) => (d.rules[0].action = ["**"]), "rules[0].action[0]", /"\*"/],
  ["uppercase op", (d) => (d.rules[0].action = ["op:GET"]), "rules[0].action[0]", /unknown op/],
  ["empty op", (d) => (d.rules[0].action = ["op:"]), "rules[0].action[0]", /unknown op/],
  ["role with unknown op", (d) => (d.roles.reader = ["get", "peek"]), "roles.reader[1]", /peek/],
  ["empty role name", (d) => (d.roles[""] = ["get"]), 'roles[""]', /empty/],
  ["bad glob", (d) => (d.rules[0].target = ["app.x", "web*"]), "rules[0].target[1]", /segment/],
  ["empty glob", (d) => (d.rules[0].target = [""]), "rules[0].target[0]", /empty/],
  [
    "match-all * for a non-breakGlass subject",
    (d) => (d.rules[0].target = ["*"]),
    "rules[0].target[0]",
    /breakGlass/,
  ],
  [
    "match-all ** for a non-breakGlass subject",
    (d) => (d.rules[0].target = ["**"]),
    "rules[0].target[0]",
    /breakGlass/,
  ],
  [
    "match-all with one breakGlass and one normal subject",
    (d) => (d.rules[2].subjects = ["root", "svc.app"]),
    "rules[2].target[0]",
    /breakGlass/,
  ],
  [
    "non-numeric uid in names.users",
    (d) => (d.config.names.users = { alice: "alice" }),
    "config.names.users.alice",
    /bad key: must be a numeric id/,
  ],
  [
    "non-numeric uid in memberships",
    (d) => (d.config.memberships = { "1000x": [1] }),
    'config.memberships["1000x"]',
    /numeric id/,
  ],
  [
    "uid out of range in memberships",
    (d) => (d.config.memberships = { "4294967296": [1] }),
    'config.memberships["4294967296"]',
    /at most 4294967295/,
  ],
  [
    "gid out of range in memberships",
    (d) => (d.config.memberships = { "1": [4294967296] }),
    'config.memberships["1"][0]',
    /at most 4294967295/,
  ],
];

for (const [name, mutate, field, reason] of ERRORS) {
  Deno.test(`policy error: ${name}`, () => {
    const d = validPolicy();
    mutate(d);
    assertPolicyError(d, field, reason);
  });
}

Deno.test("unknown fields are rejected at every level", () => {
  const cases: [(d: Json) => void, string][] = [
    [(d) => (d.extra = 1), "(top level)"],
    [(d) => (d.subjects["svc.app"].domain = "host"), 'subjects["svc.app"]'],
    [(d) => (d.subjects["svc.app"].allOf[0].pid = 1), 'subjects["svc.app"].allOf[0]'],
    [(d) => (d.rules[0].effect = "deny"), "rules[0]"],
    [(d) => (d.config.extra = {}), "config"],
    [(d) => (d.config.names.hosts = {}), "config.names"],
  ];
  for (const [mutate, field] of cases) {
    const d = validPolicy();
    mutate(d);
    assertPolicyError(d, field, /unknown field/);
  }
});

Deno.test("duplicate JSON keys in subjects, roles and elsewhere are rejected", () => {
  assertPolicyError(
    `{"subjects": {"a": {"allOf": [{"kind": "unix", "uid": 1}]},
                   "a": {"allOf": [{"kind": "unix", "uid": 2}]}}}`,
    "subjects",
    /duplicate key "a"/,
  );
  assertPolicyError(
    `{"roles": {"r": ["get"], "r": ["set"]}}`,
    "roles",
    /duplicate key "r"/,
  );
  // A subject named "roles" before the real roles object must not hide a duplicate.
  assertPolicyError(
    `{"subjects": {"roles": {"allOf": [{"kind": "unix", "uid": 1}]}},
      "roles": {"r": ["get"], "r": ["set"]}}`,
    "roles",
    /duplicate key "r"/,
  );
  assertPolicyError(
    `{"rules": [{"id": "x", "subjects": [], "action": [], "target": ["a"], "target": ["b"]}]}`,
    "rules[0]",
    /duplicate key "target"/,
  );
  assertPolicyError(
    `{"config": {"memberships": {"1": [1], "1": [2]}}}`,
    "config.memberships",
    /duplicate key "1"/,
  );
});

Deno.test("malformed policy JSON names an offset", () => {
  assertPolicyError(`{"subjects": {"a": }`, "malformed JSON", /offset 19/);
});

Deno.test("admin ops and use_software_custody are valid op: terms and role entries", () => {
  const d = validPolicy();
  d.rules[0].action = [
    "op:reload",
    "op:explain",
    "op:revoke",
    "op:watch",
    "op:use_software_custody",
    "role:admin",
  ];
  const p = policy(d);
  assert.deepEqual(
    p.rules[0]!.actions.map((a) => [...a.ops]),
    [["reload"], ["explain"], ["revoke"], ["watch"], ["use_software_custody"], [
      "reload",
      "explain",
    ]],
  );
});

Deno.test("match-all targets are fine when every subject is breakGlass", () => {
  const d = validPolicy();
  d.subjects.root2 = { breakGlass: true, allOf: [{ kind: "unix", uid: 1 }] };
  d.rules[2].subjects = ["root", "root2"];
  d.rules[2].target = ["*", "**", "app.x"];
  const p = policy(d);
  assert.deepEqual(p.rules[2]!.targets.map((t) => t.matchesAll), [true, true, false]);
  // Prefix globs are not match-all and need no breakGlass.
  d.rules[0].target = ["app.**", "a.*"];
  policy(d);
});
