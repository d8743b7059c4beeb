/**
 * The reload audit line (contract §7, `basil.audit.reload` v1): one per
 * reload attempt, SIGHUP or RPC, applied, checked or rejected. It names who
 * asked, the generations and the outcome; the rejection's reason token, never
 * file contents.
 * @module
 */

import { auditTimestamp } from "../audit/record.ts";

/** Who asked for a reload. */
export type ReloadActor =
  | { readonly kind: "signal"; readonly id: "SIGHUP" }
  | { readonly kind: "unix_uid"; readonly id: string };

/** A reload line's outcome. */
export type ReloadOutcome = "applied" | "checked" | "rejected" | "revocation_refresh_failed";

/** The JSON object written for one reload. */
export interface ReloadRecord {
  event: { kind: "basil.audit.reload"; version: 1 };
  occurred_at: string;
  actor: { kind: ReloadActor["kind"]; id: string };
  previous_generation: number;
  /** The generation serving after the attempt (unchanged unless applied). */
  generation: number;
  outcome: ReloadOutcome;
  /** `ok`, or the rejection reason (`routing_shape_changed`, ...). */
  reason: string;
}

/** Builds a reload line. */
export function reloadRecord(
  actor: ReloadActor,
  previous: number,
  generation: number,
  outcome: ReloadOutcome,
  reason: string,
  now: Date,
): ReloadRecord {
  return {
    event: { kind: "basil.audit.reload", version: 1 },
    occurred_at: auditTimestamp(now),
    actor: { kind: actor.kind, id: actor.id },
    previous_generation: previous,
    generation,
    outcome,
    reason,
  };
}
