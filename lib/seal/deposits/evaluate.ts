/**
 * Judging the deposit log against an opened payload (contract §6): which
 * record, if any, overlays each backend id.
 *
 * Rules, in order, each giving a status token:
 * - records past the first {@linkcode MAX_DEPOSITS} → `log-too-large`;
 * - no ingest private key in the payload → `missing-ingest-identity`;
 * - record epoch ≠ bundle epoch → `stale-epoch`;
 * - contributor id not allow-listed → `unauthorized-contributor`;
 * - backend id not allowed for that contributor → `unauthorized-backend`;
 * - Ed25519 signature (allow-listed key) fails → `bad-signature`;
 * - sealed box does not open → `decrypt-failed`; credential JSON does not
 *   decode → `decode-failed`.
 * The valid rest: the highest seq per (contributor, backend), then the
 * highest seq per backend is `effective` (a tie goes to the record appended
 * later); every other valid record is `superseded`.
 *
 * Invariants: never throws on record content; credentials of non-effective
 * records are wiped before returning; the caller wipes the effective ones
 * (via {@linkcode wipeReviews}).
 * @module
 */

import { decodeBase64Url } from "../../core/encoding.ts";
import { type BackendCred, wipeCred } from "../creds.ts";
import type { DecodedBundle, DepositRecord } from "../format.ts";
import type { DepositMaterial } from "../payload.ts";
import { credFingerprint } from "./fingerprint.ts";
import { ingestPublicKey } from "./keys.ts";
import { depositSignatureValid, openDepositCred } from "./record.ts";

/** At most this many records are processed. */
export const MAX_DEPOSITS = 1024;

/** A deposit's status token. */
export type DepositStatus =
  | "effective"
  | "superseded"
  | "missing-ingest-identity"
  | "unauthorized-contributor"
  | "unauthorized-backend"
  | "stale-epoch"
  | "bad-signature"
  | "decrypt-failed"
  | "decode-failed"
  | "log-too-large";

/** One record's verdict. */
export interface DepositReview {
  /** Position in the file's `deposits` array. */
  readonly index: number;
  readonly record: DepositRecord;
  readonly status: DepositStatus;
  /** The credential, for `effective` records only (caller wipes). */
  cred?: BackendCred;
  /** Non-secret fingerprint, for valid (effective or superseded) records. */
  readonly fingerprint?: string;
}

interface Valid {
  index: number;
  record: DepositRecord;
  cred: BackendCred;
  fingerprint: string;
}

function verdict(
  r: DepositRecord,
  bundle: DecodedBundle,
  deposit: DepositMaterial,
  ingestPub: Uint8Array | undefined,
): Omit<Valid, "index" | "record"> | DepositStatus {
  if (deposit.ingestPrivateKey === undefined || ingestPub === undefined) {
    return "missing-ingest-identity";
  }
  if (r.epoch !== bundle.header.epoch) return "stale-epoch";
  const who = deposit.contributors.get(r.contributor_key_id);
  if (who === undefined) return "unauthorized-contributor";
  if (!who.allowed_backend_ids.includes(r.backend_id)) return "unauthorized-backend";
  const pub = decodeBase64Url(who.public_key);
  if (pub === undefined || pub.length !== 32 || !depositSignatureValid(r, pub)) {
    return "bad-signature";
  }
  const opened = openDepositCred(
    r,
    bundle.header.bundle_id,
    deposit.ingestPrivateKey.expose(),
    ingestPub,
  );
  if (!opened.ok) return opened.status;
  try {
    return { cred: opened.cred, fingerprint: credFingerprint(opened.cred, opened.json) };
  } finally {
    opened.json.fill(0);
  }
}

function ingestPub(deposit: DepositMaterial): Uint8Array | undefined {
  if (deposit.ingestPrivateKey === undefined) return undefined;
  try {
    return ingestPublicKey(deposit.ingestPrivateKey);
  } catch {
    return undefined;
  }
}

/** Reviews every deposit record of `bundle` against the opened deposit material. */
export function evaluateDeposits(
  bundle: DecodedBundle,
  deposit: DepositMaterial,
): DepositReview[] {
  const pub = ingestPub(deposit);
  const reviews: DepositReview[] = [];
  const valid: Valid[] = [];
  bundle.deposits.forEach((record, index) => {
    if (index >= MAX_DEPOSITS) {
      reviews.push({ index, record, status: "log-too-large" });
      return;
    }
    const v = verdict(record, bundle, deposit, pub);
    if (typeof v === "string") reviews.push({ index, record, status: v });
    else valid.push({ index, record, ...v });
  });
  const newest = (pick: Map<string, Valid>, key: string, v: Valid) => {
    const cur = pick.get(key);
    if (cur === undefined || v.record.seq >= cur.record.seq) pick.set(key, v);
  };
  const perPair = new Map<string, Valid>();
  for (const v of valid) {
    newest(perPair, JSON.stringify([v.record.contributor_key_id, v.record.backend_id]), v);
  }
  const perBackend = new Map<string, Valid>();
  for (const v of [...perPair.values()].sort((a, b) => a.index - b.index)) {
    newest(perBackend, v.record.backend_id, v);
  }
  const winners = new Set(perBackend.values());
  for (const v of valid) {
    const effective = winners.has(v);
    if (!effective) wipeCred(v.cred);
    reviews.push({
      index: v.index,
      record: v.record,
      status: effective ? "effective" : "superseded",
      fingerprint: v.fingerprint,
      ...(effective ? { cred: v.cred } : {}),
    });
  }
  return reviews.sort((a, b) => a.index - b.index);
}

/** Wipes every credential still held by `reviews`. */
export function wipeReviews(reviews: readonly DepositReview[]): void {
  for (const r of reviews) {
    if (r.cred !== undefined) wipeCred(r.cred);
    r.cred = undefined;
  }
}
