/**
 * The outcome vocabulary: every broker error code maps to a documented
 * failure class (or `deny`), a denial's record always says `deny`, and an
 * allowed decision says `allow` only when told the operation succeeded.
 */

import assert from "node:assert/strict";
import { failureOutcome } from "../../../lib/audit/outcome.ts";
import { FAILURE_CLASSES, toAuthzRecord } from "../../../lib/audit/record.ts";
import type { AuthzEvent } from "../../../lib/audit/record.ts";
import { BasilError } from "../../../lib/core/errors.ts";
import type { BasilErrorCode } from "../../../lib/core/errors.ts";

/** Every code, checked complete by the type: a new code must be added here. */
const CODES = {
  UNAUTHENTICATED: true,
  UNAUTHORIZED: true,
  INVALID_REQUEST: true,
  INVALID_ARGUMENT: true,
  DECRYPT_FAILED: true,
  PAYLOAD_TOO_LARGE: true,
  UNSUPPORTED: true,
  UNSUPPORTED_ALGORITHM: true,
  BACKEND_UNAVAILABLE: true,
  BACKEND_ERROR: true,
  INTERNAL: true,
  NO_REVOCATION_STORE: true,
  INVOCATION_DISABLED: true,
  FAILED_PRECONDITION: true,
  DATA_LOSS: true,
  RATE_LIMITED: true,
} satisfies Record<BasilErrorCode, true>;

Deno.test("every error code maps to a failure class or deny", () => {
  const allowed = new Set<string>([...FAILURE_CLASSES, "deny"]);
  const codes = Object.keys(CODES) as BasilErrorCode[];
  for (const code of codes) {
    const o = failureOutcome(new BasilError(code), false, "invalid_request");
    assert.ok(allowed.has(o), `${code} → ${o}`);
    assert.notEqual(o, "allow", code);
  }
  assert.equal(failureOutcome(new BasilError("UNAUTHORIZED"), false, "invalid_request"), "deny");
  assert.equal(
    failureOutcome(new BasilError("INVALID_ARGUMENT"), false, "validation_failed"),
    "validation_failed",
  );
  assert.equal(failureOutcome(new RangeError("x"), false, "invalid_request"), "internal_error");
  assert.equal(failureOutcome(new RangeError("x"), true, "invalid_request"), "cancelled");
});

Deno.test("a denial's record says deny whatever outcome it is given", () => {
  const e: AuthzEvent = {
    generation: 1,
    op: "get",
    targetId: "app.x",
    subject: "app",
    authenticatedBy: ["unix_peercred:1"],
    presenterKind: "unix_peercred",
    presenterId: "uid:1",
    allow: false,
    outcome: "allow",
    reason: "not_permitted",
  };
  const now = new Date("2030-01-02T03:04:05.678Z");
  assert.deepEqual(
    [toAuthzRecord(e, now).decision, toAuthzRecord(e, now).outcome],
    ["deny", "deny"],
  );
  const allowed = toAuthzRecord({ ...e, allow: true, outcome: "decrypt_failed" }, now);
  assert.deepEqual([allowed.decision, allowed.outcome], ["allow", "decrypt_failed"]);
  assert.equal(allowed.occurred_at, "2030-01-02T03:04:05Z");
});
