/**
 * The audit record (contract §7, `basil.audit.authz` v2): one per
 * authorization decision, allowed or denied, including callers that do not
 * resolve to a subject. Records name keys, subjects and callers; they never
 * carry payloads, plaintext, ciphertext, signatures, key bytes or tokens.
 *
 * `outcome` says what became of the request, not only of the decision:
 * `allow` only when the allowed operation succeeded, `deny` for every
 * denial, and for an allowed operation that then failed, its failure class
 * ({@linkcode FAILURE_CLASSES}).
 * @module
 */

/**
 * What an allowed operation that failed records as its outcome:
 * - `decrypt_failed`: a decrypt or unwrap did not authenticate;
 * - `invalid_request`: the request did not fit the key or was malformed
 *   past the point where it could be rejected before deciding;
 * - `payload_too_large`: a field over its configured cap;
 * - `backend_error` / `backend_unavailable`: the backend refused / could not
 *   be reached;
 * - `validation_failed`: a credential presented for validation did not
 *   validate (signature, audience, expiry, revocation);
 * - `unsupported`: the operation or algorithm is not available in this build;
 * - `failed_precondition`: the agent lacks what the operation needs (no
 *   revocation store, no trust bundle);
 * - `internal_error`: anything else, including key material missing from
 *   the backend and a refusal because the audit sink was failing;
 * - `cancelled`: the client went away before the result was delivered;
 * - `rate_limited`: the subject's rate limit (policy `rateLimits`) was
 *   exhausted, so the allowed operation was not run.
 */
export const FAILURE_CLASSES = [
  "decrypt_failed",
  "invalid_request",
  "payload_too_large",
  "backend_error",
  "backend_unavailable",
  "validation_failed",
  "unsupported",
  "failed_precondition",
  "internal_error",
  "cancelled",
  "rate_limited",
] as const;

/** The failure class of an allowed operation that failed. */
export type FailureClass = typeof FAILURE_CLASSES[number];

/** A record's `outcome`. */
export type Outcome = "allow" | "deny" | FailureClass;

/** Fields the broker supplies for one decision. */
export interface AuthzEvent {
  readonly generation: number;
  readonly op: string;
  /** `catalog_key` for key ops and admin targets (`broker.explain`). */
  readonly targetKind?: string;
  readonly targetId: string;
  /** The resolved subject, or undefined when the caller did not resolve. */
  readonly subject: string | undefined;
  /** `unix_peercred:<uid>`, or `unauthenticated:<subject>`. */
  readonly authenticatedBy: readonly string[];
  readonly presenterKind: "unix_peercred" | "none";
  /** `name(uid)`, `uid:N` or `unknown`. */
  readonly presenterId: string;
  readonly allow: boolean;
  /**
   * What became of the request. A denial is always `deny`; an allowed
   * decision is `allow` when the operation succeeded, `deny` when the request
   * was refused as a whole by another denial (an ImportSet entry), else the
   * failure class. Defaults to `allow`/`deny` from the decision.
   */
  readonly outcome?: Outcome;
  /** `subject:<name>`, `public_class`, `unknown_key`, `no_actor_subject:<uid>`, ... */
  readonly reason: string;
}

/** The JSON object written for an {@linkcode AuthzEvent}. */
export interface AuthzRecord {
  event_kind: "basil.audit.authz";
  event_version: 2;
  occurred_at: string;
  generation: number;
  op: string;
  target_kind: string;
  target_id: string;
  actor_kind: "subject";
  actor_id: string;
  authenticated_by: string[];
  presenter_kind: string;
  presenter_id: string;
  decision: "allow" | "deny";
  outcome: Outcome;
  reason: string;
}

/** Seconds-precision UTC timestamp, `YYYY-MM-DDThh:mm:ssZ`. */
export function auditTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Builds the record for an event. A denial's outcome is `deny` whatever `outcome` says. */
export function toAuthzRecord(e: AuthzEvent, now: Date): AuthzRecord {
  const d = e.allow ? "allow" : "deny";
  const outcome: Outcome = e.allow ? e.outcome ?? "allow" : "deny";
  return {
    event_kind: "basil.audit.authz",
    event_version: 2,
    occurred_at: auditTimestamp(now),
    generation: e.generation,
    op: e.op,
    target_kind: e.targetKind ?? "catalog_key",
    target_id: e.targetId,
    actor_kind: "subject",
    actor_id: e.subject ?? "unresolved",
    authenticated_by: [...e.authenticatedBy],
    presenter_kind: e.presenterKind,
    presenter_id: e.presenterId,
    decision: d,
    outcome,
    reason: e.reason,
  };
}
