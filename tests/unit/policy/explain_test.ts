/**
 * Explain rendering (contract §3.5): the JSON single-tuple shape and the two
 * human lines, for rule allows, public-class allows and each deny reason.
 */

import assert from "node:assert/strict";
import { explainJson, explainText } from "../../../lib/policy/explain.ts";
import { decide } from "../../../lib/policy/pdp.ts";
import { catalog, policy, unix } from "./helpers.ts";

const CAT = catalog({
  "app.x": {},
  "app.locked": { writable: false },
  "nats.op": { class: "asymmetric", labels: ["nats_type=O"] },
  "web.ca": { class: "public" },
});
const POL = policy({
  subjects: { app: unix(990), other: unix(991) },
  rules: [{ id: "app-get", subjects: ["app"], action: ["op:get"], target: ["app.*"] }],
});

const ex = (subject: string, op: "get" | "set" | "sign", key: string) =>
  explainJson(
    subject,
    op,
    key,
    decide(CAT, POL, POL.subjects.has(subject) ? subject : undefined, op, key),
  );

Deno.test("explain JSON: rule allow carries via and the matched rule", () => {
  assert.deepEqual(ex("app", "get", "app.x"), {
    subject: "app",
    op: "get",
    key: "app.x",
    decision: "allow",
    via: "subject:app",
    matched_rule: {
      rule: "app-get",
      via: "subject:app",
      subject: "app",
      action: "op:get",
      target: "app.*",
    },
  });
});

Deno.test("explain JSON: public-class allow has via public_class and no rule", () => {
  assert.deepEqual(ex("other", "get", "web.ca"), {
    subject: "other",
    op: "get",
    key: "web.ca",
    decision: "allow",
    via: "public_class",
    matched_rule: null,
  });
});

Deno.test("explain JSON: each deny reason, matched_rule null, no via", () => {
  const cases: [string, "get" | "set" | "sign", string, string][] = [
    ["app", "get", "no.key", "unknown_key"],
    ["app", "set", "app.locked", "not_writable"],
    ["app", "sign", "nats.op", "issuer_raw_sign"],
    ["app", "set", "app.x", "not_permitted"],
    // An unregistered subject is evaluated without an actor.
    ["ghost", "get", "web.ca", "not_permitted"],
    ["ghost", "get", "no.key", "unknown_key"],
  ];
  for (const [subject, op, key, reason] of cases) {
    const j = ex(subject, op, key);
    assert.deepEqual(j, { subject, op, key, decision: "deny", matched_rule: null, reason });
    assert.ok(!("via" in j));
  }
});

Deno.test("explain text: ALLOW line plus the matched subject, rule, action and target", () => {
  assert.equal(
    explainText(ex("app", "get", "app.x")),
    "ALLOW  subject app  get  app.x  (via subject:app)\n" +
      "    matched subject app by rule app-get (action op:get, target app.*)",
  );
  const pub = explainText(ex("other", "get", "web.ca")).split("\n");
  assert.equal(pub[0], "ALLOW  subject other  get  web.ca  (via public_class)");
  assert.match(pub[1]!, /^ {4}.*class public/);
});

Deno.test("explain text: live JSON without matched_rule.subject falls back to the subject", () => {
  const j = ex("app", "get", "app.x");
  const { subject: _drop, ...live } = j.matched_rule!;
  const text = explainText({ ...j, matched_rule: live });
  assert.match(text.split("\n")[1]!, /matched subject app by rule app-get/);
});

Deno.test("explain text: DENY line with the reason, then an explanation sentence", () => {
  const cases: [string, "get" | "set" | "sign", string, string, RegExp][] = [
    ["app", "get", "no.key", "unknown_key", /not in the catalog/],
    ["app", "set", "app.locked", "not_writable", /writable: false/],
    ["app", "sign", "nats.op", "issuer_raw_sign", /credential issuer/],
    ["app", "set", "app.x", "not_permitted", /default deny/],
  ];
  for (const [subject, op, key, reason, sentence] of cases) {
    const [head, why, ...rest] = explainText(ex(subject, op, key)).split("\n");
    assert.equal(head, `DENY   subject ${subject}  ${op}  ${key}  (${reason})`);
    assert.match(why!, /^ {4}\S/);
    assert.match(why!, sentence);
    assert.deepEqual(rest, []);
  }
});
