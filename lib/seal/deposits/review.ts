/**
 * Operator-facing lines for deposits (`bundle show --open`, `promote`):
 * status token, action (`new`: the backend id is not in the sealed
 * payload; `replace`: it is; `unknown`: the record cannot be applied) and
 * the non-secret fingerprint.
 *
 * Invariants: only plaintext metadata, status tokens and fingerprints; never
 * a credential field. The metadata is unauthenticated (anyone who can write
 * the bundle can append a record), so its strings are escaped with
 * {@linkcode printable} before they reach a terminal.
 * @module
 */

import type { DepositRecord } from "../format.ts";
import { printable } from "../printable.ts";
import type { DepositReview } from "./evaluate.ts";

/** What applying a deposit would do. */
export type DepositAction = "new" | "replace" | "unknown";

/** The action for a reviewed record. */
export function depositAction(r: DepositReview, sealedIds: ReadonlySet<string>): DepositAction {
  if (r.status !== "effective" && r.status !== "superseded") return "unknown";
  return sealedIds.has(r.record.backend_id) ? "replace" : "new";
}

/** A deposit's plaintext metadata. */
export type DepositMeta = Pick<
  DepositRecord,
  "backend_id" | "contributor_key_id" | "epoch" | "seq"
>;

/** `backend=…, contributor=…, epoch=…, seq=…` (plaintext metadata only, escaped). */
export function depositMeta(d: DepositMeta): string {
  return `backend=${printable(d.backend_id)}, contributor=${
    printable(d.contributor_key_id)
  }, epoch=${d.epoch}, seq=${d.seq}`;
}

/** One review line. */
export function reviewLine(r: DepositReview, sealedIds: ReadonlySet<string>): string {
  const fp = r.fingerprint === undefined ? "" : `, fingerprint=${r.fingerprint}`;
  return `deposit: ${depositMeta(r.record)}, status=${r.status}, action=${
    depositAction(r, sealedIds)
  }${fp}`;
}
