/** The policy's `rateLimits` section: what loads, and errors that name the field. */

import assert from "node:assert/strict";
import { InputError } from "../../../lib/core/errors.ts";
import { loadPolicy } from "../../../lib/policy/load.ts";
import { limitsFor, rateClassOf } from "../../../lib/policy/rate_limits.ts";

function policy(rateLimits: unknown): string {
  return JSON.stringify({
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid: 1000 }] } },
    rules: [],
    rateLimits,
  });
}

function loadError(rateLimits: unknown): string {
  try {
    loadPolicy(policy(rateLimits), "policy.json");
  } catch (e) {
    assert.ok(e instanceof InputError);
    assert.equal(e.token, "policy_invalid");
    return e.message;
  }
  throw new Error("loaded");
}

Deno.test("rateLimits loads per subject and default, classes included", () => {
  const p = loadPolicy(
    policy({
      default: { perSecond: 10, burst: 20 },
      subjects: {
        app: { perSecond: 0.5, burst: 2, classes: { mint: { perSecond: 1, burst: 1 } } },
      },
    }),
    "policy.json",
  );
  const app = limitsFor(p.rateLimits, "app")!;
  assert.deepEqual(app.all, { perSecond: 0.5, burst: 2 });
  assert.deepEqual(app.classes.get("mint"), { perSecond: 1, burst: 1 });
  assert.deepEqual(limitsFor(p.rateLimits, "other")!.all, { perSecond: 10, burst: 20 });
  assert.equal(loadPolicy(policy(undefined), "policy.json").rateLimits, undefined);
});

Deno.test("bad rateLimits name the field", () => {
  const cases: [unknown, RegExp][] = [
    [
      { subjects: { ghost: { perSecond: 1, burst: 1 } } },
      /rateLimits\.subjects\.ghost: unknown subject "ghost"/,
    ],
    [
      { subjects: { app: { perSecond: 1 } } },
      /rateLimits\.subjects\.app\.burst: "perSecond" and "burst" must be given together/,
    ],
    [{ default: { burst: 1 } }, /rateLimits\.default\.perSecond:/],
    [{ default: { perSecond: 0, burst: 1 } }, /rateLimits\.default\.perSecond:/],
    [{ default: { perSecond: 1, burst: 1.5 } }, /rateLimits\.default\.burst:/],
    [{ default: { perSecond: 1, burst: 0 } }, /rateLimits\.default\.burst: must be at least 1/],
    [
      { default: { classes: { bogus: { perSecond: 1, burst: 1 } } } },
      /rateLimits\.default\.classes/,
    ],
    [
      { default: { classes: { read: { perSecond: 1 } } } },
      /rateLimits\.default\.classes\.read\.burst: required field is missing/,
    ],
    [{ defaults: {} }, /rateLimits: unknown field "defaults"/],
  ];
  for (const [doc, want] of cases) assert.match(loadError(doc), want);
});

Deno.test("every op has a class", () => {
  assert.equal(rateClassOf("get"), "read");
  assert.equal(rateClassOf("sign"), "crypto");
  assert.equal(rateClassOf("mint"), "mint");
  assert.equal(rateClassOf("set"), "write");
  assert.equal(rateClassOf("explain"), "admin");
  assert.equal(rateClassOf("fetch_x509_bundles"), "read");
});
