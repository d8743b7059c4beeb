/**
 * Verifies an audit file's hash chain (lib/audit/chain.ts): the file begins
 * with a chain start record, every line is a complete JSON record whose
 * `seq` is one more than the line before it and whose `prev` is the SHA-256
 * of that line's exact bytes, and the file ends in a newline. The first line
 * that breaks a rule is named (1-based) with the reason.
 *
 * What the chain alone cannot show: an edit of the file's last line, or
 * whole records cut from its end. The next file's start record links to the
 * last line (pass its `prev` as `previousLastHash` when verifying that file,
 * or keep the `lastHash` a verification returns and compare it later).
 * @module
 */

import { CHAIN_START_KIND, lineHash } from "./chain.ts";

/** The result of verifying one audit file. */
export interface AuditVerification {
  /** The whole file verified. */
  readonly ok: boolean;
  /** Complete, verified records before the first bad line (all of them when ok). */
  readonly records: number;
  /** `sha256:<hex>` of the last verified line: what the next file's start record must link to. */
  readonly lastHash?: string;
  /** The first bad line, 1-based (when not ok). */
  readonly line?: number;
  /** Why that line is bad (when not ok). */
  readonly reason?: string;
}

/** Options of {@linkcode verifyAuditLog}. */
export interface VerifyOptions {
  /** The previous file's `lastHash`: this file's first record must link to it. */
  readonly previousLastHash?: string;
}

const NEWLINE = 0x0a;
const HASH = /^sha256:[0-9a-f]{64}$/;
const decoder = new TextDecoder("utf-8", { fatal: true });

interface Line {
  readonly seq: number;
  readonly prev: string | null;
  readonly kind: unknown;
}

/** Parses one line's chain fields, or says why it has none. */
function parseLine(bytes: Uint8Array): Line | string {
  if (bytes.length === 0) return "empty line";
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(bytes));
  } catch {
    return "not a JSON record (edited, or a torn write)";
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "not a JSON object";
  const r = v as Record<string, unknown>;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 0) {
    return 'no valid "seq" (not a chained record)';
  }
  if (r.prev !== null && !(typeof r.prev === "string" && HASH.test(r.prev))) {
    return 'no valid "prev" (not a chained record)';
  }
  return { seq: r.seq as number, prev: r.prev as string | null, kind: r.event_kind };
}

/** Verifies the bytes of one audit file. */
export function verifyAuditLog(text: Uint8Array, options: VerifyOptions = {}): AuditVerification {
  const bad = (line: number, records: number, lastHash: string | undefined, reason: string) => ({
    ok: false,
    records,
    ...(lastHash === undefined ? {} : { lastHash }),
    line,
    reason,
  });
  if (text.length === 0) return bad(1, 0, undefined, "empty file: no chain start record");
  let start = 0;
  let n = 0;
  let prevHash: string | undefined;
  let prevSeq = -1;
  while (start < text.length) {
    const end = text.indexOf(NEWLINE, start);
    const lineNo = n + 1;
    if (end < 0) {
      return bad(lineNo, n, prevHash, "truncated: the last line has no newline (a torn write)");
    }
    const bytes = text.subarray(start, end);
    const parsed = parseLine(bytes);
    if (typeof parsed === "string") return bad(lineNo, n, prevHash, parsed);
    if (n === 0) {
      if (parsed.kind !== CHAIN_START_KIND) {
        return bad(
          1,
          0,
          undefined,
          "the file does not begin with a chain start record (records cut from its start?)",
        );
      }
      const want = options.previousLastHash;
      if (want !== undefined && parsed.prev !== want) {
        return bad(
          1,
          0,
          undefined,
          `the start record does not link to the previous file's last record (prev ${parsed.prev}, expected ${want})`,
        );
      }
    } else {
      if (parsed.seq !== prevSeq + 1) {
        const why = parsed.seq > prevSeq + 1
          ? `${
            parsed.seq - prevSeq - 1
          } record(s) missing before it (seq ${prevSeq} then ${parsed.seq})`
          : `out of order (seq ${parsed.seq} after ${prevSeq})`;
        return bad(lineNo, n, prevHash, why);
      }
      if (parsed.prev !== prevHash) {
        // The line before no longer hashes to what this line recorded: the
        // line before was edited (or this line's `prev` was).
        return bad(
          n,
          n - 1,
          undefined,
          `edited: its hash does not match the "prev" recorded by line ${lineNo}`,
        );
      }
    }
    prevHash = lineHash(bytes);
    prevSeq = parsed.seq;
    n++;
    start = end + 1;
  }
  return { ok: true, records: n, ...(prevHash === undefined ? {} : { lastHash: prevHash }) };
}

/** Reads and verifies one audit file. A read failure throws (the caller reports it). */
export async function verifyAuditFile(
  path: string,
  options: VerifyOptions = {},
): Promise<AuditVerification> {
  return verifyAuditLog(await Deno.readFile(path), options);
}
