/**
 * The audit record (contract §7, `basil.audit.authz` v2): one per
 * authorization decision, allowed or denied, including callers that do not
 * resolve to a subject. Records name keys, subjects and callers; they never
 * carry payloads, plaintext, ciphertext, signatures, key bytes or tokens.
 * @module
 */

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
   * Whether the operation went ahead; defaults to `allow`. Differs only for
   * an allowed entry of a set that was refused as a whole (ImportSet).
   */
  readonly outcome?: boolean;
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
  outcome: "allow" | "deny";
  reason: string;
}

/** Seconds-precision UTC timestamp, `YYYY-MM-DDThh:mm:ssZ`. */
export function auditTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Builds the record for an event. */
export function toAuthzRecord(e: AuthzEvent, now: Date): AuthzRecord {
  const d = e.allow ? "allow" : "deny";
  const outcome = (e.outcome ?? e.allow) ? "allow" : "deny";
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
