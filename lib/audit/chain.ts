/**
 * The audit log's hash chain. Every line of an audit file carries two fields
 * besides its record's own:
 *
 * - `seq`: the record's number, one more than the line before it (it
 *   continues across restarts and rotated files);
 * - `prev`: `sha256:<hex>` of the exact bytes of the line before it (without
 *   its newline), or, on a file's first line, of the last line of the file
 *   before it (`null` when the agent knows of none).
 *
 * Every time the agent opens the file (start, SIGHUP reopen) it first writes
 * a start record ({@linkcode CHAIN_START_KIND}), so a file always begins with
 * one and a rotated file's first line links to the last line of the file it
 * replaced. Editing, deleting, reordering or truncating a line breaks the
 * chain at that line (lib/audit/verify.ts).
 * @module
 */

import { createHash } from "node:crypto";
import { auditTimestamp } from "./record.ts";

/** `event_kind` of the record written each time the audit file is opened. */
export const CHAIN_START_KIND = "basil.audit.chain_start";

/** Why a chain start record was written. */
export type ChainStartReason = "start" | "reopen";

/** Where the chain stands: the last written line's number and hash. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** `sha256:<hex>` of one line's bytes (without its newline). */
export function lineHash(line: Uint8Array): string {
  return `sha256:${createHash("sha256").update(line).digest("hex")}`;
}

/** The start record written when the file is opened (the sink adds `seq` and `prev`). */
export function chainStartRecord(reason: ChainStartReason, now: Date): object {
  return {
    event_kind: CHAIN_START_KIND,
    event_version: 1,
    occurred_at: auditTimestamp(now),
    reason,
  };
}

/** `record` with its chain fields, as one JSON line (no newline). */
export function chainedLine(record: object, seq: number, prev: string | null): string {
  return JSON.stringify({ ...record, seq, prev });
}

const NEWLINE = 0x0a;
const TAIL_CHUNK = 64 * 1024;

/** What the end of an existing audit file says about the chain. */
export interface FileTail {
  /** The last complete line's chain head; undefined for an empty file. */
  readonly head: ChainHead | undefined;
  /** The file does not end in a newline (a torn last write). */
  readonly torn: boolean;
}

/**
 * Reads the last complete line of an open file (from its end, in chunks)
 * and returns its hash and `seq`. A line without a numeric `seq` (a file
 * written before chaining, or a torn line) continues the chain at seq 0.
 */
export function readTail(f: Deno.FsFile): FileTail {
  const size = f.statSync().size;
  if (size === 0) return { head: undefined, torn: false };
  const last = readRange(f, size - 1, 1)[0];
  const torn = last !== NEWLINE;
  // The last complete line ends at the last newline.
  let end = size;
  if (torn) {
    end = lastNewlineBefore(f, size);
    if (end < 0) return { head: undefined, torn };
    end += 1;
  }
  const start = lastNewlineBefore(f, end - 1) + 1;
  const line = readRange(f, start, end - 1 - start);
  return { head: { seq: seqOf(line), hash: lineHash(line) }, torn };
}

function seqOf(line: Uint8Array): number {
  try {
    const v = JSON.parse(new TextDecoder().decode(line))?.seq;
    return Number.isSafeInteger(v) && v >= 0 ? v : 0;
  } catch {
    return 0;
  }
}

/** Offset of the last newline before `end`, or -1. */
function lastNewlineBefore(f: Deno.FsFile, end: number): number {
  let hi = end;
  while (hi > 0) {
    const lo = Math.max(0, hi - TAIL_CHUNK);
    const chunk = readRange(f, lo, hi - lo);
    const i = chunk.lastIndexOf(NEWLINE);
    if (i >= 0) return lo + i;
    hi = lo;
  }
  return -1;
}

function readRange(f: Deno.FsFile, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  f.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = f.readSync(buf.subarray(got));
    if (n === null || n === 0) throw new Deno.errors.UnexpectedEof("audit file shrank while read");
    got += n;
  }
  return buf;
}
